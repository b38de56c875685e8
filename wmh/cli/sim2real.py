"""`wmh eval sim2real`: the same seeded agent in an example's world model and its real
environment, step by step."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from wmh.cli.common import console


def sim2real(
    task: str = typer.Argument(..., help="An example: airline, terminal-tasks, code-tasks."),
    episodes: int = typer.Option(
        10, "--episodes", min=1, help="Episodes (held-out traces) to play."
    ),
    seed: int = typer.Option(0, "--seed", help="Chooses the traces and the perturbations."),
    rate: float = typer.Option(0.3, "--rate", help="Chance a call's argument is perturbed."),
    directory: Path | None = typer.Option(None, "--dir", help="Examples folder."),
    root: Path = typer.Option(
        Path(".wmh"),
        "--root",
        help="Where the report (evals/) and the MLflow runs go; the world model "
        "is the example's own, <dir>/<task>/models/<task>.",
    ),
    track: bool = typer.Option(True, "--track/--no-track", help="Log an MLflow run."),
    override: list[str] = typer.Option(
        None, "-o", "--override", help="e.g. -o reward=rubric -o provider=openai"
    ),
) -> None:
    """The same seeded agent in the world model and in the real environment, step by step."""
    from wmh.config.compose import compose_config, to_settings
    from wmh.eval.sim2real import (
        example_success_check,
        run_sim2real,
        save_sim2real,
        track_sim2real,
    )
    from wmh.examples import get_example
    from wmh.scoring.factory import make_reward

    settings = to_settings(compose_config([f"name={task}", *(override or [])]))
    if track:  # a tracking server that is down is said before the episodes, not after
        from wmh.tracking.mlflow_runs import check_server, tracking_uri

        check_server(tracking_uri(root), "run with --no-track")
    example = get_example(task, directory).path  # an unknown name says which there are
    success = example_success_check(example) if settings.reward.name == "success" else None
    reward = make_reward(settings.reward, settings.provider, success)
    with console.status(f"sim2real {task}: {episodes} episodes…"):
        report = run_sim2real(example, episodes, seed, reward, rate)
    table = Table("tool", "steps", "world model", "nn_copy")
    for tool, figures in report.per_tool.items():
        table.add_row(tool, str(figures.steps), f"{figures.fidelity:.3f}", f"{figures.nn_copy:.3f}")
    table.add_row(
        "[bold]all[/]",
        str(report.scored_steps),
        f"[bold]{report.fidelity:.3f}[/]",
        f"{report.nn_copy:.3f}",
    )
    console.print(table)
    correlation = (
        f"{report.reward_correlation}"
        if report.reward_correlation is not None
        else "n/a (the rewards of one world, or of fewer than two episodes, do not vary)"
    )
    why = next((r.reward_error for r in report.results if r.reward_error), "")
    failed = (
        f" ({report.reward_failures} of {report.episodes} episodes not graded: the judge "
        f"failed or gave no score; first: {escape(why)})"
        if report.reward_failures
        else ""
    )
    rewards = (
        f"; episode rewards ({report.reward}): agreement {report.reward_agreement}, "
        f"correlation {correlation}{failed}"
        if report.reward != "none"
        else ""
    )
    console.print(
        f"{report.example}: {report.episodes} episodes, seed {seed}, {report.steps} steps "
        f"({report.scored_steps} tool steps scored); closed-loop fidelity {report.fidelity:.3f} "
        f"vs nn_copy {report.nn_copy:.3f}; error-flag agreement "
        f"{report.error_flag_agreement:.3f}{rewards}"
    )
    path = save_sim2real(report, root)
    console.print(f"wrote {escape(str(path))}")
    if track:
        run_id = track_sim2real(report, path, root)
        console.print(f"MLflow run {run_id}")
    if report.reward_failures == report.episodes:
        # Rewards were asked for and none came: the report is kept, the run is not a success.
        console.print(
            f"[red]error:[/] no episode's reward was judged ({report.reward_failures} failed); "
            "the step figures above stand"
        )
        raise typer.Exit(1)
