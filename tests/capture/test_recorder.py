from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wmh.ingest import read_traces

SCRIPT = """
import json, sys
from wmh.capture import TraceRecorder
rec = TraceRecorder(sys.argv[1], seed=5, service="demo", agent="demo")
for i in range(3):
    with rec.episode(f"find user {i}") as ep:
        ep.call_tool("get_user", {"user_id": i},
                     lambda a: (json.dumps({"user_id": a["user_id"], "name": "Ada"}), False))
        ep.say(f"User {i} is Ada. Anything else?", reply="No thanks.")
        ep.call_tool("get_usr", {}, lambda a: ("Error: unknown tool 'get_usr'", True))
        ep.say("Shall I close the ticket?", reply="Yes, bye.")
rec.close()
"""


def _capture(path: Path) -> bytes:
    subprocess.run([sys.executable, "-c", SCRIPT, str(path)], check=True)
    return path.read_bytes()


def test_same_seed_in_two_processes_gives_the_same_bytes(tmp_path: Path) -> None:
    assert _capture(tmp_path / "a.jsonl") == _capture(tmp_path / "b.jsonl")


def test_recorded_episodes_ingest_back_into_the_same_steps(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _capture(path)
    first = json.loads(path.read_text().splitlines()[0])
    assert "resourceSpans" in first
    traces = read_traces([path]).traces
    assert sorted(t.task for t in traces) == ["find user 0", "find user 1", "find user 2"]
    for trace in traces:
        i = int(trace.task.rsplit(" ", 1)[1])
        rendered = [
            (s.action.render(), s.observation.content, s.observation.is_error) for s in trace.steps
        ]
        assert rendered == [
            (f'get_user {{"user_id":{i}}}', json.dumps({"user_id": i, "name": "Ada"}), False),
            (f"User {i} is Ada. Anything else?", "No thanks.", False),
            ("get_usr {}", "Error: unknown tool 'get_usr'", True),
            ("Shall I close the ticket?", "Yes, bye.", False),
        ]
