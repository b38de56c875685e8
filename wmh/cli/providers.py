"""`wmh providers verify`: does each configured provider answer?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from wmh.cli.common import RootOption, console

app = typer.Typer(help="LLM providers of the built world models.", no_args_is_help=True)


@app.command("verify")
def verify(root: Path = RootOption) -> None:
    """Send one tiny completion to every provider used by a built model (replay is skipped), and
    embed one text with every provider embedder (embedder=litellm) one uses."""
    from wmh.providers.verify import ProviderCheck, verify_providers
    from wmh.retrieval.provider_embedder import verify_embedders
    from wmh.store.settings import model_embedders, model_providers
    from wmh.store.store import WorldModelStore

    store = WorldModelStore(root)
    checks = verify_providers(model_providers(store))
    for row in verify_embedders(
        {name: (e.kind, e.model, e.api_base, e.dim) for name, e in model_embedders(store).items()}
    ):
        checks.append(ProviderCheck(**row))
    if not checks:
        console.print(f"no world models in {store.models_dir}")
        return
    table = Table("status", "provider", "model", "endpoint", "used by", "reason")
    colours = {"pass": "green", "fail": "red", "skipped": "dim"}
    for check in checks:
        table.add_row(
            f"[{colours[check.status]}]{check.status}[/]",
            check.provider,
            check.model,
            check.api_base or "-",
            ", ".join(check.models),
            escape(check.reason),
        )
    console.print(table)
    if any(check.status == "fail" for check in checks):
        raise typer.Exit(1)
