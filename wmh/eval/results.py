"""Saved evaluation results: the JSON of each run under `<root>/evals`, its MLflow run, and the
list of saved runs with the change from the one before."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from wmh.core.paths import check_output
from wmh.scoring.runner import EvalReport
from wmh.tracking.mlflow_runs import log_run

SIM2REAL_PREFIX = "sim2real-"  # how `save_sim2real` names its reports under evals/


def default_results_path(root: Path, report: EvalReport) -> Path:
    stamp = report.created_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    folder = Path(*report.suite.split("/")) if report.suite else Path(report.model)
    return root / "evals" / folder / f"{stamp}.json"


def check_results_path(path: Path) -> None:
    """Refuse, before any work, a results path that cannot be written as a file."""
    check_output(path)


def save_report(report: EvalReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    tmp.replace(path)
    return path


def track_report(report: EvalReport, results_path: Path) -> str:
    """Log the evaluation as an MLflow run in the experiment named after the suite or model."""
    overall = report.overall
    metrics: dict[str, float] = {
        "fidelity": overall.score,
        "fidelity_std": overall.std,
        "fidelity_ci_low": overall.ci_low,
        "fidelity_ci_high": overall.ci_high,
        "error_flag_accuracy": overall.error_flag_accuracy,
        "steps": overall.steps,
    }
    for key, value in report.usage.items():
        metrics[f"usage.{key}"] = value
    for key, value in report.judge_usage.items():
        metrics[f"judge_usage.{key}"] = value
    if report.judgements:
        metrics["judge_ungraded"] = report.ungraded
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
            "prompt": report.prompt,
            "top_k": report.top_k,
            "unseen_traces": report.unseen_traces,
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
    # What makes two runs' figures comparable (a delta is taken only between runs alike in it).
    basis: str = ""
    delta: float | None = None


def _basis(data: dict) -> str:
    """A run's figures move with what was scored and how, not only with the model: its judge,
    mode, sampled turns (and their seed when drawn), traces, files, prompt and retrieval depth."""
    turns = data.get("sample_turns", "all")
    drawn = turns not in ("all", "first", "last")
    return orjson.dumps(
        [
            data["mode"], data["judge"], turns, data.get("seed") if drawn else None,
            data.get("traces"), sorted(data.get("per_file") or {}), data.get("prompt"),
            data.get("top_k"), data.get("unseen_traces"), data.get("seen_traces_skipped"),
        ]
    ).decode()  # fmt: skip


def list_results(root: Path, suite: str | None = None) -> tuple[list[SavedRun], list[str]]:
    """Saved eval runs under `<root>/evals`, newest first, each with the change from the last
    run before it that scored the same way (judge, mode, turns, traces, files...); and each
    `.json` there that is no saved run, with why (none is skipped unsaid)."""
    runs: list[SavedRun] = []
    unreadable: list[str] = []
    evals = root / "evals"
    for path in sorted(evals.rglob("*.json")):
        if path.name.startswith(SIM2REAL_PREFIX):
            continue  # a sim2real report (`wmh eval sim2real`), not an eval run
        # Runs are saved under evals/<suite or model>/: one that cannot be read is named when
        # its folder is the suite's (or no suite was asked for).
        where = path.parent.relative_to(evals).as_posix()
        asked = suite is None or where == suite or where.startswith(f"{suite}/")
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
                basis=_basis(data),
            )
        except OSError as exc:
            unreadable += [f"{path}: {exc.strerror or exc}"] if asked else []
            continue
        except orjson.JSONDecodeError:
            unreadable += [f"{path}: not JSON (cut short?)"] if asked else []
            continue
        except (KeyError, TypeError, ValueError, AttributeError):
            why = "not an eval result (a field is missing or of another type)"
            unreadable += [f"{path}: {why}"] if asked else []
            continue
        if suite is None or run.key == suite or run.key.startswith(f"{suite}/"):
            runs.append(run)
    runs.sort(key=lambda r: (r.created_at, r.path), reverse=True)
    previous: dict[tuple[str, str], SavedRun] = {}
    for run in reversed(runs):  # each against the last run before it of its key and basis
        before = previous.get((run.key, run.basis))
        run.delta = round(run.score - before.score, 6) if before else None
        previous[(run.key, run.basis)] = run
    return runs, unreadable
