"""What importing wmh costs a host process: no environment change, and a light gymnasium
adapter (no build pipeline, GEPA or MLflow tracking behind `import wmh.env.gym`)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import python_without_offline_defaults
from wmh.offline import OFFLINE_DEFAULTS


def _run(code: str) -> str:
    done = python_without_offline_defaults(code)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_wmh_leaves_the_environment_unchanged() -> None:
    code = (
        "import os\n"
        "before = dict(os.environ)\n"
        "import wmh\n"
        "from wmh import Action, ActionKind, Observation\n"
        "print(sorted(set(before.items()) ^ set(os.environ.items())))\n"
    )
    assert _run(code).strip() == "[]"


def test_the_public_api_and_the_gymnasium_adapter_set_no_offline_default() -> None:
    # (gymnasium sets PYGAME_HIDE_SUPPORT_PROMPT on import.)
    code = (
        "import json, os\n"
        "from wmh.config.store import WorldModelStore\n"
        "from wmh.engine.loader import load_world_model\n"
        "import wmh.env.gym\n"
        "print(json.dumps(sorted(os.environ)))\n"
    )
    assert set(json.loads(_run(code))) & set(OFFLINE_DEFAULTS) == set()


def test_the_gymnasium_adapter_imports_no_build_machinery() -> None:
    code = (
        "import json, sys\n"
        "import wmh.env.gym\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wmh.'))))\n"
    )
    loaded = json.loads(_run(code))
    assert "wmh.env.gym" in loaded
    heavy = [m for m in loaded if m.split(".")[1] in ("pipeline", "optimize", "tracking")]
    assert heavy == []


def test_the_cli_loads_a_command_only_when_it_runs() -> None:
    code = (
        "import json, sys\n"
        "import wmh.cli.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('wmh', 'mlflow', "
        "'litellm', 'bentoml', 'faiss', 'hydra')))))\n"
    )
    loaded = set(json.loads(_run(code)))
    # Only the package, its light core types (`import wmh` exports them) and the app itself.
    heavy = {m for m in loaded if not m.startswith(("wmh.core", "wmh.errors", "wmh.offline"))}
    assert heavy == {"wmh", "wmh.cli", "wmh.cli.app"}, heavy


def test_wmh_help_lists_each_command_with_its_own_summary() -> None:
    """The summaries `wmh --help` shows without importing the commands are theirs."""
    import importlib

    import typer

    from wmh.cli.app import COMMANDS

    for name, (module, attribute, group, summary) in COMMANDS.items():
        target = getattr(importlib.import_module(module), attribute)
        if group:
            own = typer.main.get_group(target).help or ""
        else:
            own = target.__doc__ or ""
        assert " ".join(own.split()).startswith(summary), name


def test_the_build_command_imports_no_http_client_or_gepa_until_a_provider_needs_them() -> None:
    """A replay build never calls a provider or runs GEPA: `wmh build` starts without httpx,
    tenacity and gepa (about 0.12 s of its start-up)."""
    code = (
        "import json, sys\n"
        "import wmh.cli.build\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in ('httpx', 'tenacity', 'gepa'))))\n"
    )
    assert json.loads(_run(code)) == []


@pytest.mark.parametrize(
    "command",
    ["evaluate", "build", "play", "study", "pipeline", "providers", "mcp", "demo", "examples"],
)
def test_a_command_group_loads_no_model_machinery_until_it_runs(command: str) -> None:
    """`wmh eval --help` (and a mistyped option) answers from the command's own module: it took
    0.9 s when the module imported the evaluation service, and with it the build pipeline, the
    index and the engine (`wmh build`, `play`, `study` and `pipeline --help` 0.75-0.8 s the
    same way; `providers`, `mcp`, `demo` and `examples --help` 0.45-0.6 s, loading the store)."""
    code = (
        "import json, sys\n"
        f"import wmh.cli.{command}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('wmh', 'faiss', "
        "'scipy', 'hydra')))))\n"
    )
    loaded = set(json.loads(_run(code)))
    assert f"wmh.cli.{command}" in loaded
    heavy = {
        m
        for m in loaded
        if m.split(".")[0] in ("faiss", "scipy", "hydra")
        or m in ("wmh.eval.service", "wmh.eval.study")
        or m.startswith(("wmh.engine", "wmh.pipeline.", "wmh.retrieval", "wmh.store"))
        and m != "wmh.pipeline.stage_names"  # the stage names `wmh pipeline` lists
    }
    assert heavy == set(), sorted(heavy)


def test_reading_model_cards_loads_no_index() -> None:
    """`wmh list` reads each model's card; a card names each tool's retrieval weighting, whose
    class lived beside the retriever, so reading cards loaded FAISS, scipy and the whole
    retrieval stack (`wmh list` 0.45 s, then 0.40 s). A card also holds its ingest report and
    its embedder's card, whose classes lived beside the trace readers (with the config schema
    and OmegaConf) and the embedders (with numpy): 0.39-0.46 s, now 0.22-0.26 s."""
    code = (
        "import json, sys\n"
        "import wmh.store.card, wmh.store.store\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('faiss', 'scipy', 'numpy', 'omegaconf', 'yaml') "
        "or m in ('wmh.retrieval.retriever', 'wmh.retrieval.index', 'wmh.retrieval.table', "
        "'wmh.retrieval.embedders', 'wmh.ingest.reader', 'wmh.config.schema'))))\n"
    )
    assert json.loads(_run(code)) == []


def test_the_ingest_package_loads_its_readers_when_first_asked_for() -> None:
    """`wmh.ingest` names its readers lazily; asked for, they are the reader module's own."""
    code = (
        "import json, sys\n"
        "import wmh.ingest\n"
        "before = 'wmh.ingest.reader' in sys.modules\n"
        "from wmh.ingest import IngestReport, IngestResult, read_traces\n"
        "import wmh.ingest.reader as reader\n"
        "same = read_traces is reader.read_traces and IngestResult is reader.IngestResult\n"
        "print(json.dumps([before, same, IngestReport is reader.IngestReport]))\n"
    )
    assert json.loads(_run(code)) == [False, True, True]


def test_serving_a_model_loads_no_scipy() -> None:
    """A step's consensus measured its answers' agreement with scipy's `cdist`: importing
    `scipy.spatial` was about a third of loading a model and taking its first step (0.67 against
    0.46 s for swe-bench's). FAISS, which the index loads anyway, measures it now."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from wmh.core.types import Action\n"
        "from wmh.engine.policy import ReplayPolicies, ReplayPolicy\n"
        "from wmh.engine.predictor import PredictionContext\n"
        "from wmh.store.loader import load_world_model\n"
        "wm, _ = load_world_model(Path('examples/airline/models/airline'))\n"
        "every = ReplayPolicies(default=ReplayPolicy(corpus_replay=False, consensus=10))\n"
        "replay = wm.predictor.with_policies(every)\n"
        "session = wm.new_session(task='change my flight')\n"
        "call = Action(name='get_user_details', arguments={'user_id': 'mia_li_3668'})\n"
        "answer = replay.predict(PredictionContext(session, call))\n"
        "wm.step(session.id, call)\n"
        "print(answer.metadata['source'], sorted(m for m in sys.modules if 'scipy' in m))\n"
    )
    source, scipy = _run(code).split(" ", 1)
    assert source == "adapted_neighbour"  # through the neighbours and a consensus of ten
    assert scipy.strip() == "[]"
