from __future__ import annotations

import json
from pathlib import Path

from wmh.core.types import Action, ActionKind
from wmh.engine.policy import ReplayPolicies
from wmh.engine.world_model import WorldModel
from wmh.store.card import read_card
from wmh.store.loader import load_world_model


def with_every_part(model_dir: Path) -> WorldModel:
    """The model with every replay part on, as designed: these tests check what each part does
    (a build may switch parts off per tool where they do not pay; tests/pipeline/test_fit_replay
    checks that choice)."""
    wm, _ = load_world_model(model_dir)
    wm.predictor = wm.predictor.with_policies(ReplayPolicies())
    return wm


def test_exact_replay_from_the_corpus(built_model: Path) -> None:
    wm = with_every_part(built_model)
    step = wm.retriever.table.step(0)
    session = wm.new_session(task=step.task)
    observation = wm.step(session.id, step.action)
    assert observation.metadata["source"] == "corpus_replay"
    assert observation.content == step.observation.content


def test_session_replay_answers_a_repeated_call_like_before(built_model: Path) -> None:
    wm = with_every_part(built_model)
    session = wm.new_session(task="check order")
    action = Action(name="get_order", arguments={"order_id": 987654})
    first = wm.step(session.id, action)
    again = wm.step(session.id, action)
    assert again.metadata["source"] == "session_replay"
    assert again.content == first.content


def test_unseen_arguments_adapt_a_neighbour(built_model: Path) -> None:
    wm = with_every_part(built_model)
    session = wm.new_session(task="Check the status of order 987654")
    observation = wm.step(session.id, Action(name="get_order", arguments={"order_id": 987654}))
    assert observation.metadata["source"] == "adapted_neighbour"
    assert json.loads(observation.content)["order_id"] == 987654


def test_session_updates_show_in_later_reads(built_model: Path) -> None:
    wm = with_every_part(built_model)
    session = wm.new_session(task="Move customer 5 to Lima")
    wm.step(session.id, Action(name="get_user", arguments={"user_id": 5}))
    wm.step(session.id, Action(name="update_address", arguments={"user_id": 5, "city": "Quito"}))
    after = json.loads(
        wm.step(session.id, Action(name="get_user", arguments={"user_id": 5})).content
    )
    assert after["city"] == "Quito"


