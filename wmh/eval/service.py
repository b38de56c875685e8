"""Evaluation as library calls: evaluate a built model or trace files, save and list results.

`wmh eval` and the eval suites are thin shells over `evaluate`, `save_report` and `list_results`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from pydantic import BaseModel

from wmh.config.compose import compose_config, quote_override, to_container, to_settings
from wmh.config.schema import WmhConfig
from wmh.core.types import Trace
from wmh.engine.predictor import Predictor
from wmh.errors import ConfigError
from wmh.ingest.reader import read_traces
from wmh.ingest.split import split_with
from wmh.pipeline.build import build_world_model
from wmh.scoring.baselines import ActionCopy, MostFrequentObservation, NearestNeighbourCopy
from wmh.scoring.factory import make_judge
from wmh.scoring.runner import EvalReport, LoopMode, evaluate_traces, sample_indices
from wmh.store.loader import load_world_model
from wmh.store.settings import model_settings
from wmh.store.splits import read_part
from wmh.store.store import WorldModelStore
from wmh.tracking.mlflow_runs import log_run


@dataclass
class EvalOptions:
    judge: str | None = None
    sample_turns: str = "all"
    seed: int = 0
    limit: int | None = None
    mode: LoopMode = LoopMode.OPEN
    concurrency: int = 1
    suite: str = ""
    track: bool = True


def planned_steps(traces: Sequence[Trace], sample_turns: str, seed: int, limit: int | None) -> int:
    chosen = sorted(traces, key=lambda t: t.trace_id)[: limit if limit else None]
    return sum(len(sample_indices(t, sample_turns, seed)) for t in chosen)


@dataclass
class PreparedEval:
    name: str
    model_dir: Path
    settings: WmhConfig
    traces: list[Trace]


EVAL_GROUPS = ("judge", "provider", "predictor")


def _eval_overrides(settings: WmhConfig, name: str, overrides: Sequence[str]) -> WmhConfig:
    """Eval-time choices for a built model (the judge, the provider's endpoint, the predictor's
    cache and budget), on top of what it was built with: `provider=x` chooses a group anew,
    `provider.api_base=y` changes one key of the model's own; what it was built from stays."""
    given = to_settings(compose_config([f"name={name}", *overrides]))
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        group, _, rest = key.partition(".")
        if group not in EVAL_GROUPS:
            continue
        if not rest:
            setattr(settings, group, getattr(given, group))
            continue
        target, source = getattr(settings, group), getattr(given, group)
        *path, leaf = rest.split(".")
        for part in path:
            target, source = getattr(target, part), getattr(source, part)
        setattr(target, leaf, getattr(source, leaf))
    return settings


def prepare(
    files: Sequence[Path],
    name: str | None,
    root: Path,
    overrides: Sequence[str],
    workdir: Path,
) -> PreparedEval:
    """Find or build the model, and pick the held-out traces to evaluate on."""
    if name is not None:
        model_dir = WorldModelStore(root).resolve(name)
        settings = model_settings(model_dir)
        if overrides:
            settings = _eval_overrides(settings, name, overrides)
    else:
        if not files:
            raise ConfigError("nothing to evaluate: pass trace files, or --name MODEL")
        listed = ",".join(quote_override(str(f)) for f in files)
        first = Path(files[0])
        # `examples/airline/traces.otel.jsonl` is named after its folder, not "traces".
        label = first.name.split(".")[0]
        if label in ("traces", "spans", "corpus") and first.parent.name:
            label = first.parent.resolve().name
        stem = re.sub(r"[^A-Za-z0-9._-]", "-", label).strip(".-") or "eval"
        settings = to_settings(
            compose_config(
                [
                    f"name={stem}",
                    f"root={quote_override(str(workdir))}",
                    f"data.files=[{listed}]",
                    *overrides,
                ]
            )
        )
        model_dir = build_world_model(settings).path
    if files:
        ingested = read_traces(list(files), settings.data.skip_empty_traces)
        split = split_with(ingested.traces, settings.split)
        traces = split.test
        if not traces:
            raise ConfigError(
                f"no held-out traces: all {len(ingested.traces)} traces fall in the train/valid "
                f"split (split.test={settings.split.test}); add traces or raise split.test"
            )
    else:
        traces = read_part(model_dir, "test")
    return PreparedEval(name or settings.name, model_dir, settings, traces)


