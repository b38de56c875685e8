"""Replay policies: an ablation switches exactly one part off, for the default and every tool,
and leaves every other part as it was."""

from __future__ import annotations

import pytest

from wmh.engine.policy import COMPONENTS, NEAREST_COPY, ReplayPolicies, ReplayPolicy

TUNED = ReplayPolicy(task_weight=0.3, history_weight=0.2, consensus=4)
POLICIES = ReplayPolicies(
    default=TUNED,
    tools={
        "get_user": ReplayPolicy(session_replay=False, task_weight=0.5, history_weight=0.1),
        "bash": NEAREST_COPY,
        "lookup": ReplayPolicy(history_weight=0.4, consensus=3),  # every part on
    },
    use_error_style=True,
)


def _fields(policies: ReplayPolicies) -> dict[str, object]:
    return policies.model_dump()


@pytest.mark.parametrize("component", ["session_replay", "corpus_replay", "adapt", "overlay"])
def test_a_switch_is_turned_off_everywhere_and_nothing_else_changes(component: str) -> None:
    off = POLICIES.without(component)
    # A tool's own policy had the part on (the other tools' have some parts off already).
    assert getattr(POLICIES.of("lookup"), component) is True
    for route in ("get_user", "bash", "lookup", "never_seen"):
        before, after = POLICIES.of(route), off.of(route)
        assert getattr(after, component) is False
        assert after.model_copy(update={component: getattr(before, component)}) == before
    assert off.use_error_style is True and set(off.tools) == {"get_user", "bash", "lookup"}


def test_context_is_both_weights_and_consensus_is_the_count() -> None:
    off = POLICIES.without("context")
    for route in ("get_user", "bash", "lookup", "never_seen"):
        policy = off.of(route)
        assert (policy.task_weight, policy.history_weight) == (0.0, 0.0)
        assert policy.consensus == POLICIES.of(route).consensus
    assert off.default.describe() == "session+corpus+consensus4+adapt+overlay"
    assert TUNED.describe() == "session+corpus+ctx(t0.3,h0.2)+consensus4+adapt+overlay"
    without_consensus = POLICIES.without("consensus")
    assert without_consensus.default.consensus == 0
    assert without_consensus.default.weights() == TUNED.weights()


def test_without_selection_every_tool_gets_the_plain_default() -> None:
    off = POLICIES.without("selection")
    assert off.tools == {}
    assert off.of("get_user") == off.of("bash") == off.of("lookup") == ReplayPolicy()
    assert off.use_error_style is True
    assert POLICIES.without("error_style").use_error_style is False
    assert _fields(POLICIES.without("error_style")) == {
        **_fields(POLICIES),
        "use_error_style": False,
    }


def test_every_component_is_known_and_an_unknown_one_is_refused() -> None:
    for component in COMPONENTS:
        POLICIES.without(component)
    with pytest.raises(ValueError, match="unknown replay component 'sessions'"):
        POLICIES.without("sessions")
    assert NEAREST_COPY.describe() == "copy"
    assert POLICIES.of("get_user").describe() == "corpus+ctx(t0.5,h0.1)+adapt+overlay"
