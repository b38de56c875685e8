"""A client of the leading harness's HTTP shapes, written from the route list alone (plain httpx):
it reads `["world_models"]`, `["session_id"]`, `["observation"]`, the usage route and the DELETE
body. Every server wmh runs (`wmh serve`, the bento, two workers on Redis) must serve it
unchanged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx


def run_episode(base_url: str, actions: list[dict[str, Any]], task: str = "t") -> dict[str, Any]:
    """One episode through every route; returns what it read, for the caller's assertions."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        names = client.get("/world_models").json()["world_models"]
        name = names[0]
        started = time.monotonic()
        created = client.post(f"/world_models/{name}/sessions", json={"task": task})
        created.raise_for_status()
        session_id = created.json()["session_id"]
        observations = []
        for action in actions:
            answer = client.post(
                f"/world_models/{name}/sessions/{session_id}/step", json={"action": action}
            )
            answer.raise_for_status()
            observations.append(answer.json()["observation"])
        usage = client.get(f"/world_models/{name}/sessions/{session_id}/usage")
        usage.raise_for_status()
        final = client.delete(f"/world_models/{name}/sessions/{session_id}")
        final.raise_for_status()
        wall = time.monotonic() - started
        gone = client.get(f"/world_models/{name}/sessions/{session_id}")
        return {
            "names": names,
            "observations": observations,
            "usage": usage.json(),
            "final": final.json(),
            "gone": gone.status_code,
            "wall_s": wall,
        }


def answers_in_process(
    model_dir: Path, actions: list[dict[str, Any]], task: str = "t"
) -> list[dict[str, Any]]:
    """What the model answers the same actions in process, in one session (the reference a
    server's answers are checked against; not part of the harness's client)."""
    from wmh.core.types import Action
    from wmh.store.loader import load_world_model

    wm, _ = load_world_model(model_dir)
    session = wm.new_session(task)
    return [wm.step(session.id, Action.model_validate(a)).model_dump(mode="json") for a in actions]


def check_episode(read: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    """What every server must have answered for an episode of replayed steps: the answers the
    model gives in process (`answers_in_process`)."""
    steps = len(expected)
    assert read["names"] and all(isinstance(n, str) for n in read["names"])
    assert read["observations"] == expected
    assert read["usage"]["steps"] == steps and read["final"]["steps"] == steps
    assert read["final"]["total"]["calls"] == 0  # replay: no provider call
    # The session's own clock: from creation to the usage read, then to its end; both within
    # the time the client saw pass from sending the create to reading the DELETE's answer (a
    # session whose creation time was lost would read decades). Exact durations are checked
    # in process (tests/engine/test_rl_seam.py).
    usage_s, final_s = read["usage"]["duration_seconds"], read["final"]["duration_seconds"]
    assert 0 < usage_s <= final_s <= read["wall_s"] + 0.01
    assert read["gone"] == 404