def evaluate(
    files: Sequence[Path] = (),
    *,
    name: str | None = None,
    root: Path = Path(".wmh"),
    overrides: Sequence[str] = (),
    options: EvalOptions | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Evaluate a built model (`name`) or a model built on the fly from `files`."""
    options = options or EvalOptions()
    with tempfile.TemporaryDirectory(prefix="wmh-eval-") as tmp:
        prepared = prepare(files, name, root, overrides, Path(tmp))
        if on_plan is not None:
            on_plan(
                planned_steps(prepared.traces, options.sample_turns, options.seed, options.limit)
            )
        # Traces the index holds are scored against the rest of it, never against each other.
        hidden = frozenset(t.trace_id for t in prepared.traces)
        wm, provider = load_world_model(
            prepared.model_dir, hidden=hidden, settings=prepared.settings
        )
        settings = prepared.settings
        judge = make_judge(options.judge or settings.judge.name, settings.judge, settings.provider)
        baselines: list[Predictor] = [
            NearestNeighbourCopy(wm.retriever),
            ActionCopy(wm.retriever),
            MostFrequentObservation(wm.retriever),
        ]
        report = evaluate_traces(
            prepared.name,
            wm.predictor,
            prepared.traces,
            judge,
            baselines=baselines,
            mode=options.mode,
            sample_turns=options.sample_turns,
            seed=options.seed,
            limit=options.limit,
            concurrency=options.concurrency,
            on_trace=on_progress,
        )
    usage = getattr(provider, "usage", None)
    if usage is not None:
        report.usage = usage.as_dict()
    report.suite = options.suite
    report.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    report.config = to_container(prepared.settings)
    return report


def default_results_path(root: Path, report: EvalReport) -> Path:
    stamp = report.created_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    folder = Path(*report.suite.split("/")) if report.suite else Path(report.model)
    return root / "evals" / folder / f"{stamp}.json"


def save_report(report: EvalReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return path


def track_report(report: EvalReport, results_path: Path) -> str:
    """Log the evaluation as an MLflow run in the experiment named after the suite or model."""
    metrics: dict[str, float] = {
        "fidelity": report.overall.score,
        "error_flag_accuracy": report.overall.error_flag_accuracy,
        "steps": report.overall.steps,
    }
    for key, value in report.usage.items():
        metrics[f"usage.{key}"] = value
    for baseline, score in report.overall.baselines.items():
        metrics[f"baseline.{baseline}"] = score
    for file, fidelity in report.per_file.items():
        metrics[f"file.{Path(file).name}.fidelity"] = fidelity.score
    for tool, fidelity in report.per_tool.items():
        metrics[f"tool.{tool}.fidelity"] = fidelity.score
    params = {
        "eval": {
            "mode": report.mode.value,
            "judge": report.judge,
            "sample_turns": report.sample_turns,
            "seed": report.seed,
            "traces": report.traces,
        },
        **report.config,
    }
    experiment = report.suite or report.model
    run_id = log_run(
        experiment,
        f"eval-{report.model}",
        params,
        metrics,
        [results_path],
        tags={"wmh.kind": "eval", "wmh.model": report.model},
        root=report.config.get("root"),
    )
    return run_id


class SavedRun(BaseModel):
    path: str
    key: str
    model: str
    suite: str
    created_at: str
    mode: str
    judge: str
    steps: int
    score: float
    baselines: dict[str, float]
    delta: float | None = None


def list_results(root: Path, suite: str | None = None) -> list[SavedRun]:
    """Saved eval runs under `<root>/evals`, newest first, with the change from the run before."""
    runs: list[SavedRun] = []
    for path in sorted((root / "evals").rglob("*.json")):
        try:
            data = orjson.loads(path.read_bytes())
            run = SavedRun(
                path=str(path),
                key=data.get("suite") or data["model"],
                model=data["model"],
                suite=data.get("suite", ""),
                created_at=data.get("created_at", ""),
                mode=data["mode"],
                judge=data["judge"],
                steps=data["overall"]["steps"],
                score=data["overall"]["score"],
                baselines=data["overall"].get("baselines", {}),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if suite is None or run.key == suite or run.key.startswith(f"{suite}/"):
            runs.append(run)
    runs.sort(key=lambda r: (r.created_at, r.path), reverse=True)
    previous: dict[str, SavedRun] = {}
    for run in reversed(runs):
        before = previous.get(run.key)
        run.delta = round(run.score - before.score, 6) if before else None
        previous[run.key] = run
    return runs
