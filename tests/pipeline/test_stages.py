"""The build's DVC stages, run in-process: the same model as `wmh build`, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_settings
from wmh.config.compose import CONF_DIR, pipeline_params, settings_from_file
from wmh.core.types import Action, ActionKind
from wmh.errors import ConfigError, IngestError, StoreError
from wmh.pipeline.build import build_world_model
from wmh.pipeline.stages import STAGES, StageDir, run_stage
from wmh.store.card import read_card
from wmh.store.loader import load_world_model

ROOT = Path(__file__).resolve().parents[2]


def test_the_stages_publish_the_model_wmh_build_makes(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    staged = make_settings(tmp_path / "staged", "records", [synthetic_corpus])
    for stage in STAGES:
        run_stage(stage, staged)
    built = build_world_model(make_settings(tmp_path / "built", "records", [synthetic_corpus]))

    card = read_card(tmp_path / "staged" / "models" / "records")
    assert card.split == built.card.split
    assert card.ingest == built.card.ingest
    assert card.state_writers == built.card.state_writers
    assert card.heldout_score == pytest.approx(built.card.heldout_score)
    assert card.repeat_reliability == built.card.repeat_reliability
    assert card.error_style == built.card.error_style
    # The stages fold their files in a trace at a time, as the build folds ingest's traces:
    # the same index (rows, columns, vectors, histories) and split files, byte for byte.
    staged_files = sorted(
        p.relative_to(tmp_path / "staged/models/records")
        for folder in ("index", "steps")
        for p in (tmp_path / "staged/models/records" / folder).rglob("*")
        if p.is_file()
    )
    assert Path("index/steps.jsonl") in staged_files and Path("index/history.npy") in staged_files
    for name in staged_files:
        assert (tmp_path / "staged/models/records" / name).read_bytes() == (
            built.path / name
        ).read_bytes(), name
    wm, _ = load_world_model(tmp_path / "staged" / "models" / "records")
    session = wm.new_session(task="look up a record")
    obs = wm.step(session.id, Action(kind=ActionKind.TOOL_CALL, name="no_such_tool"))
    assert obs.is_error
    metrics = StageDir(tmp_path / "staged", "records").metrics("evaluate")
    assert metrics.is_file() and b"fidelity" in metrics.read_bytes()


def test_a_stage_without_its_inputs_names_the_stage_to_run(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    settings = make_settings(tmp_path, "records", [synthetic_corpus])
    with pytest.raises(StoreError, match=r"split.*run the split stage first"):
        run_stage("index", settings)
    assert not (tmp_path / "pipeline" / "records" / "index").exists()


def test_data_path_takes_a_directory_of_trace_files(tmp_path: Path, synthetic_corpus: Path) -> None:
    settings = make_settings(tmp_path, "records", [], f"data.path='{synthetic_corpus.parent}'")
    metrics = run_stage("ingest", settings)
    assert metrics["steps"] > 1000
    missing = make_settings(tmp_path, "records", [], f"data.path='{tmp_path / 'nope'}'")
    with pytest.raises(IngestError, match=r"nope: no such file or directory \(data.path\)"):
        run_stage("ingest", missing)


def test_the_ingest_stage_counts_the_duplicate_spans_it_skipped(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """`wmh build` says how many spans it read twice and skipped; the stage's metrics left
    them out, so `dvc exp run` on a folder holding one file twice looked like half the spans."""
    folder = tmp_path / "twice"
    folder.mkdir()
    for name in ("a.jsonl", "b.jsonl"):
        (folder / name).write_bytes(synthetic_corpus.read_bytes())
    once = run_stage("ingest", make_settings(tmp_path / "once", "r", [synthetic_corpus]))
    metrics = run_stage("ingest", make_settings(tmp_path, "r", [], f"data.path='{folder}'"))
    assert metrics["duplicate_spans"] == once["spans"] > 0 and once["duplicate_spans"] == 0
    assert metrics["steps"] == once["steps"] and metrics["not_read"] == 0


def test_params_yaml_is_conf_composed(tmp_path: Path) -> None:
    """params.yaml is generated from conf/: editing one without the other is caught here."""
    assert (ROOT / "params.yaml").read_text(encoding="utf-8") == pipeline_params(), (
        "params.yaml drifted from conf/: run `wmh pipeline params`"
    )
    assert (ROOT / "conf" / "pipeline.yaml").resolve() == CONF_DIR / "pipeline.yaml"


def test_a_bad_params_file_names_file_and_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(pipeline_params().replace("top_k: 5", "top_k: many"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params.yaml.*top_k"):
        settings_from_file(params)
    with pytest.raises(ConfigError, match="no such config file"):
        settings_from_file(tmp_path / "absent.yaml")
    params.write_text("name: [\n", encoding="utf-8")  # broken YAML: a traceback before
    with pytest.raises(ConfigError) as broken:
        settings_from_file(params)
    assert str(broken.value) == (
        f"{params}: not valid YAML (expected the node content, but found '<stream end>' at "
        "line 2, column 1)"
    )


def test_with_gepa_the_stages_draw_its_progress_and_lead_with_its_figures(
    tmp_path: Path, synthetic_corpus: Path
) -> None:
    """The GEPA plot folder holds the best valid score per iteration when GEPA ran, and the
    one metrics file carries its rollouts and best valid score after fidelity and the copies."""
    import json

    from tests.fake_llm import FakeLLMServer
    from tests.optimize.test_gepa import gepa_settings, scripted

    with FakeLLMServer() as fake:
        fake.default = scripted("You are the environment. COPY THE FIRST EXAMPLE exactly.")
        settings = gepa_settings(tmp_path, synthetic_corpus, fake, "gepa-staged")
        for stage in STAGES[:-1]:
            run_stage(stage, settings)
    out = StageDir(tmp_path, "gepa-staged")
    evolve = json.loads((out.prompts / "evolve.json").read_text())
    progress = json.loads((out.plots_of("gepa") / "progress.json").read_text())
    assert progress == [{"best_valid": s, "iteration": i} for i, s in evolve["progress"]]
    assert len(progress) >= 2
    figures = json.loads(out.metrics("evaluate").read_text())
    assert list(figures)[:3] == ["fidelity", "ci_low", "ci_high"]
    assert figures["gepa_rollouts"] == evolve["rollouts"] > 0
    assert figures["gepa_best_valid"] == max(s for _, s in evolve["progress"])


def test_a_failed_ingest_keeps_the_last_output_and_leaves_nothing_of_its_own(
    tmp_path: Path, synthetic_corpus: Path, data_dir: Path
) -> None:
    """The ingest stage writes each trace as it is assembled, into a temporary folder that
    replaces its output only when every trace is read."""
    missing = make_settings(tmp_path, "records", [tmp_path / "nope.jsonl"])
    with pytest.raises(IngestError, match="nope.jsonl"):
        run_stage("ingest", missing)
    assert not (tmp_path / "pipeline").exists()  # no folder made for the failed stage
    run_stage("ingest", make_settings(tmp_path, "records", [synthetic_corpus]))
    out = StageDir(tmp_path, "records").ingest
    written = (out / "traces.jsonl").read_bytes()
    assert written.count(b"\n") == 200
    # A stage killed while writing left its folder behind (process 4194304 is none: above
    # Linux's largest process number).
    stale = out.with_name(".ingest.tmp-4194304")
    stale.mkdir()
    (stale / "traces.jsonl").write_bytes(written[:100])
    bad = make_settings(tmp_path, "records", [synthetic_corpus, data_dir / "no_steps.jsonl"])
    with pytest.raises(IngestError, match="has no steps"):  # raised once every trace is read
        run_stage("ingest", bad)
    assert (out / "traces.jsonl").read_bytes() == written
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".ingest")) == []
