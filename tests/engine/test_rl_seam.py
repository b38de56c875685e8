"""The RL seam in process: seed states, usage records, scored sessions, scenarios, episodes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fake_llm import FakeLLM, Reply
from wmh import Action, EnvState, WmhError
from wmh.config.schema import ProviderConfig, RewardConfig
from wmh.core.reward import RewardVerdict
from wmh.core.types import Trace
from wmh.engine import usage as usage_module
from wmh.env import StopReason, WorldModelEnv, run_episode, scenarios_from_traces
from wmh.errors import ConfigError, SessionNotFoundError
from wmh.scoring.factory import make_reward
from wmh.store.loader import load_world_model
from wmh.store.splits import read_part

CANARY = "sk-canary-3f9a1c77"


def _get_user(user: int) -> Action:
    return Action(name="get_user", arguments={"user_id": user})


def test_a_seed_state_is_what_the_session_has_already_seen(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    plain = json.loads(wm.step(wm.new_session("find user 3").id, _get_user(3)).content)
    seeded = wm.new_session(
        "find user 3", seed_state={"users": [{"user_id": 3, "name": "Ada", "city": "Oslo"}]}
    )
    assert seeded.state.structured["users"][0]["city"] == "Oslo"
    answer = json.loads(wm.step(seeded.id, _get_user(3)).content)
    assert plain["city"] != "Oslo"  # the recordings never put user 3 in Oslo
    assert (answer["name"], answer["city"]) == ("Ada", "Oslo")


@pytest.mark.parametrize(
    ("seed", "said"),
    [
        ("abc", "the seed state must be its records as a mapping (or an EnvState, or "),
        ([1, 2], "got list"),
        ({"structured": 5}, "the seed state: structured: Input should be a valid dictionary"),
    ],
)
def test_a_seed_state_of_the_wrong_type_is_said_so(
    built_model: Path, seed: object, said: str
) -> None:
    """`new_session(seed_state="abc")` was dict()'s "dictionary update sequence element #0"."""
    wm, _ = load_world_model(built_model)
    with pytest.raises(WmhError) as refused:
        wm.new_session("t", seed_state=seed)  # type: ignore[arg-type]
    assert said in str(refused.value)


def test_a_seed_state_is_the_sessions_own_copy(built_model: Path) -> None:
    """A session held the caller's seed records themselves: changing them for the next
    scenario changed what the running session had already seen. A seed state in its JSON form
    (`structured` alone) is read as that form, not as records named `structured`."""
    wm, _ = load_world_model(built_model)
    seed = {"users": [{"user_id": 3, "name": "Ada", "city": "Oslo"}]}
    as_records = wm.new_session("find user 3", seed_state=seed)
    as_state = wm.new_session("find user 3", seed_state=EnvState(structured=seed))
    as_json = wm.new_session("find user 3", seed_state={"structured": seed})
    seed["users"][0]["city"] = "Paris"  # the caller prepares its next scenario
    for session in (as_records, as_state, as_json):
        assert wm.session(session.id).state.structured == {
            "users": [{"user_id": 3, "name": "Ada", "city": "Oslo"}]
        }
        assert json.loads(wm.step(session.id, _get_user(3)).content)["city"] == "Oslo"


