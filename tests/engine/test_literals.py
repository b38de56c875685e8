"""What a call prints for certain (`wmh.engine.literals`), and the replay model answering with
it: a neighbour's answer carries the lines its own `echo`s and `print`s wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wmh.core.types import Action
from wmh.engine.literals import printed_literals, with_printed
from wmh.engine.policy import ReplayPolicies, ReplayPolicy
from wmh.engine.world_model import WorldModel


def _printed(command: str) -> tuple[str, ...]:
    return printed_literals({"command": command})


@pytest.mark.parametrize(
    ("command", "lines"),
    [
        ("cd /r && echo 'A'; ls; echo \"B c\"", ("A", "B c")),
        ("cd /r && echo ok && ls", ("ok",)),
        # After an && whose command may fail, an echo may not run.
        ("cd /r && make && echo ok", ()),
        # Conditional, expanded, globbed, redirected, piped, looped: not certain.
        ("make && echo PASS || echo FAIL", ()),
        ('echo $HOME; echo "at $PWD"; echo `date`; echo *.py', ()),
        ("echo a > f; echo b >> f; echo c 2>&1; echo d | tr d e", ()),
        ("for f in a b; do echo x; done; if true; then echo y; fi", ()),
        ("(echo in; ls) | tail -1", ()),
        ("echo -n x; echo -e 'a\\tb'; echo -e a; echo -E b", ("a", "b")),
        # A word that is not one of echo's options is printed.
        ('grep x f; echo "---" && git status', ("---",)),
        ("echo 'unclosed", ()),
        # Quoted, a glob and an expansion are words.
        ("echo '*' '$HOME' \"a\\\"b\"", ('* $HOME a"b',)),
        # Python fed a here-document prints its top-level prints, in order with the echoes.
        (
            "cd /r && echo first; python - <<'EOF'\nx = 1\nprint('mid')\nif x:\n"
            "    print('no')\nprint(f'{x}')\nEOF\necho last",
            ("first", "mid", "last"),
        ),
        # A here-document written to a file runs nothing.
        ("cat > t.py <<'EOF'\nprint('no')\nEOF\npython t.py", ()),
        ("python - <<'EOF' > out.txt\nprint('no')\nEOF", ()),
        # python -c: top-level prints, not those of a block or of a piped run.
        ("python -c \"import a; print('cm:'); print(a)\"", ("cm:",)),
        ("python3 -c \"for i in r: print('a'); print('b')\"", ()),
        ("python -c \"\nprint('a')\n\" | tail -1", ()),
        # A program and an echo on its here-document's line run in that order.
        ("python3 - <<'EOF' && echo done\nprint('a')\nEOF", ("a", "done")),
        # Here-documents of every form hide their bodies; one not followed hides everything.
        ("cat <<\\EOF\necho hi\nEOF", ()),
        ("cat <<'E.F'\necho hi\nE.F", ()),
        ("cat <<1\necho hi\n1", ()),
        ("cat <<EOF\n  EOF\necho hi\nEOF", ()),
        ("cat <<A <<B\nx\nA\necho hi\nB\necho out", ("out",)),
        ("cat <<EOF\necho hi", ()),
        ("cat <<< word; echo x", ("x",)),
        # Output captured by a substitution, or of a function defined and not run.
        ("x=$(echo hi); out=$(python3 -c \"print('a')\"); echo $(echo a)", ()),
        ("diff <(echo a) <(echo b); while read l; do :; done < <(echo x)", ()),
        ("f() { echo x; }; function g { echo y; }", ()),
        # After an exit nothing runs; comments print nothing.
        ("echo a; exit 0; echo x", ("a",)),
        ("# a; echo x\necho y # note", ("y",)),
        ("echo a{b,c} x{1..3} a}", ()),
        ("for i in 1 2; do true fi; echo x; done", ()),
        ("echo -E -n x; echo -n -E y", ()),
        # An unquoted here-document is expanded by the shell before Python reads it.
        ('python3 - <<EOF\nprint("cost: $5")\nEOF', ()),
        ('python3 - <<EOF\nprint("plain")\nEOF', ("plain",)),
        # Nothing after a top-level exit, nor inside a triple-quoted string.
        ("python - <<'EOF'\nprint('a')\nsys.exit(0)\nprint('b')\nEOF", ("a",)),
        ("python - <<'EOF'\ns = \"\"\"\nprint('x')\n\"\"\"\nprint('y')\nEOF", ("y",)),
        ("python -c \"print('x'); s = '; print(1) #'\"", ("x",)),
        ("echo ''; echo \"\"", ()),
        # A group after || or && (of a command that may fail), or ended by exit.
        ("make || { echo 'build failed'; exit 1; }; echo ok", ()),
        ("make && (echo a)", ()),
        ("{ echo a; exit 1; }; echo b", ()),
        ("(echo a; exit 1; echo c)", ()),
        # An and-or list goes on over a line break; one failing command ends what is certain.
        ("make &&\necho ok", ()),
        ("make ||\necho FAIL", ()),
        ("make && cd /r && echo ok; make && echo a && echo b", ()),
        ("echo a && exit 0 && echo z", ("a",)),
        ("test -f x || exit 1; echo b", ()),
        ("set -e; false; echo ok", ()),
        ("exec true; echo b", ()),
        ("make && python - <<'EOF'\nprint('a')\nEOF", ()),
        # A group piped or redirected after a redirection word; a quoted newline.
        ("{ echo hi; seq 5; } 2>&1 | tail -3; (echo hi) 1>f", ()),
        ('echo "a\nb"; ls', ()),
        # Quoted operators are words; backticks capture; markers never leak.
        ('echo a "{" b; echo c', ("c",)),
        ("x=`cd /r; echo hi; pwd`", ()),
        ("echo 'a;python - <<EOF'\nprint(\"x\")\nEOF", ()),
        ("python x.py -c \"print('a')\"", ()),
        ("f() ( echo a ); echo b", ("b",)),
        (
            "python -c \"open('t.py','w').write(" + "'" * 3 + "\nprint('hello')\n" + "'" * 3 + ')"',
            (),
        ),
        ("python -c \"\ntry: import x\nexcept E: print('x'); print('done')\n\"", ()),
    ],
)
def test_what_a_shell_command_prints_for_certain(command: str, lines: tuple[str, ...]) -> None:
    assert _printed(command) == lines


def test_a_program_prints_its_top_level_literal_prints() -> None:
    code = "n = 3\nprint('Total:', \"rows\")\nfor i in range(n):\n    print('no')\nprint(n)"
    assert printed_literals({"code": code}) == ("Total: rows",)


def test_a_neighbours_printed_lines_are_swapped_dropped_and_added() -> None:
    recorded = {"command": "cd /r && python - <<'EOF'\nprint('patched')\nEOF\necho saved"}
    current = {"command": "cd /r && echo '== start'; python - <<'EOF'\nprint('patched')\nEOF"}
    answer, changed = with_printed("patched\nsaved", recorded, current)
    assert (answer, changed) == ("== start\npatched", [("", "== start"), ("saved", "")])
    # Swapped in place, by order; a literal printed first goes first, else last.
    recorded = {"command": "echo '== A'; ls; echo '== B'; ls"}
    current = {"command": "echo '== C'; ls; echo '== D'; ls; echo end"}
    answer, _ = with_printed("== A\nx\n== B\ny", recorded, current)
    assert answer == "== C\nx\n== D\ny\nend"
    # The line the recorded call printed is swapped, not one of the output like it.
    cat = {"command": "cat notes.txt; echo done"}
    answer, _ = with_printed("done\ntodo\ndone\n", cat, {"command": "cat notes.txt; echo ok"})
    assert answer == "done\ntodo\nok\n"
    # A literal the recorded run never printed (it failed first): its swap is not added.
    failed = {"command": "python - <<'EOF'\nimport foo\nprint('ok')\nEOF"}
    again = {"command": "python - <<'EOF'\nimport foo\nprint('done')\nEOF"}
    trace = "Traceback ...\nModuleNotFoundError: No module named 'foo'"
    assert with_printed(trace, failed, again) == (trace, [])
    # A first line goes first only when the call's first echo prints it.
    answer, _ = with_printed(
        "/home\nfile",
        {"command": "cd /r && echo $X; ls"},
        {"command": "cd /r && echo $X; echo a; ls"},
    )
    assert answer == "/home\nfile\na"
    # A call whose first echo is a bare option (nothing after it) raised IndexError.
    program = {"command": "python - <<'EOF'\nprint('a')\nEOF\necho -n "}
    assert with_printed("x", {"command": "ls"}, program) == ("x\na", [("", "a")])
    # CRLF answers keep their line ends; an empty answer gets the line alone.
    answer, _ = with_printed("a\r\nx\r\n", {"command": "echo a"}, {"command": "echo b"})
    assert answer == "b\r\nx\r\n"
    assert with_printed("", {"command": "ls"}, {"command": "ls; echo b"})[0] == "b"
    # A JSON answer (a tool that wraps the output) is left as it is: a line added would break it.
    wrapped = '{"stdout": "== A\\nx", "exit_code": 0}'
    assert with_printed(wrapped, recorded, current) == (wrapped, [])
    # Alike calls: the answer as recorded.
    assert with_printed("== A\nz", recorded, recorded) == ("== A\nz", [])


def _bash_trace(t: int, steps: list[tuple[str | dict, str]]) -> list[dict]:
    """A trace of tool calls: a command (bash) or a write_file call's arguments, and answers."""
    trace_id = f"{t + 1:032x}"
    root = f"{t + 1:08x}00000000"
    spans: list[dict] = [
        {
            "traceId": trace_id,
            "spanId": root,
            "name": "invoke_agent fixer",
            "startTimeUnixNano": "1",
            "endTimeUnixNano": "2",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}
            ],
        }
    ]
    for i, (call, result) in enumerate(steps):
        tool = "bash" if isinstance(call, str) else "write_file"
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": f"c{t}_{i}",
            "gen_ai.tool.call.arguments": json.dumps(
                {"command": call} if isinstance(call, str) else call
            ),
            "gen_ai.tool.call.result": result,
        }
        spans.append(
            {
                "traceId": trace_id,
                "spanId": f"{t + 1:08x}{i + 1:08x}",
                "parentSpanId": root,
                "name": f"execute_tool {tool}",
                "startTimeUnixNano": str(10 + i),
                "endTimeUnixNano": str(11 + i),
                "attributes": [
                    {"key": k, "value": {"stringValue": v}} for k, v in attributes.items()
                ],
            }
        )
    return spans


