"""Evaluation as library calls: evaluate a built model or trace files, save and list results.

`wmh eval` and the eval suites are thin shells over `evaluate`, `save_report` and `list_results`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wmh.config.compose import (
    compose_config,
    corpus_name,
    quote_override,
    range_problem,
    to_container,
    to_settings,
)
from wmh.config.schema import WmhConfig
from wmh.core.types import Trace
from wmh.engine.predictor import Predictor
from wmh.errors import ConfigError, ProviderError
from wmh.ingest.reader import read_traces, trace_files
from wmh.ingest.split import split_with
from wmh.pipeline.build import build_world_model
from wmh.providers.llm import provider_time_spent
from wmh.scoring.baselines import ActionCopy, MostFrequentObservation, NearestNeighbourCopy
from wmh.scoring.factory import make_judge
from wmh.scoring.judges import Judge
from wmh.scoring.runner import EvalReport, LoopMode, evaluate_traces, limited, sample_indices
from wmh.store.loader import load_world_model
from wmh.store.settings import eval_overrides, model_settings
from wmh.store.splits import part_trace_ids, read_part
from wmh.store.store import WorldModelStore


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
    prompt: Path | None = None  # evaluate this environment prompt instead of the model's
    top_k: int | None = None  # retrieved examples per step (None: the model's; 0: zero-shot)
    no_rag: bool = False  # zero-shot: the same as top_k=0

    def retrieved(self) -> int | None:
        return 0 if self.no_rag else self.top_k

    def check(self) -> None:
        """Refuse counts that would quietly evaluate something else."""
        if self.limit is not None and self.limit < 1:
            raise ConfigError(
                f"limit must be at least 1 (leave it unset, or all, for every held-out trace), got "
                f"{self.limit}"
            )
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        for name, value in (("seed", self.seed), ("top_k", self.top_k), ("limit", self.limit)):
            if range_problem(name, value):
                raise ConfigError(range_problem(name, value))


def planned_steps(traces: Sequence[Trace], sample_turns: str, seed: int, limit: int | None) -> int:
    return sum(len(sample_indices(t, sample_turns, seed)) for t in limited(traces, limit))


@dataclass
class PreparedEval:
    name: str
    model_dir: Path
    settings: WmhConfig
    traces: list[Trace]
    # Traces of the given files the model has never seen (scored whole), by id.
    unseen: frozenset[str] = frozenset()
    seen_skipped: int = 0  # traces it trained on (left out)
    ingest: str = ""  # what reading the given files read and left out (their summary)


def check_answered(settings: WmhConfig, report: EvalReport) -> None:
    """Refuse a result that mostly measured provider failures (every call to an unreachable
    endpoint scored as a normal run, saved and logged like one): more of its steps than
    `provider.max_error_share` failed at the provider, as a build refuses to publish."""
    failed, steps = report.sources.get("provider_error", 0), report.overall.steps
    allowed = settings.provider.max_error_share
    if steps and failed / steps > allowed:
        spent = provider_time_spent()
        raise ProviderError(
            f"{failed} of {steps} evaluated steps failed at the provider"
            f"{f' ({spent})' if spent else ''}, more than provider.max_error_share="
            f"{allowed:g}: no result was saved (check the endpoint, model and key, e.g. with "
            "wmh providers verify)"
        )


def prepare(
    files: Sequence[Path],
    name: str | None,
    root: Path,
    overrides: Sequence[str],
    workdir: Path,
    judge: str | None = None,
) -> PreparedEval:
    """Find or build the model, and pick the held-out traces to evaluate on (`judge`: the
    judge chosen apart from the overrides, as `--judge` does)."""
    if name is not None:
        model_dir = WorldModelStore(root).resolve(name)
        settings = model_settings(model_dir)
        if overrides:
            settings = eval_overrides(settings, name, overrides, judge)
    else:
        if not files:
            raise ConfigError("nothing to evaluate: pass trace files, or --name MODEL")
        listed = ",".join(quote_override(str(f)) for f in files)
        stem = corpus_name(files)
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
    if not files:
        test = read_part(model_dir, "test")
        if not test:
            raise ConfigError(
                f"no held-out traces: model '{name}' holds every trace it was built from in its "
                "train or valid part (too few traces to hold any out); evaluate it on trace "
                f"files it did not train on (wmh eval --name {name} FILE)"
            )
        return PreparedEval(name or settings.name, model_dir, settings, test)
    listed_files = [file for given in files for file in trace_files(Path(given))]
    ingested = read_traces(listed_files, settings.data.skip_empty_traces)
    if name is None:
        traces = list(split_with(ingested.traces, settings.split).test)
        if not traces:
            raise ConfigError(
                f"no held-out traces: all {len(ingested.traces)} traces fall in the train/valid "
                f"split (split.test={settings.split.test}); add traces or raise split.test"
            )
        return PreparedEval(
            settings.name, model_dir, settings, traces, ingest=ingested.report.summary()
        )
    # A built model and files: a trace it trained on (train or valid) is no test of it; every
    # other trace is (one in its own test part, or one it never saw).
    seen = part_trace_ids(model_dir, "train") | part_trace_ids(model_dir, "valid")
    held = part_trace_ids(model_dir, "test")
    traces = [t for t in ingested.traces if t.trace_id not in seen]
    skipped = len(ingested.traces) - len(traces)
    if not traces:
        raise ConfigError(
            f"nothing to evaluate: all {skipped} traces of the given files are in the train or "
            f"valid part of model '{name}'; evaluate it on traces it did not train on"
        )
    unseen = frozenset(t.trace_id for t in traces if t.trace_id not in held)
    return PreparedEval(
        name, model_dir, settings, traces, unseen, skipped, ingested.report.summary()
    )


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
    options.check()
    with tempfile.TemporaryDirectory(prefix="wmh-eval-") as tmp:
        prepared = prepare(files, name, root, overrides, Path(tmp), options.judge)
        if on_plan is not None:
            on_plan(
                planned_steps(prepared.traces, options.sample_turns, options.seed, options.limit)
            )
        # Traces the index holds are scored against the rest of it, never against each other.
        hidden = frozenset(t.trace_id for t in prepared.traces)
        settings = prepared.settings
        if options.retrieved() is not None:
            settings.retrieval.top_k = options.retrieved()  # type: ignore[assignment]
        given_as = f"suite {options.suite}: prompt =" if options.suite else "--prompt"
        prompt = read_prompt(options.prompt, given_as) if options.prompt else None
        wm, provider = load_world_model(
            prepared.model_dir, hidden=hidden, settings=settings, prompt=prompt
        )
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
    grade_problem(judge, report)
    check_answered(prepared.settings, report)
    report.suite = options.suite
    report.prompt = str(options.prompt) if options.prompt else "model"
    report.top_k = prepared.settings.retrieval.top_k
    # Of the traces scored.
    scored = limited(prepared.traces, options.limit)
    report.unseen_traces = sum(t.trace_id in prepared.unseen for t in scored)
    report.seen_traces_skipped = prepared.seen_skipped
    report.ingest = prepared.ingest
    report.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    report.config = to_container(prepared.settings)
    return report


def grade_problem(judge: Judge, report: EvalReport) -> None:
    """An LLM judge's usage and the judgements it gave no grade, into the report; an
    evaluation where it graded nothing at all is an error, not a table of zeros."""
    usage = getattr(judge, "usage", None)
    if usage is not None:
        report.judge_usage = usage.as_dict()
    judged, ungraded = getattr(judge, "judged", 0), getattr(judge, "ungraded", 0)
    report.judgements, report.ungraded = judged, ungraded
    if judged and ungraded == judged:
        raise ProviderError(
            f"the {judge.name} judge graded none of its {judged} judgements, so there is no "
            f"score to report (the first: {getattr(judge, 'first_failure', '')})"
        )


def read_prompt(path: Path, given_as: str = "--prompt") -> str:
    """An environment prompt from a file (for a model answered by an LLM); `given_as`: where
    the user named it, for the error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{given_as} {path}: cannot read the prompt ({exc})") from None
    if not text.strip():
        raise ConfigError(f"{given_as} {path}: the prompt file is empty")
    return text