def test_usage_is_metered_per_session_and_ending_frees_it(
    built_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wm, _ = load_world_model(built_model)
    session = wm.new_session("look around")
    for user in (1, 2, 3):
        wm.step(session.id, _get_user(user))
    started = wm.session(session.id).created_at
    monkeypatch.setattr(usage_module, "time", SimpleNamespace(time=lambda: started + 2.5))
    usage = wm.session_usage(session.id)
    assert usage.steps == 3 and usage.session_id == session.id
    assert usage.total.calls == 0 and set(usage.by_phase) == {"serve", "judge"}
    assert usage.duration_seconds == 2.5  # the wall time since the session was created
    monkeypatch.setattr(usage_module, "time", SimpleNamespace(time=lambda: started + 7.25))
    final = wm.end_session(session.id)
    assert final.steps == 3 and final.duration_seconds == 7.25
    with pytest.raises(SessionNotFoundError):
        wm.session(session.id)


def test_scoring_needs_a_judge_and_says_which(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    session = wm.new_session("t")
    with pytest.raises(ConfigError, match="reward=rubric"):
        wm.score_session(session.id)


def test_a_rubric_scored_session_meters_the_judge_apart_and_keeps_no_secret(
    built_model: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    verdict = {"steps": [1, 0.5], "episode": 0.75, "success": True, "critique": "found {them}"}
    fake_llm.default = Reply(json.dumps(verdict), prompt_tokens=40, completion_tokens=9)
    judge = make_reward(
        RewardConfig(name="rubric", model="openai/grader"),
        ProviderConfig(name="openai_compatible", api_base=fake_llm.api_base, num_retries=0),
    )
    wm, _ = load_world_model(built_model)
    wm.reward = judge
    session = wm.new_session("find users 1 and 2")
    wm.step(session.id, _get_user(1))
    wm.step(session.id, _get_user(2))
    score = wm.score_session(session.id)
    assert (score.reward, score.success, score.step_rewards) == (0.75, True, [1.0, 0.5])
    assert score.critique == "found {them}"
    after = wm.session(session.id)
    assert after.score == score and after.history[-1].observation.reward == 0.75
    usage = wm.session_usage(session.id)
    # the judge's one call, as the scripted server counted it; the world model's none
    assert len(fake_llm.requests) == 1 and usage.by_phase["judge"].calls == 1
    assert (usage.by_phase["judge"].input_tokens, usage.by_phase["judge"].output_tokens) == (40, 9)
    assert usage.by_phase["serve"].calls == 0 and usage.total.input_tokens == 40
    shown = usage.model_dump_json() + score.model_dump_json() + after.model_dump_json()
    assert CANARY not in shown


class _Fixed:
    """A judge giving every episode the same grade."""

    def __init__(self, episode: float, name: str = "fixed") -> None:
        self.episode = episode
        self.name = name

    def judge(self, task: str, turns: list) -> RewardVerdict:
        return RewardVerdict(self.episode, [self.episode] * len(turns), self.name, True)


def test_a_judge_passed_to_score_session_is_the_one_asked_and_its_grade_kept_in_0_1(
    built_model: Path,
) -> None:
    """`score_session(id, judge)` asked the model's own judge when it had one; a grade past
    [0, 1] (an LLM's 1.2) failed the score's validation instead of being clipped to it."""
    wm, _ = load_world_model(built_model)
    wm.reward = _Fixed(0.25, "the model's")
    session = wm.new_session("find user 1")
    wm.step(session.id, _get_user(1))
    assert wm.score_session(session.id).critique == "the model's"
    passed = wm.score_session(session.id, _Fixed(0.5, "passed"))
    assert (passed.critique, passed.reward) == ("passed", 0.5)
    assert wm.score_session(session.id, _Fixed(1.2)).reward == 1.0
    assert wm.score_session(session.id, _Fixed(-0.3)).reward == 0.0
    assert wm.session(session.id).history[-1].observation.reward == 0.0


def test_scenarios_are_seeded_distinct_tasks_with_their_records(built_model: Path) -> None:
    traces = read_part(built_model, "test")
    first = scenarios_from_traces(traces, count=3, seed=1)
    again = scenarios_from_traces(list(reversed(traces)), count=3, seed=1)
    other = scenarios_from_traces(traces, count=3, seed=2)
    assert first == again and len(first) == 3 and first != other
    assert len({s.task for s in first}) == 3
    by_id = {t.trace_id: t for t in traces}
    for scenario in first:
        trace: Trace = by_id[scenario.trace_id]
        assert scenario.task == trace.task
        shown = []
        for step in trace.steps:
            if not step.observation.is_error:
                value = json.loads(step.observation.content)
                shown += value if isinstance(value, list) else [value]
        ids = {r.get("user_id") or r.get("order_id") for r in shown if isinstance(r, dict)}
        records = scenario.seed_state.structured.get("records", [])
        assert records and {r.get("user_id") or r.get("order_id") for r in records} == ids


def test_a_recorded_nan_seeds_a_session_as_null_and_a_record_too_deep_is_left_out(
    built_model: Path,
) -> None:
    deep = "[" * 120 + "]" * 120
    observations = [
        '{"user_id": "u1", "balance": NaN, "limits": [Infinity, 2.5]}',
        f'{{"user_id": "u2", "history": {deep}}}',
        '{"user_id": "u3", "name": "Ann"}',
    ]
    trace = Trace.model_validate(
        {
            "trace_id": "t",
            "steps": [
                {"action": {"name": "get_user"}, "observation": {"content": content},
                 "task": "find users", "trace_id": "t", "index": i}
                for i, content in enumerate(observations)
            ],
        }
    )  # fmt: skip
    (scenario,) = scenarios_from_traces([trace])
    records = [
        {"user_id": "u1", "balance": None, "limits": [None, 2.5]},
        {"user_id": "u3", "name": "Ann"},
    ]
    assert scenario.seed_state.structured == {"records": records}
    wm, _ = load_world_model(built_model)
    session = wm.new_session(scenario.task, seed_state=scenario.seed_state)
    assert session.state.structured == {"records": records}


def test_a_record_shown_only_in_an_error_answer_is_not_seeded() -> None:
    """An error answer that names a record (`{"user_id": "u9", "error": "not found"}`) shows
    no record the environment holds: it entered the seed state as one."""
    observations = [
        ('{"user_id": "u9", "error": "no such user"}', True),
        ('{"user_id": "u1", "name": "Ann"}', False),
    ]
    trace = Trace.model_validate(
        {
            "trace_id": "t",
            "steps": [
                {"action": {"name": "get_user"},
                 "observation": {"content": content, "is_error": is_error},
                 "task": "find users", "trace_id": "t", "index": i}
                for i, (content, is_error) in enumerate(observations)
            ],
        }
    )  # fmt: skip
    (scenario,) = scenarios_from_traces([trace])
    assert scenario.seed_state.structured == {"records": [{"user_id": "u1", "name": "Ann"}]}


class _Script:
    name = "script"

    def __init__(self, actions: list[Action | None], fail_at: int | None = None) -> None:
        self.actions = actions
        self.fail_at = fail_at

    def act(self, task: str, history: list) -> Action | None:
        if self.fail_at is not None and len(history) == self.fail_at:
            raise RuntimeError("the agent broke")
        return self.actions[len(history)] if len(history) < len(self.actions) else None


def test_an_episode_says_why_it_stopped(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    env = WorldModelEnv(wm)
    done = run_episode(env, _Script([_get_user(1), None]), "t", max_steps=5)
    assert done.stop_reason is StopReason.DONE and len(done.steps) == 1 and not done.error
    capped = run_episode(env, _Script([_get_user(1)] * 9), "t", max_steps=3)
    assert capped.stop_reason is StopReason.MAX_STEPS and capped.truncated
    broken = run_episode(env, _Script([_get_user(1)] * 9, fail_at=2), "t", max_steps=5)
    assert broken.stop_reason is StopReason.ERROR and len(broken.steps) == 2
    assert broken.error == "RuntimeError: the agent broke"
    env.close()


class _NoErrors:
    """A programmatic check, as an example's env.py supplies one: a step earns 1 unless the
    environment answered it with an error; the episode succeeds when none did."""

    name = "no_errors"

    def judge(self, task: str, turns: list) -> RewardVerdict:
        steps = [0.0 if t.observation.is_error else 1.0 for t in turns]
        return RewardVerdict(sum(steps) / max(len(steps), 1), steps, "", all(steps))


def test_score_on_close_scores_the_episode_and_ends_the_session(built_model: Path) -> None:
    wm, _ = load_world_model(built_model)
    wm.reward = _NoErrors()
    env = WorldModelEnv(wm, score_on_close=True)
    actions = [_get_user(1), Action(name="no_such_tool"), _get_user(2)]
    episode = run_episode(env, _Script(actions), "t", seed_state=EnvState(), score_on_close=True)
    assert episode.score is not None and episode.score.step_rewards == [1.0, 0.0, 1.0]
    assert episode.score.reward == pytest.approx(2 / 3) and not episode.score.success
    assert env.session_id is None and env.usage is not None and env.usage.steps == 3
    with pytest.raises(WmhError):
        env.step(_get_user(1))


def test_a_reset_forgets_the_last_episodes_score(built_model: Path) -> None:
    """`last_score` is the score of the episode under way: after a reset it still held the last
    episode's, which a training loop read as the new episode's."""
    wm, _ = load_world_model(built_model)
    wm.reward = _NoErrors()
    env = WorldModelEnv(wm)
    env.reset("find user 1")
    env.step(_get_user(1))
    assert env.score().success and env.last_score is not None
    env.reset("find user 2")
    assert env.last_score is None
    env.close()


def test_an_episode_that_broke_is_judged_on_the_steps_it_took(built_model: Path) -> None:
    """An agent that raised at its third step ended an episode whose reward judge was shown no
    turn at all: its two good steps got no reward, and the episode 0."""
    wm, _ = load_world_model(built_model)
    script = _Script([_get_user(1), _get_user(2)] * 3, fail_at=2)
    broken = run_episode(WorldModelEnv(wm), script, "t", max_steps=5, reward=_NoErrors())
    assert broken.stop_reason is StopReason.ERROR
    assert broken.rewards == [1.0, 1.0] and broken.reward == 1.0


def test_an_episode_that_could_not_be_scored_or_has_no_step_is_refused_before_it_runs(
    built_model: Path,
) -> None:
    """Scoring on close without a judge failed after the whole episode (lost, its session left
    open); max_steps=-1 ran nothing and reported `max_steps`."""
    wm, _ = load_world_model(built_model)
    script = _Script([_get_user(1)])
    with pytest.raises(ConfigError, match="has no reward judge to score episodes with"):
        WorldModelEnv(wm, score_on_close=True)
    with pytest.raises(ConfigError, match="score_on_close needs an environment that can score"):
        run_episode(WorldModelEnv(wm), script, "t", score_on_close=True)
    with pytest.raises(ConfigError, match="max_steps must be at least 1, got -1"):
        run_episode(WorldModelEnv(wm), script, "t", max_steps=-1)
    assert len(wm.sessions) == 0  # no session was started
    with pytest.raises(ConfigError, match="count must be at least 1"):
        scenarios_from_traces(read_part(built_model, "test"), count=0)


def test_scoring_an_unknown_session_is_that_first_even_with_no_judge(built_model: Path) -> None:
    """A model with no reward judge answered an unknown session's score with 'no reward judge'
    (a 400 over HTTP) where a model with one answered 'no session' (404)."""
    from wmh.errors import SessionNotFoundError

    wm, _ = load_world_model(built_model)
    with pytest.raises(SessionNotFoundError):
        wm.score_session("nope")
    session = wm.new_session("t")
    with pytest.raises(ConfigError, match="has no reward judge"):
        wm.score_session(session.id)


class _Graded:
    """A judge giving a set grade, with or without its own word on success."""

    name = "graded"

    def __init__(self, episode: float, success: bool | None = None) -> None:
        self.episode = episode
        self.success = success

    def judge(self, task: str, turns: list) -> RewardVerdict:
        return RewardVerdict(self.episode, [self.episode] * len(turns), "", self.success)


def test_an_episode_graded_at_the_success_bar_succeeded_unless_the_judge_said_otherwise(
    built_model: Path,
) -> None:
    """Without the judge's own word, an episode rewarded SUCCESS_REWARD (0.5) or more succeeded;
    with it, the judge's word holds whatever the grade."""
    wm, _ = load_world_model(built_model)
    session = wm.new_session("find user 1")
    wm.step(session.id, _get_user(1))
    graded = {
        (grade, said): wm.score_session(session.id, _Graded(grade, said)).success
        for grade, said in ((0.5, None), (0.49, None), (0.9, False), (0.1, True))
    }
    assert graded == {
        (0.5, None): True,
        (0.49, None): False,
        (0.9, False): False,
        (0.1, True): True,
    }


def test_a_usage_record_is_run_and_session_the_same_id(built_model: Path) -> None:
    """The leading harness's `RunRecord` names the run by `run_id`: a session's record must give
    the session's own id there, in process and once the session has ended."""
    wm, _ = load_world_model(built_model)
    session = wm.new_session("find user 1")
    wm.step(session.id, _get_user(1))
    live = wm.session_usage(session.id)
    assert (live.run_id, live.session_id, live.kind) == (session.id, session.id, "serve")
    final = wm.end_session(session.id)
    assert (final.run_id, final.session_id) == (session.id, session.id)


def test_a_trace_without_a_task_gives_no_scenario() -> None:
    """A scenario is a task to give an agent: a trace recorded with a blank task has none."""

    def trace(trace_id: str, task: str) -> Trace:
        step = {"action": {"name": "get_user"}, "observation": {"content": '{"user_id": "u1"}'},
                "task": task, "trace_id": trace_id, "index": 0}  # fmt: skip
        return Trace.model_validate({"trace_id": trace_id, "steps": [step]})

    traces = [trace("a", ""), trace("b", "   "), trace("c", "find user u1")]
    for seed in range(5):
        assert [s.trace_id for s in scenarios_from_traces(traces, seed=seed)] == ["c"]
        assert [s.task for s in scenarios_from_traces(traces, count=2, seed=seed)] == [
            "find user u1"
        ]


def test_a_judge_that_fails_on_close_still_ends_the_episode(built_model: Path) -> None:
    """Its error is raised, and the session ends: the env held it, and every later `reset`
    failed on closing it again."""
    from wmh.errors import ProviderError

    class _Failing:
        name = "failing"
        calls = 0

        def judge(self, task: str, turns: list) -> RewardVerdict:
            self.calls += 1
            if self.calls == 1:
                raise ProviderError("the reward judge's answer holds no JSON verdict: 'hm'")
            return RewardVerdict(1.0, [1.0] * len(turns), "")

    wm, _ = load_world_model(built_model)
    wm.reward = _Failing()
    env = WorldModelEnv(wm, score_on_close=True)
    env.reset("find user 1")
    first = env.session_id
    env.step(_get_user(1))
    with pytest.raises(ProviderError, match="holds no JSON verdict"):
        env.close()
    assert env.session_id is None and env.usage is not None and env.usage.steps == 1
    with pytest.raises(SessionNotFoundError):
        wm.session(first)
    env.reset("find user 2")  # it raised the judge's error again, from closing the old session
    env.step(_get_user(2))
    env.close()
    assert env.last_score is not None and env.last_score.reward == 1.0
