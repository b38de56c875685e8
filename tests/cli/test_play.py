"""`wmh play` as a person types: broken JSON after a tool's name, unknown commands, overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "COLUMNS": "200"}


def play(root: Path, lines: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wmh", "play", "--name", "records", "--root", str(root), *args],
        input=lines, capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip


def test_broken_json_after_a_tool_name_is_an_error_not_a_message(built_model: Path) -> None:
    root = built_model.parent.parent
    done = play(root, 'get_user {"user_id": 42\nget_user 42\n:bogus\n:help\n:quit\n')
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    # Neither line was sent to the world model as a message.
    assert "> say" not in out and "> get_user" not in out
    assert "the arguments of get_user are not valid JSON" in out
    assert "the arguments of get_user must be a JSON object, got: 42" in out
    assert out.count("unknown command ':bogus'") == 1
    assert out.count(":tools known tools and their arguments") == 2  # after :bogus, and :help


def test_tools_shows_each_tools_arguments_and_a_call_to_copy(built_model: Path) -> None:
    done = play(built_model.parent.parent, ":tools\n:quit\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    signature = next(i for i, line in enumerate(lines) if line.startswith("get_user("))
    assert lines[signature].startswith("get_user(user_id: ")
    example = lines[signature + 1].strip()
    assert example.startswith("e.g. get_user {") and '"user_id": ' in example
    # The example is a call `play` itself accepts.
    again = play(built_model.parent.parent, example.removeprefix("e.g. ") + "\n:quit\n")
    assert "> get_user" in again.stdout and "not valid JSON" not in again.stdout


def test_play_takes_overrides_of_what_a_built_model_may_change(built_model: Path) -> None:
    root = built_model.parent.parent
    # (That an override a built model may change reaches it: the test below, where an LLM
    # prompt shows it.) What would change nothing is refused, not taken: a provider for a
    # replay model, and the index's own settings.
    for override, said in (
        ("provider.api_base=http://127.0.0.1:9/v1", "model 'records' is a replay model"),
        ("predictor.cache=false", "model 'records' is a replay model, which calls no provider"),
        ("retrieval.index=hnsw", "retrieval.index is fixed when model 'records' is built"),
        # The whole group passed by its name, and its index settings were taken and ignored.
        ("retrieval={index:flat,flat_max:1}", "retrieval is fixed when model 'records' is"),
    ):
        refused = play(root, ":quit\n", "-o", override)
        assert refused.returncode == 1 and said in " ".join(refused.stderr.split())
    fixed = play(root, ":quit\n", "-o", "split.train=0.5")
    assert fixed.returncode == 1
    said = " ".join(fixed.stderr.split())
    assert "split.train is fixed when model 'records' is built" in said
    unknown = play(root, ":quit\n", "-o", "retrieval.top_kk=3")
    assert unknown.returncode == 1
    assert "did you mean 'retrieval.top_k'?" in " ".join(unknown.stderr.split())


def test_play_task_and_new_task_reach_the_world_model(tmp_path: Path, fake_llm) -> None:
    import json

    from tests.fake_llm import echo_environment
    from wmh.ingest.synthetic import write_corpus

    fake_llm.default = echo_environment
    corpus = write_corpus(tmp_path / "c.jsonl", traces=12, seed=3)
    llm = [
        "-o", "provider=openai_compatible", "-o", "provider.model=openai/env",
        "-o", f"provider.api_base={fake_llm.api_base}", "-o", "provider.num_retries=0",
        "-o", "predictor.cache=false", "-o", "track=false", "-o", "predictor.route=llm",
    ]  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "wmh", "build", "--name", "records", "--file", str(corpus),
         "--root", str(tmp_path), "--no-interactive", *llm],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    fake_llm.requests.clear()
    lines = 'get_user {"user_id": 1}\n:new SECOND-TASK\nget_user {"user_id": 2}\n'
    done = play(tmp_path, lines, "--task", "FIRST-TASK")
    assert done.returncode == 0, done.stderr
    first, second = (json.dumps(r["messages"]) for r in fake_llm.requests)
    assert "FIRST-TASK" in first and "SECOND-TASK" not in first
    assert "SECOND-TASK" in second and "FIRST-TASK" not in second
    # An override of what a built model may change reaches it: each prompt shows as many
    # recorded examples as retrieval.top_k asks (the build's five, then one).
    shown = []
    for top_k in ([], ["-o", "retrieval.top_k=1"]):
        fake_llm.requests.clear()
        done = play(tmp_path, 'get_user {"user_id": 3}\n', *top_k)
        assert done.returncode == 0, done.stderr
        (prompt,) = (r["messages"][-1]["content"] for r in fake_llm.requests)
        examples = prompt.split("## Recorded examples of this environment")[1]
        shown.append(examples.split("## This session so far")[0].count("Action: "))
    assert shown == [5, 1]


def test_a_line_no_session_can_take_is_reported_and_the_session_goes_on(
    built_model: Path,
) -> None:
    deep = "[" * 150 + "1" + "]" * 150
    deeper = "[" * 5000 + "]" * 5000  # past the JSON parser's own recursion limit
    lines = (
        (
            'get_user {"user_id": "\\ud800"}\n'
            'get_user {"user_id": NaN}\n'
            f'get_user {{"user_id": {deep}}}\n'
            f'get_user {{"user_id": {deeper}}}\n'
            'get_user "[bold]x"\n'  # what a message quotes is shown as typed, not as markup
        ).encode()
        + b"get_user \xff\n"
        + b'get_user {"user_id": 7}\n:history\n:quit\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "wmh", "play", "--name", "records",
         "--root", str(built_model.parent.parent)],
        input=lines, capture_output=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    out = " ".join(done.stdout.decode().split())
    assert (
        "the arguments of get_user: holds text that is not valid Unicode (a lone surrogate)" in out
    )
    assert "the arguments of get_user: holds nan, a number that is not finite" in out
    assert "the arguments of get_user: nested more than 100 levels deep" in out
    assert "arguments are nested more than 100 levels deep" in out
    assert 'the arguments of get_user must be a JSON object, got: "[bold]x"' in out
    assert "the line is not UTF-8 text (byte 0xff at character 10); it was skipped" in out
    # Only the good call reached the session: once when stepped, once in :history.
    assert out.count("> get_user ") == 2 and out.count('> get_user {"user_id":7}') == 2


def test_a_call_written_without_a_space_before_its_arguments_is_a_call() -> None:
    """`get_user{"user_id": 7}` was sent to the environment as a message, so a user who meant a
    call got a chat answer; its broken JSON is the call's error, located as with a space."""
    import pytest

    from wmh.cli.play import parse_action
    from wmh.errors import WmhError

    glued = parse_action('get_user{"user_id": 7}', {"get_user"})
    assert (glued.kind, glued.name, glued.arguments) == ("tool_call", "get_user", {"user_id": 7})
    assert parse_action("get_user, please", {"get_user"}).kind == "message"
    # Only a known tool's name may be glued to its arguments: other text stays a message.
    for text in ("Note{x}", "Hi{}"):
        assert parse_action(text, {"get_user"}).kind == "message"
    for line, column in (('get_user{"user_id": 7', 22), ('get_user {"user_id": 7', 23)):
        with pytest.raises(
            WmhError, match=f"the arguments of get_user are not valid JSON: .* at column {column} "
        ):
            parse_action(line, {"get_user"})