def _built(tmp_path: Path, traces: list[list[tuple[str | dict, str]]]) -> WorldModel:
    """The model a build of these traces (all of them indexed) makes."""
    from tests.conftest import make_settings
    from wmh.pipeline.build import build_world_model
    from wmh.store.loader import load_world_model

    corpus = tmp_path / "calls.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(span) + "\n"
            for t, steps in enumerate(traces)
            for span in _bash_trace(t, steps)
        )
    )
    settings = make_settings(
        tmp_path, "calls", [corpus], "split.train=1.0", "split.valid=0", "split.test=0"
    )
    wm, _ = load_world_model(build_world_model(settings).path)
    return wm


def test_the_replay_model_answers_with_what_the_call_prints(tmp_path: Path) -> None:
    """The nearest recording echoed `saved`; the call asked echoes `== start` first and
    nothing after: the answer says so, where copying the recording said `saved`."""

    patch = "cd /repo && python - <<'EOF'\nopen('a.py', 'w').write(x)\nprint('patched')\nEOF"
    traces = [
        [(f"{patch}\necho saved", "patched\nsaved"), ("ls /repo", "a.py\nb.py")],
        [("cat /repo/a.py", "x = 1"), ("git status --short", " M a.py")],
        [("ls /repo/tests", "test_a.py"), ("git diff --stat", " a.py | 2 +-")],
    ]
    wm = _built(tmp_path, traces)
    every_part = wm.predictor.with_policies(ReplayPolicies(default=ReplayPolicy(literals=True)))
    asked = Action(name="bash", arguments={"command": patch.replace("&& ", "&& echo '== start'; ")})
    answers = {}
    for name, predictor in (
        ("literals", every_part),
        ("without", every_part.with_policies(every_part.policies.without("literals"))),
    ):
        wm.predictor = predictor
        session = wm.new_session(task="fix a.py")
        answers[name] = wm.step(session.id, asked)
    assert answers["literals"].content == "== start\npatched"
    assert answers["literals"].metadata["printed"] == [("", "== start"), ("saved", "")]
    assert answers["without"].content == "patched\nsaved"