def test_unknown_tool_gets_the_environments_own_error(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    card = read_card(built_model)
    session = wm.new_session()
    observation = wm.step(session.id, Action(name="launch_rocket", arguments={}))
    assert observation.is_error
    assert observation.metadata["source"] == "unknown_tool"
    assert observation.content == card.error_style.render("launch_rocket")
    assert card.error_style.learnt and "launch_rocket" in observation.content


def test_replay_is_deterministic_across_loads(built_model: Path) -> None:
    actions = [Action(name="get_user", arguments={"user_id": u}) for u in (1, 77, 5000)]
    runs = []
    for _ in range(2):
        wm, _ = load_world_model(built_model)
        session = wm.new_session(task="find users")
        runs.append([wm.step(session.id, a).model_dump() for a in actions])
    assert runs[0] == runs[1]


def test_message_actions_answer_with_a_recorded_reply(tmp_path: Path, data_dir: Path) -> None:
    from tests.conftest import make_settings
    from wmh.pipeline.build import build_world_model

    settings = make_settings(
        tmp_path,
        "shop",
        [data_dir / "genai_export.json"],
        "split.train=1.0",
        "split.valid=0",
        "split.test=0",
    )
    wm, _ = load_world_model(build_world_model(settings).path)
    session = wm.new_session()
    reply = wm.step(
        session.id,
        Action(kind=ActionKind.MESSAGE, content="Your total is 12.5. Shall I check out?"),
    )
    assert reply.content == "Yes please."


def test_tools_whose_repeats_change_are_not_replayed_from_the_session() -> None:
    from wmh.core.types import Observation, Step
    from wmh.engine.learnt import Lessons

    def step(i: int, cmd: str, out: str) -> Step:
        return Step(
            action=Action(name="bash", arguments={"command": cmd}),
            observation=Observation(content=out),
            trace_id="t",
            index=i,
        )

    rerun = [
        step(0, "python3 app.py", "Error"),
        step(1, "sed -i s/a/b/ app.py", ""),
        step(2, "python3 app.py", "ok"),
    ]
    lookup = [step(0, "get", "1"), step(1, "get", "1")]
    reliability = Lessons.of([rerun, lookup]).repeat_reliability()
    assert reliability == {"bash": 0.5}
    assert Lessons.of([rerun]).repeat_reliability() == {"bash": 0.0}


def test_a_tool_whose_repeats_change_is_answered_anew_when_repeated(built_model: Path) -> None:
    from wmh.engine.replay import ReplayPredictor

    wm = with_every_part(built_model)
    replay = wm.predictor
    wm.predictor = ReplayPredictor(
        replay.retriever,
        replay.error_style,
        repeat_reliability={"get_order": 0.0, "get_user": 1.0},
        policies=ReplayPolicies(),
    )
    session = wm.new_session(task="check order")
    for action in (
        Action(name="get_order", arguments={"order_id": 987654}),
        Action(name="get_user", arguments={"user_id": 987654}),
    ):
        first = wm.step(session.id, action)
        again = wm.step(session.id, action)
        assert first.metadata["source"] == "adapted_neighbour"
        repeated = "session_replay" if action.name == "get_user" else "adapted_neighbour"
        assert again.metadata["source"] == repeated


def test_a_session_whose_history_was_replaced_is_remembered_anew(built_model: Path) -> None:
    """The replay model keeps what each session showed between steps; a session of the same id
    whose history is now shorter (replaced, rewound) is read anew, not from the old memory."""
    from wmh.core.types import Observation, Session, Turn
    from wmh.engine.predictor import PredictionContext

    wm = with_every_part(built_model)
    lookup = Action(name="get_order", arguments={"order_id": 987654})
    other = Action(name="get_user", arguments={"user_id": 987654})
    before = Session(
        id="s",
        task="t",
        history=[
            Turn(action=lookup, observation=Observation(content="first answer")),
            Turn(action=other, observation=Observation(content="user")),
        ],
    )
    assert wm.predictor.predict(PredictionContext(before, lookup)).content == "first answer"
    after = Session(
        id="s", task="t", history=[Turn(action=lookup, observation=Observation(content="anew"))]
    )
    again = wm.predictor.predict(PredictionContext(after, lookup))
    assert again.metadata["source"] == "session_replay" and again.content == "anew"


def test_a_tools_own_writes_are_not_overlaid_with_what_the_session_showed_before(
    built_model: Path,
) -> None:
    """After reading user 5, an address update's recalled answer is a record of user 5 too: a
    tool that only reads takes the session's values for it, a tool that writes records (as the
    corpus showed) answers with what it wrote, not with the older read's values."""
    from wmh.engine.replay import ReplayPredictor

    wm = with_every_part(built_model)
    replay = wm.predictor
    updates = {}
    for writers in ((), ("update_address",)):
        wm.predictor = ReplayPredictor(
            replay.retriever, replay.error_style, state_writers=writers, policies=ReplayPolicies()
        )
        session = wm.new_session(task="Move customer 5 to Lima")
        wm.step(session.id, Action(name="get_user", arguments={"user_id": 5}))
        write = Action(name="update_address", arguments={"user_id": 5, "city": "Quito"})
        updates[writers] = wm.step(session.id, write).metadata.get("session_updates")
    assert updates[()] and updates[("update_address",)] is None


def test_a_tool_without_the_overlay_still_shows_what_the_session_wrote(built_model: Path) -> None:
    """Where the fit switched a read's overlay off, the records the session's own writes set
    still show in it (a cancelled reservation was read back as active); records other reads
    showed do not."""
    from wmh.engine.policy import ReplayPolicy
    from wmh.engine.replay import ReplayPredictor

    wm = with_every_part(built_model)
    replay = wm.predictor
    policies = ReplayPolicies(tools={"get_user": ReplayPolicy(overlay=False, session_replay=False)})
    cities = {}
    for writers in (("update_address",), ()):
        wm.predictor = ReplayPredictor(
            replay.retriever, replay.error_style, state_writers=writers, policies=policies
        )
        session = wm.new_session(task="Move customer 5 to Quito")
        wm.step(
            session.id, Action(name="update_address", arguments={"user_id": 5, "city": "Quito"})
        )
        read = wm.step(session.id, Action(name="get_user", arguments={"user_id": 5}))
        cities[writers] = json.loads(read.content)["city"]
    assert cities[("update_address",)] == "Quito" and cities[()] != "Quito"


def test_the_calls_own_arguments_show_in_its_answer_before_the_session_showed_any_record(
    built_model: Path,
) -> None:
    """With the overlay on, the current call's own arguments are the strongest record, even
    when nothing the session showed was a record yet (a message before it)."""
    wm = with_every_part(built_model)
    session = wm.new_session(task="t")
    wm.step(session.id, Action(kind=ActionKind.MESSAGE, content="hello"))
    read = wm.step(session.id, Action(name="get_order", arguments={"order_id": 987654}))
    recalled = json.loads(read.content)
    field = next(k for k, v in recalled.items() if k != "order_id" and isinstance(v, str))
    session = wm.new_session(task="t")
    wm.step(session.id, Action(kind=ActionKind.MESSAGE, content="hello"))
    asked = Action(name="get_order", arguments={"order_id": 987654, field: "GIVEN"})
    assert json.loads(wm.step(session.id, asked).content)[field] == "GIVEN"


def test_a_session_whose_history_was_replaced_by_as_long_a_one_is_remembered_anew(
    built_model: Path,
) -> None:
    """A session of the same id whose history was replaced by one of the same length, or longer,
    but with another action where the remembered last one was, is read anew: the answer the old
    history showed is not replayed (a bug keeping the old memory would answer "first answer")."""
    from wmh.core.types import Observation, Session, Turn
    from wmh.engine.predictor import PredictionContext

    wm = with_every_part(built_model)
    lookup = Action(name="get_order", arguments={"order_id": 987654})
    other = Action(name="get_user", arguments={"user_id": 987654})
    another = Action(name="get_user", arguments={"user_id": 5})
    before = Session(
        id="s",
        task="t",
        history=[Turn(action=lookup, observation=Observation(content="first answer"))],
    )
    assert wm.predictor.predict(PredictionContext(before, lookup)).content == "first answer"
    for replaced in ([other], [other, another]):
        wm.predictor.predict(PredictionContext(before, lookup))  # remembered as before
        after = Session(
            id="s",
            task="t",
            history=[Turn(action=a, observation=Observation(content="user")) for a in replaced],
        )
        again = wm.predictor.predict(PredictionContext(after, lookup))
        assert again.metadata["source"] != "session_replay"
        assert again.content != "first answer"


def test_a_consensus_is_taken_among_as_many_nearest_answers_as_the_policy_says(
    built_model: Path,
) -> None:
    """With ten neighbours retrieved (top_k) and a consensus of three, the answer is the one
    most in agreement among the nearest three, as the fit measured it: a bug taking the
    consensus over all ten would answer some calls with a farther neighbour's answer."""
    import numpy as np

    from wmh.core.types import Session
    from wmh.engine.agreement import consensus_index, signature
    from wmh.engine.policy import ReplayPolicy
    from wmh.engine.predictor import PredictionContext, context_query
    from wmh.engine.replay import ReplayPredictor

    wm, _ = load_world_model(built_model)
    policy = ReplayPolicy(
        session_replay=False, corpus_replay=False, consensus=3, adapt=False, overlay=False
    )
    replay = ReplayPredictor(
        wm.predictor.retriever,
        wm.predictor.error_style,
        top_k=10,
        policies=ReplayPolicies(default=policy),
    )
    table = replay.retriever.table

    def pick(pool: list) -> str:  # type: ignore[type-arg]
        signatures = np.stack([signature(table.observation_of(n.row)[0]) for n in pool])
        nearness = np.array([n.score for n in pool], dtype=np.float32)
        return pool[consensus_index(signatures, nearness)].step.id

    differ = 0
    for row in range(0, len(table), 7):
        step = table.step(row)
        context = PredictionContext(Session(id=f"s{row}", task=step.task), step.action)
        neighbours = replay.retriever.neighbours(context_query(context), 10, policy.weights())
        if len(neighbours) < 10:
            continue
        answer = replay.predict(context)
        assert answer.metadata["from_step"] == pick(neighbours[:3])
        differ += pick(neighbours[:3]) != pick(neighbours)
    assert differ  # for some calls the ten nearest agree on another answer than the three


def test_a_message_is_replayed_whatever_blanks_surround_it() -> None:
    """A message's replay identity is its text without the blanks around it: "thanks\n" missed
    the recorded answer to "thanks". Inside the text, blanks still count."""
    said = Action(kind=ActionKind.MESSAGE, content="thanks")
    for sent in ("thanks\n", "  thanks ", "\tthanks"):
        assert Action(kind=ActionKind.MESSAGE, content=sent).key() == said.key()
    assert Action(kind=ActionKind.MESSAGE, content="thank s").key() != said.key()


def test_without_the_learnt_error_style_an_unknown_tool_gets_the_neutral_error(
    built_model: Path,
) -> None:
    from wmh.engine.learnt import ErrorStyle
    from wmh.engine.replay import ReplayPredictor

    wm, _ = load_world_model(built_model)
    learnt = ErrorStyle(template="ToolNotFound: no tool named {tool}", learnt=True)
    styled = ReplayPredictor(wm.predictor.retriever, learnt, policies=ReplayPolicies())
    rocket = Action(name="launch_rocket", arguments={})
    for policies, said in (
        (ReplayPolicies(), "ToolNotFound: no tool named launch_rocket"),
        (ReplayPolicies().without("error_style"), "Error: unknown tool 'launch_rocket'"),
    ):
        wm.predictor = styled.with_policies(policies)
        observation = wm.step(wm.new_session().id, rocket)
        assert (observation.is_error, observation.metadata["source"]) == (True, "unknown_tool")
        assert observation.content == said


def test_switched_off_session_replay_and_adaptation_are_not_used(built_model: Path) -> None:
    """The same call again answers from the session only with session replay on; a neighbour's
    answer takes the call's own values only with adaptation on (off: the recorded answer as it
    is, from the same recorded step)."""
    action = Action(name="get_order", arguments={"order_id": 987654})
    sources = {}
    answers = {}
    for part in ("none", "session_replay", "adapt"):
        wm = with_every_part(built_model)
        if part != "none":
            wm.predictor = wm.predictor.with_policies(ReplayPolicies().without(part))
        session = wm.new_session(task="check order")
        first = wm.step(session.id, action)
        again = wm.step(session.id, action)
        sources[part] = (first.metadata["source"], again.metadata["source"])
        answers[part] = (first.content, first.metadata["from_step"])
    assert sources["none"] == ("adapted_neighbour", "session_replay")
    assert sources["session_replay"] == ("adapted_neighbour", "adapted_neighbour")
    assert sources["adapt"] == ("nearest_copy", "session_replay")
    # Not adapted: the very recorded answer of the step the adapted one was taken from.
    recorded = wm.retriever.table
    from_step = answers["adapt"][1]
    assert from_step == answers["none"][1]
    row = next(r for r in range(len(recorded)) if recorded.step(r).id == from_step)
    assert answers["adapt"][0] == recorded.step(row).observation.content
    assert "987654" in answers["none"][0] and "987654" not in answers["adapt"][0]
