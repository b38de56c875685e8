"""Fidelity studies as sweeps: how fidelity grows with the number of training traces (`scaling`),
and how much it moves with the held-out split (`seeds`).

`scaling` holds one test set fixed (the config's split, by trace-id hash) and trains on nested
subsets of the other traces: for each seed the pool is shuffled once and a subset of size n is
its first n traces, so a larger subset contains every smaller one (the whole pool, the same for
every seed, is one member). `seeds` re-splits the corpus
with a different split salt per seed and trains on all the rest. Each member (a size and a seed)
is indexed and fitted like a build, scored on its test traces with the replay model, the copy
baselines and, when the provider is an LLM, the LLM with the base prompt and with GEPA's, and
logged as one MLflow run of one experiment. The summary (mean and standard deviation over seeds
per size), the JSON and the plot are written next to each other and logged as a last run.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from wmh.config.compose import to_container
from wmh.config.credentials import check_credentials
from wmh.config.schema import WmhConfig
from wmh.core.types import Trace
from wmh.engine.factory import make_predictor
from wmh.engine.predictor import Predictor
from wmh.engine.prompts import base_prompt
from wmh.errors import ConfigError
from wmh.eval.study_report import Member, StudyReport, summarise, write_study
from wmh.ingest.sources import ingest
from wmh.ingest.split import split_with
from wmh.optimize.evolve import evolve_prompt, skip_reason
from wmh.pipeline.build import fit_replay, index_traces
from wmh.pipeline.checks import check_gepa_errors, check_provider_errors, check_providers_answer
from wmh.pipeline.clock import Clock
from wmh.providers.llm import provider_time_budget
from wmh.scoring.baselines import ActionCopy, MostFrequentObservation, NearestNeighbourCopy
from wmh.scoring.factory import make_judge
from wmh.scoring.runner import EvalReport, evaluate_traces
from wmh.tracking.mlflow_runs import check_server, log_run, tracking_uri

KINDS = ("scaling", "seeds")
BASELINES = ("nn_copy", "action_copy", "most_frequent")


def train_sizes(requested: Sequence[int], pool: int) -> list[int]:
    """The sizes that fit the pool, and the whole pool (the curve's last point)."""
    if pool < 1:
        raise ConfigError("the study has no traces to train on: the test split took them all")
    bad = [n for n in requested if n < 1]
    if bad:
        raise ConfigError(f"study.sizes must be at least 1, got {bad}")
    return sorted({*(n for n in requested if n < pool), pool})


def nested_subsets(
    pool: Sequence[Trace], sizes: Sequence[int], seed: int
) -> dict[int, list[Trace]]:
    """Subsets of `pool`, one per size, each containing the smaller ones (a seeded shuffle of
    the pool in trace-id order, cut at each size), each in the pool's order: the order a build
    indexes them in, which breaks ties between equally near recordings, so the whole pool
    scores as a build of it does."""
    order = sorted(pool, key=lambda t: t.trace_id)
    random.Random(seed).shuffle(order)
    subsets = {}
    for n in sizes:
        chosen = {id(t) for t in order[:n]}
        subsets[n] = [t for t in pool if id(t) in chosen]
    return subsets


def _score(
    settings: WmhConfig, predictor: Predictor, test: list[Trace], baselines: list[Predictor]
) -> EvalReport:
    judge = make_judge(settings.judge.name, settings.judge, settings.provider)
    sample = settings.study.sample_turns
    return evaluate_traces(
        settings.name, predictor, test, judge, baselines=baselines, sample_turns=sample
    )


NOT_STUDIED = "no study result was written"


def score_member(
    settings: WmhConfig, train: list[Trace], test: list[Trace], workdir: Path
) -> tuple[dict[str, float], EvalReport]:
    """Index and fit on `train` as a build does, then score every predictor on `test`."""
    clock = Clock(None)
    retriever = index_traces(settings, train, clock)
    replay, _ = fit_replay(settings, retriever, train, clock)
    baselines: list[Predictor] = [
        NearestNeighbourCopy(retriever),
        ActionCopy(retriever),
        MostFrequentObservation(retriever),
    ]
    report = _score(settings, replay, test, baselines)
    scores = {"replay": report.overall.score, **report.overall.baselines}
    if settings.provider.name != "replay":
        # Scores that mostly measured provider failures are refused, as a build refuses them.
        llm, _ = make_predictor(settings, retriever, replay, base_prompt())
        asked = _score(settings, llm, test, [])
        check_provider_errors(settings, [asked], NOT_STUDIED, "held-out")
        scores["llm"] = asked.overall.score
        if not skip_reason(settings):
            evolved = evolve_prompt(
                settings, base_prompt(), [], retriever, replay, workdir, train=train
            )
            check_gepa_errors(settings, evolved, NOT_STUDIED)
            tuned, _ = make_predictor(settings, retriever, replay, evolved.best_prompt)
            asked = _score(settings, tuned, test, [])
            check_provider_errors(settings, [asked], NOT_STUDIED, "held-out")
            scores["llm_gepa"] = asked.overall.score
    return scores, report


def _plan(
    settings: WmhConfig, traces: list[Trace], kind: str
) -> tuple[list[int], list[tuple[int, int, list[Trace], list[Trace]]]]:
    """(sizes, members as (size, seed, train, test))."""
    seeds = list(range(settings.study.seeds))
    if not seeds:
        raise ConfigError("study.seeds must be at least 1")
    members = []
    if kind == "scaling":
        split = split_with(traces, settings.split)
        if not split.test:
            raise ConfigError(
                f"the study needs a held-out test set: none of the {len(traces)} traces fell in "
                f"the test split (split.test={settings.split.test})"
            )
        pool = [*split.train, *split.valid]
        sizes = train_sizes(settings.study.sizes, len(pool))
        for seed in seeds:
            for size, train in nested_subsets(pool, sizes, seed).items():
                if size < len(pool) or seed == seeds[0]:  # the whole pool is the same each seed
                    members.append((size, seed, train, list(split.test)))
        return sizes, members
    sizes = []
    for seed in seeds:
        salt = f"{settings.split.salt}seed{seed}"
        split = split_with(traces, replace(settings.split, salt=salt))
        train = [*split.train, *split.valid]
        if not split.test or not train:
            raise ConfigError(
                f"seed {seed}: the split left {len(split.test)} test and {len(train)} train "
                "traces; the seeds study needs both"
            )
        members.append((len(train), seed, train, list(split.test)))
        sizes.append(len(train))
    return sorted(set(sizes)), members


def _track_member(report: StudyReport, member: Member, params: dict[str, Any], root: str) -> str:
    metrics = {f"fidelity.{k}": v for k, v in member.scores.items()}
    metrics |= {
        "replay_ci_low": member.replay_ci[0],
        "replay_ci_high": member.replay_ci[1],
        "seconds": member.seconds,
        "test_steps": member.test_steps,
    }
    if "nn_copy" in member.scores:
        metrics["replay_minus_nn_copy"] = member.scores["replay"] - member.scores["nn_copy"]
    study = {
        "kind": report.kind,
        "size": member.size,
        "seed": member.seed,
        "train_traces": member.train_traces,
        "test_traces": member.test_traces,
    }
    return log_run(
        report.experiment,
        f"{report.kind}-n{member.size}-s{member.seed}",
        {**params, "study": study},
        metrics,
        [],
        tags={"wmh.kind": "study-member", "wmh.study": report.kind, "wmh.model": report.name},
        root=root,
    )


def run_study(
    settings: WmhConfig,
    kind: str,
    out_dir: Path,
    on_member: Callable[[Member, int, int], None] | None = None,
) -> tuple[StudyReport, dict[str, Path]]:
    """Run the study and write `results.json`, `curve.json` (for `dvc plots`) and `plot.png`
    into `out_dir`; with `settings.track`, one MLflow run per member and one for the summary."""
    if kind not in KINDS:
        raise ConfigError(f"unknown study '{kind}': expected one of {', '.join(KINDS)}")
    check_credentials(settings)  # its config goes to results.json and every member's run
    if settings.track:  # a tracking server that is down is said before the first member
        check_server(tracking_uri(settings.root), "run with --no-mlflow (track=false)")
    traces = ingest(settings).traces
    sizes, plan = _plan(settings, traces, kind)
    config = to_container(settings)
    report = StudyReport(
        kind=kind,
        name=settings.name,
        experiment=settings.experiment or f"study-{kind}-{settings.name}",
        corpus_traces=len(traces),
        sizes=sizes,
        beyond_pool=sorted({n for n in settings.study.sizes if n > sizes[-1]})
        if kind == "scaling"
        else [],
        seeds=list(range(settings.study.seeds)),
        config=config,
    )
    params = {k: v for k, v in config.items() if k not in ("serve", "study", "name")}
    check_providers_answer(settings, NOT_STUDIED)
    with provider_time_budget(settings.provider.build_time_s * len(plan)):
        with tempfile.TemporaryDirectory(prefix="wmh-study-") as tmp:
            for i, (size, seed, train, test) in enumerate(plan):
                started = time.perf_counter()
                scores, scored = score_member(settings, train, test, Path(tmp) / f"gepa-{i}")
                member = Member(
                    size=size,
                    seed=seed,
                    train_traces=len(train),
                    test_traces=len(test),
                    test_steps=scored.overall.steps,
                    scores=scores,
                    replay_ci=(scored.overall.ci_low, scored.overall.ci_high),
                    seconds=round(time.perf_counter() - started, 3),
                )
                report.members.append(member)
                if on_member is not None:
                    on_member(member, i + 1, len(plan))
    # Logged once every member is scored: a member refused later (its provider failing) left
    # the runs of those before it in MLflow, though no study result was written.
    if settings.track:
        for member in report.members:
            member.run_id = _track_member(report, member, params, settings.root)
    report.summary = summarise(report.members, kind)
    paths = write_study(report, out_dir)
    if settings.track:
        log_run(
            report.experiment,
            f"{kind}-summary",
            {**params, "study": {"kind": kind, "sizes": sizes, "seeds": report.seeds}},
            {f"final.{k}": v for k, v in report.summary[-1].mean.items()},
            list(paths.values()),
            tags={"wmh.kind": "study", "wmh.study": kind, "wmh.model": settings.name},
            root=settings.root,
        )
    return report, paths
