"""Fidelity on traces nobody here wrote: replay against the copies, per corpus, per tool, with an
ablation of every replay part, and the replay step's latency against a dict-lookup floor.

Each corpus (the three examples, and every `*.otel.jsonl` in ../shared/corpora/) is cut into
`--folds` parts by a stable hash of the trace id. Each part is held out in turn: the rest is
written to a trace file and built with the default config, as `wmh build --file TRAIN` would;
then every held-out trace's recorded actions are stepped through `WorldModel.step`, one session
per trace, so the history holds the model's own answers (closed loop). The same steps are also
scored with the recorded history (open loop), by `action_copy` (the recorded call most alike in
name and arguments by character 3-4-grams, over the same training traces: the bar to clear),
`nn_copy` and `most_frequent`, and by the replay model with each of its parts switched off.
`best_of_10` is a ceiling, not a model: per step, the better of the replay model's answer and
each of the 10 recordings nearest in name and arguments (their values adapted), as one that knew
the recorded answer would choose; what a better choice among the retrieved answers could reach.
Scores are the structural judge's (JSON leaf by leaf, text by token F1, the error flag 20%).

    python bench/bench_fidelity.py                       # table, bench/results/fidelity.json
    python bench/bench_fidelity.py --folds 3 --corpora path/to/dir --no-mlflow
    python bench/bench_fidelity.py --rename s1 --out bench/results/fidelity-s1.json   # spread
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from wmh.config.compose import compose_config, to_settings  # noqa: E402
from wmh.core.canonical import short_hash, stable_unit_interval  # noqa: E402
from wmh.core.types import Observation, Trace  # noqa: E402
from wmh.engine.adapt import adapt_observation  # noqa: E402
from wmh.engine.policy import COMPONENTS  # noqa: E402
from wmh.engine.predictor import PredictionContext, Predictor, context_query  # noqa: E402
from wmh.ingest.reader import read_traces  # noqa: E402
from wmh.pipeline.build import build_world_model  # noqa: E402
from wmh.retrieval.retriever import Retriever  # noqa: E402
from wmh.retrieval.text import route_of  # noqa: E402
from wmh.scoring.baselines import (  # noqa: E402
    ActionCopy,
    MostFrequentObservation,
    NearestNeighbourCopy,
)
from wmh.scoring.judges import StructuralJudge  # noqa: E402
from wmh.scoring.runner import LoopMode, evaluate_traces  # noqa: E402
from wmh.store.loader import load_world_model  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpora"
BASELINES = ("action_copy", "nn_copy", "most_frequent")
BEST_OF = 10  # the nearest recordings `best_of_nearest` chooses among


def corpora(extra: Path | None) -> list[tuple[str, str, Path]]:
    """(group, name, file): the examples, then every corpus of the shared folder."""
    found = [
        ("example", path.parent.name, path)
        for path in sorted((ROOT / "examples").glob("*/traces.otel.jsonl"))
    ]
    folder = extra or SHARED
    if folder.is_dir():
        for path in sorted(folder.glob("*.otel.jsonl")):
            found.append(("shared", path.name.split(".")[0], path))
    else:
        print(f"(no {folder}: only the examples are measured)")
    return found


def fold_of(trace_id: str, folds: int) -> int:
    return int(stable_unit_interval(trace_id, "bench-fold") * folds)


def write_subset(source: Path, target: Path, keep: set[str], rename: str = "") -> None:
    """The OTLP exports of `source` with only the spans of the `keep` traces; with `rename`, each
    trace id replaced by a hash of it salted with `rename` (the build then holds out other
    traces of its own and indexes them in another order)."""
    with source.open("rb") as lines, target.open("wb") as out:
        for line in lines:
            if not line.strip():
                continue
            export = orjson.loads(line)
            kept_any = False
            for resource in export.get("resourceSpans", []):
                for scope in resource.get("scopeSpans", []):
                    scope["spans"] = [s for s in scope.get("spans", []) if s["traceId"] in keep]
                    if rename:
                        for span in scope["spans"]:
                            span["traceId"] = short_hash(f"{rename}:{span['traceId']}", 32)
                    kept_any = kept_any or bool(scope["spans"])
            if kept_any:
                out.write(orjson.dumps(export) + b"\n")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Tally:
    """Scores per predictor, overall and per tool."""

    def __init__(self) -> None:
        self.scores: dict[str, list[float]] = defaultdict(list)
        self.tools: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    def add(self, name: str, tool: str, score: float) -> None:
        self.scores[name].append(score)
        self.tools[tool][name].append(score)

    def mean(self, name: str) -> float:
        values = self.scores[name]
        return round(sum(values) / len(values), 4) if values else float("nan")


def best_of_nearest(
    retriever: Retriever,
    context: PredictionContext,
    answered: float,
    truth: Observation,
    judge,
    k: int = BEST_OF,
) -> float:
    """The best score among the model's answer (`answered`) and the answers of the `k`
    recordings nearest in name and arguments, each with its values adapted to the call: the
    ceiling of choosing among what retrieval finds (it looks at the recorded answer)."""
    action = context.action
    best = answered
    for neighbour in retriever.neighbours(context_query(context), k):
        recorded = neighbour.step
        content, _ = adapt_observation(
            recorded.observation.content, recorded.action.arguments, action.arguments
        )
        guess = recorded.observation.model_copy(update={"content": content})
        best = max(best, judge.judge(guess, truth).score)
    return best


def step_closed_loop(wm, traces: list[Trace], judge, baselines: list[Predictor], tally, timing):
    """Every held-out trace through `WorldModel.step`, one session each; copies on the side."""
    floor_table: dict[str, Observation] = {}
    for trace in traces:
        session = wm.new_session(task=trace.task)
        for step in trace.steps:
            # The session as the step finds it, for the copies, which answer after it: run
            # first, their searches would leave the model's caches warm for its step.
            before = wm.session(session.id)
            context = PredictionContext(
                before.model_copy(update={"history": list(before.history)}), step.action
            )
            started = time.perf_counter()
            observation = wm.step(session.id, step.action)
            timing["step"].append((time.perf_counter() - started) * 1000)
            score = judge.judge(observation, step.observation).score
            tally.add("replay", route_of(step.action), score)
            best = best_of_nearest(wm.retriever, context, score, step.observation, judge)
            tally.add("best_of_10", route_of(step.action), best)
            for baseline in baselines:
                guess = baseline.predict(context)
                tally.add(
                    baseline.name, route_of(step.action), judge.judge(guess, step.observation).score
                )
            floor_table[step.action.key()] = step.observation
        wm.close_session(session.id)
    keys = list(floor_table)
    for i in range(len(timing["step"])):
        key = keys[i % len(keys)]
        started = time.perf_counter()
        floor_table[key].model_copy()
        timing["floor"].append((time.perf_counter() - started) * 1000)


def measure_corpus(path: Path, folds: int, work: Path, rename: str = "") -> dict:
    traces = read_traces([path]).traces
    judge = StructuralJudge()
    tally = Tally()
    timing: dict[str, list[float]] = defaultdict(list)
    fits: list[dict] = []
    for fold in range(folds):
        held = [t for t in traces if fold_of(t.trace_id, folds) == fold]
        if not held:
            continue
        keep = {t.trace_id for t in traces} - {t.trace_id for t in held}
        train_file = work / f"{path.stem}-{fold}.train.jsonl"
        write_subset(path, train_file, keep, rename)
        name = f"bench-{fold}"
        settings = to_settings(
            compose_config(
                [f"name={name}", f"root={work}", f"data.files=[{train_file}]", "track=false"]
            )
        )
        built = build_world_model(settings)
        fits.append(built.card.replay_fit.model_dump(mode="json"))
        wm, _ = load_world_model(built.path)
        baselines: list[Predictor] = [
            ActionCopy(wm.retriever),
            NearestNeighbourCopy(wm.retriever),
            MostFrequentObservation(wm.retriever),
        ]
        step_closed_loop(wm, held, judge, baselines, tally, timing)
        replay = wm.predictor
        open_loop = evaluate_traces(name, replay, held, judge, mode=LoopMode.OPEN)
        for result in open_loop.steps:
            tally.add("replay_open_loop", result.tool, result.score)
        for component in COMPONENTS:
            ablated = replay.with_policies(replay.policies.without(component))
            report = evaluate_traces(name, ablated, held, judge, mode=LoopMode.CLOSED)
            for result in report.steps:
                tally.add(f"without_{component}", result.tool, result.score)
    return {
        "steps": len(tally.scores["replay"]),
        "traces": len(traces),
        "replay": tally.mean("replay"),
        "replay_open_loop": tally.mean("replay_open_loop"),
        **{name: tally.mean(name) for name in BASELINES},
        "best_of_10": tally.mean("best_of_10"),
        "vs_action_copy": round(tally.mean("replay") - tally.mean("action_copy"), 4),
        "ablation": {
            c: round(tally.mean(f"without_{c}") - tally.mean("replay"), 4) for c in COMPONENTS
        },
        "per_tool": {
            tool: {
                "steps": len(scores["replay"]),
                **{
                    n: round(sum(scores[n]) / len(scores[n]), 4)
                    for n in ("replay", *BASELINES, "best_of_10")
                    if scores[n]
                },
            }
            for tool, scores in sorted(tally.tools.items())
        },
        "step_p50_ms": round(percentile(timing["step"], 0.5), 4),
        "step_p99_ms": round(percentile(timing["step"], 0.99), 4),
        "floor_p50_ms": round(percentile(timing["floor"], 0.5), 5),
        "fits": fits,
    }


def print_tables(rows: dict[str, dict]) -> None:
    head = f"{'corpus':<16}{'steps':>6}{'replay':>8}{'open':>7}{'act_copy':>9}{'nn_copy':>8}"
    head += f"{'most_fr':>8}{'Δcopy':>7}{'best10':>7}{'p50 ms':>8}{'p99 ms':>8}{'x floor':>8}"
    print(head)
    for name, r in rows.items():
        ratio = r["step_p50_ms"] / r["floor_p50_ms"] if r["floor_p50_ms"] else float("nan")
        print(
            f"{name:<16}{r['steps']:>6}{r['replay']:>8.3f}{r['replay_open_loop']:>7.3f}"
            f"{r['action_copy']:>9.3f}{r['nn_copy']:>8.3f}{r['most_frequent']:>8.3f}"
            f"{r['vs_action_copy']:>+7.3f}{r['best_of_10']:>7.3f}{r['step_p50_ms']:>8.3f}"
            f"{r['step_p99_ms']:>8.3f}"
            f"{ratio:>8.0f}"
        )
    print("\nablation (closed loop): change in fidelity with one part switched off")
    print(f"{'corpus':<16}" + "".join(f"{c[:10]:>11}" for c in COMPONENTS))
    for name, r in rows.items():
        print(f"{name:<16}" + "".join(f"{r['ablation'][c]:>+11.3f}" for c in COMPONENTS))


def log_to_mlflow(rows: dict[str, dict], out: Path, rename: str) -> None:
    from wmh.tracking.mlflow_runs import log_run

    for name, r in rows.items():
        metrics = {
            k: r[k]
            for k in (
                "replay",
                "replay_open_loop",
                *BASELINES,
                "best_of_10",
                "vs_action_copy",
                "step_p50_ms",
            )  # fmt: skip
        }
        metrics.update({f"ablation.{c}": v for c, v in r["ablation"].items()})
        metrics.update(
            {f"tool.{t}.replay": v["replay"] for t, v in r["per_tool"].items() if "replay" in v}
        )
        params = {"corpus": name, "steps": r["steps"], "rename": rename or "none"}
        log_run("bench-fidelity", name, params, metrics, [out])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--corpora", type=Path, default=None, help=f"default {SHARED}")
    parser.add_argument("--only", nargs="*", default=None, help="corpus names to measure")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fidelity.json")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument(
        "--rename",
        default="",
        metavar="SALT",
        help="rename the training traces (a hash of each id salted with SALT): which of them "
        "each build holds out, and the order it breaks ties in, change; the figures' spread",
    )
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    groups: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="wmh-fidelity-") as tmp:
        for group, name, path in corpora(args.corpora):
            if args.only and name not in args.only:
                continue
            started = time.perf_counter()
            rows[name] = measure_corpus(path, args.folds, Path(tmp), args.rename)
            groups[name] = group
            print(f"measured {name} in {time.perf_counter() - started:.0f}s", flush=True)
    print()
    print_tables(rows)
    shared = [r["vs_action_copy"] for n, r in rows.items() if groups[n] == "shared"]
    summary = {
        "mean_vs_action_copy_shared": round(sum(shared) / len(shared), 4) if shared else None,
        "worst_vs_action_copy": min(r["vs_action_copy"] for r in rows.values()),
    }
    print(f"\n{summary}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "folds": args.folds,
                "rename": args.rename,
                "groups": groups,
                "summary": summary,
                "corpora": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    if not args.no_mlflow:
        log_to_mlflow(rows, args.out, args.rename)


if __name__ == "__main__":
    main()