def test_a_tool_takes_the_literals_where_its_recordings_show_them() -> None:
    from wmh.engine.literals import printing_tools

    shell = ("bash", {"command": "make; echo built"}, "gcc ...\nbuilt")
    editor = ("write_file", {"path": "a.py", "text": "print('hi')"}, "Wrote a.py")
    quiet = ("bash", {"command": "echo x > f"}, "")  # prints nothing: no evidence either way
    assert printing_tools([shell, shell, quiet, editor, editor, editor]) == {
        "bash": True,
        "write_file": False,
    }
    assert printing_tools([shell]) == {"bash": False}  # one recording is not enough


def test_a_build_gives_the_literals_to_the_tools_that_print_them(tmp_path: Path) -> None:
    """An editor writing a script's text prints none of it: given the literals, its answer
    `Wrote b.py` would have had a line `bye` added."""

    def write(name: str, word: str) -> dict:
        return {"path": name, "text": f"print('{word}')"}

    traces = [
        [("cd /r && echo start; ls", "start\na.py"), (write("a.py", "hi"), "Wrote a.py")],
        [("cd /r; ls; echo end", "a.py\nend"), (write("c.py", "yo"), "Wrote c.py")],
        [("cd /r && echo go; ls", "go\nb.py"), (write("d.py", "ho"), "Wrote d.py")],
    ]
    wm = _built(tmp_path, traces)
    policies = wm.predictor.policies
    assert (policies.of("bash").literals, policies.of("write_file").literals) == (True, False)
    assert policies.of("a_tool_never_recorded").literals is False  # no evidence, no lines
    session = wm.new_session(task="t")
    wrote = wm.step(session.id, Action(name="write_file", arguments=write("b.py", "bye")))
    echoed = wm.step(session.id, Action(name="bash", arguments={"command": "cd /r && echo on; ls"}))
    assert "bye" not in wrote.content.split("\n")
    assert echoed.content.split("\n")[0] == "on"
