"""The LLM world model, end to end over HTTP against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fake_llm import FakeLLM, Reply, echo_environment
from wmh.core.text import estimate_tokens
from wmh.core.types import Action
from wmh.engine.llm_prompt import PromptBudget, parse_answer, render_prompt
from wmh.eval.service import EvalOptions, evaluate
from wmh.pipeline.build import build_world_model
from wmh.providers.llm import PING
from wmh.store.loader import load_world_model


def llm_overrides(fake: FakeLLM, *extra: str) -> list[str]:
    return [
        "provider=openai_compatible",
        "provider.model=openai/env-model",
        f"provider.api_base={fake.api_base}",
        "provider.num_retries=0",
        "provider.timeout=5",
        *extra,
    ]


@pytest.fixture
def llm_model(tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM) -> Path:
    fake_llm.default = echo_environment
    settings = make_settings(tmp_path, "llm", [synthetic_corpus], *llm_overrides(fake_llm))
    return build_world_model(settings).path


def test_build_eval_and_step_with_an_openai_compatible_provider(
    llm_model: Path, fake_llm: FakeLLM
) -> None:
    card = json.loads((llm_model / "model.json").read_text())
    assert card["provider"] == "openai_compatible" and card["predictor"] == "llm"
    heldout = json.loads((llm_model / "metrics.json").read_text())["heldout"]
    assert heldout["usage"]["calls"] > 0 and heldout["usage"]["prompt_tokens"] > 0
    wm, provider = load_world_model(llm_model)
    assert provider.name == "openai_compatible"
    session = wm.new_session(task="find user 424242")
    before = len(fake_llm.requests)
    observation = wm.step(session.id, Action(name="get_user", arguments={"user_id": 424242}))
    assert len(fake_llm.requests) == before + 1
    assert json.loads(observation.content) == {"echo": {"user_id": 424242}}
    state = wm.session(session.id).state
    assert state.scratchpad == "saw the action"
    usage = wm.session_usage(session.id)
    assert usage.by_phase["serve"].input_tokens == 11
    assert usage.by_phase["serve"].output_tokens == 7 and usage.by_phase["serve"].calls == 1
    before = len(fake_llm.requests)
    report = evaluate(
        name="llm",
        root=llm_model.parent.parent,
        options=EvalOptions(limit=2, sample_turns="first", track=False),
    )
    assert report.overall.steps == 2
    assert report.usage["calls"] == len(fake_llm.requests) - before  # as the server counted


def test_each_call_says_where_the_answer_ends_and_how_long_it_may_be(
    llm_model: Path, fake_llm: FakeLLM
) -> None:
    from wmh.core.text import estimate_tokens
    from wmh.core.types import Step

    recorded = [
        Step.model_validate_json(line)
        for part in ("train", "valid", "test")
        for line in (llm_model / "steps" / f"{part}.jsonl").read_bytes().splitlines()
        if line
    ]
    longest = max(
        estimate_tokens(s.observation.content) for s in recorded if s.action.name == "get_user"
    )
    wm, _ = load_world_model(llm_model)
    # The server stops at the closing tag and leaves it out: the notes are still read.
    fake_llm.script = [Reply('<observation is_error="false">\n{"id": 1}\n</observation>\n'
                             "<scratchpad>\nuser 1 exists")]  # fmt: skip
    session = wm.new_session(task="t")
    observation = wm.step(session.id, Action(name="get_user", arguments={"user_id": 999111}))
    sent = fake_llm.requests[-1]
    assert sent["stop"] == ["</scratchpad>"]
    assert sent["max_tokens"] == min(1024, int(longest * 1.5) + 256) < 1024
    assert observation.content == '{"id": 1}' and observation.metadata["source"] == "llm"
    assert wm.session(session.id).state.scratchpad == "user 1 exists"


def test_a_json_schema_answer_is_held_to_its_shape_and_length_by_the_server(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    from wmh.core.types import Step

    fake_llm.default = echo_environment
    settings = make_settings(
        tmp_path, "js", [synthetic_corpus],
        *llm_overrides(fake_llm, "provider.answer_format=json_schema"),
    )  # fmt: skip
    model = build_world_model(settings).path
    recorded = [
        Step.model_validate_json(line)
        for line in (model / "steps" / "train.jsonl").read_bytes().splitlines()
        if line
    ]
    longest = max(len(s.observation.content) for s in recorded if s.action.name == "get_user")
    wm, _ = load_world_model(model)
    fake_llm.script = [
        Reply(json.dumps({"observation": '{"id": 1}', "is_error": True, "scratchpad": " u1 "}))
    ]
    session = wm.new_session(task="t")
    observation = wm.step(session.id, Action(name="get_user", arguments={"user_id": 999111}))
    sent = fake_llm.requests[-1]
    assert "stop" not in sent  # the schema ends the answer
    schema = sent["response_format"]["json_schema"]["schema"]
    assert sent["response_format"]["type"] == "json_schema"
    assert schema["required"] == ["observation", "is_error", "scratchpad"]
    assert not schema["additionalProperties"]
    # Half again the longest get_user answer the index holds: max_tokens is sized to write it
    # and the notes at two characters a token, beside the keys.
    limit = schema["properties"]["observation"]["maxLength"]
    notes = schema["properties"]["scratchpad"]["maxLength"]
    assert limit == int(longest * 1.5)
    assert sent["max_tokens"] == (limit + 400) // 2 + 32 and notes == (sent["max_tokens"] - 32) // 2
    assert '"is_error": true when' in sent["messages"][-1]["content"]
    assert observation.content == '{"id": 1}' and observation.is_error
    assert observation.metadata["source"] == "llm"
    assert observation.metadata["finish_reason"] == "stop"
    assert "observation_at_limit" not in observation.metadata
    assert wm.session(session.id).state.scratchpad == "u1"
    # An answer the schema held to its full length says so.
    fake_llm.script = [
        lambda body: Reply(
            json.dumps(
                {
                    "observation": "x"
                    * body["response_format"]["json_schema"]["schema"]["properties"]["observation"][
                        "maxLength"
                    ],
                    "is_error": False,
                    "scratchpad": "",
                }
            )
        )
    ]
    full = wm.step(session.id, Action(name="get_user", arguments={"user_id": 999112}))
    assert full.metadata["observation_at_limit"] == len(full.content) == limit


def test_a_json_answer_has_room_for_the_longest_recorded_observation_within_max_tokens() -> None:
    from wmh.engine.llm import answer_lengths, json_answer_budget

    # 1,000 characters recorded: 1,500 allowed, and max_tokens room for them and 400 of notes.
    tokens = json_answer_budget(1000, 1024)
    assert tokens == 982 and answer_lengths(1000, tokens) == (1500, 400)
    # A cap below that: the observation gets what the cap can write, the notes at most a quarter.
    assert json_answer_budget(3000, 1024) == 1024
    assert answer_lengths(3000, 1024) == (1984 - 400, 400)
    assert answer_lengths(100, 40) == (12, 4)  # 16 characters of room
    assert answer_lengths(100, 10) == (1, 0)  # no room at all: still a valid schema
    assert answer_lengths(0, 232) == (300, 100)  # nothing recorded: the room, less the notes


def test_an_unknown_answer_format_is_refused(fake_llm: FakeLLM) -> None:
    from wmh.config.schema import ProviderConfig
    from wmh.errors import ConfigError
    from wmh.providers.llm import LLMProvider

    config = ProviderConfig(name="openai_compatible", model="openai/m", answer_format="xml")
    with pytest.raises(ConfigError, match="answer_format must be one of tags, json_schema"):
        LLMProvider(config)


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ({"max_tokens": 0}, "provider.max_tokens must be at least 1, got 0"),  # was sent as 1
        ({"timeout": 0.0}, "provider.timeout must be a number of seconds above 0, got 0.0"),
        ({"timeout": float("nan")}, "provider.timeout must be a number of seconds above 0"),
        ({"num_retries": -1}, "provider.num_retries must be 0 or more, got -1"),
        ({"context_window": -5}, "provider.context_window must be 0 (any) or more, got -5"),
        ({"build_time_s": 0.0}, "provider.build_time_s must be a number of seconds above 0"),
        ({"max_error_share": -1.0}, "provider.max_error_share must be from 0 to 1, got -1.0"),
        ({"max_error_share": 1.5}, "provider.max_error_share must be from 0 to 1, got 1.5"),
    ],
)
def test_a_provider_setting_no_call_can_use_is_refused(override: dict, said: str) -> None:
    """`timeout=0` was reported as 'cannot reach' the server, `max_tokens=0` sent as 1, and a
    negative error share refused every build, each without naming the setting."""
    from wmh.config.schema import ProviderConfig
    from wmh.errors import ConfigError
    from wmh.providers.llm import LLMProvider

    config = ProviderConfig(name="openai_compatible", model="openai/m", **override)
    with pytest.raises(ConfigError, match=re.escape(said)):
        LLMProvider(config)
    unbounded = {"timeout": float("inf"), "build_time_s": float("inf")}  # no limit: taken
    LLMProvider(ProviderConfig(name="openai_compatible", model="openai/m", **unbounded))


def test_a_prompt_and_its_answer_fit_the_servers_context_window(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    from wmh.core.text import estimate_tokens

    fake_llm.default = echo_environment
    window = 1400
    settings = make_settings(
        tmp_path, "small", [synthetic_corpus],
        *llm_overrides(fake_llm, f"provider.context_window={window}"),
    )  # fmt: skip
    wm, _ = load_world_model(build_world_model(settings).path)
    session = wm.new_session(task="Move customer 777777 to Lima " * 40)
    for city in ("Lima", "Quito", "Cusco", "Arequipa", "Trujillo", "Piura"):
        wm.step(session.id, Action(name="update_address", arguments={"user_id": 7, "city": city}))
    wm.step(session.id, Action(name="get_user", arguments={"user_id": 777777}))
    sent = fake_llm.requests[-1]
    prompt = sum(estimate_tokens(m["content"]) for m in sent["messages"])
    # Without a window the same call asks for a prompt of about 2,000 tokens.
    assert sent["max_tokens"] <= window // 2
    assert prompt <= int((window - sent["max_tokens"]) * 0.8)
    assert prompt + sent["max_tokens"] <= window


def test_every_call_fits_a_window_smaller_than_the_prompts_fixed_part(
    tmp_path: Path, fake_llm: FakeLLM
) -> None:
    """The instructions, the answer format and the action are never cut: in a 1,024-token
    window they came to more than the prompt's share, and 40 of 68 calls of an airline build
    asked for more than the window (a real server refuses such a call)."""
    from wmh.core.text import estimate_tokens

    fake_llm.default = echo_environment
    window = 1024
    airline = Path(__file__).resolve().parents[2] / "examples" / "airline" / "traces.otel.jsonl"
    settings = make_settings(
        tmp_path, "small", [airline], *llm_overrides(fake_llm, f"provider.context_window={window}")
    )
    build_world_model(settings)
    calls = [r for r in fake_llm.requests if r["messages"] != PING]
    assert len(calls) > 20
    over = [
        (prompt, sent["max_tokens"])
        for sent in calls
        if (prompt := sum(estimate_tokens(m["content"]) for m in sent["messages"]))
        + sent["max_tokens"]
        > window
    ]
    assert over == []


def test_a_window_with_no_room_for_an_answer_makes_no_call(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    """A call whose prompt alone fills the window was sent with max_tokens=1 (or, under about
    640 tokens, not fitted at all): an answer nothing could be written in. It is not made; the
    step answers why, naming the setting."""
    fake_llm.default = echo_environment
    settings = make_settings(tmp_path, "fits", [synthetic_corpus], *llm_overrides(fake_llm))
    wm, _ = load_world_model(build_world_model(settings).path)
    wm.predictor.provider.config.context_window = 300  # type: ignore[attr-defined]
    sent = len(fake_llm.requests)
    session = wm.new_session(task="Move customer 777777 to Lima")
    answer = wm.step(session.id, Action(name="get_user", arguments={"user_id": 777777}))
    assert answer.is_error and "provider.context_window=300 leaves" in answer.content
    assert len(fake_llm.requests) == sent
    wm.predictor.provider.config.context_window = 1000  # room for a short answer: made
    assert not wm.step(session.id, Action(name="get_user", arguments={"user_id": 7})).is_error
    (call,) = fake_llm.requests[sent:]
    prompt = sum(estimate_tokens(m["content"]) for m in call["messages"])
    assert 16 <= call["max_tokens"] < 500 and prompt + call["max_tokens"] <= 1000


def test_the_prompt_holds_retrieved_examples_history_and_the_action(
    llm_model: Path, fake_llm: FakeLLM
) -> None:
    wm, _ = load_world_model(llm_model)
    session = wm.new_session(task="Move customer 777777 to Lima")
    wm.step(session.id, Action(name="get_user", arguments={"user_id": 777777}))
    wm.step(
        session.id, Action(name="update_address", arguments={"user_id": 777777, "city": "Lima"})
    )
    messages = fake_llm.requests[-1]["messages"]
    assert messages[0]["role"] == "system" and "You are the environment" in messages[0]["content"]
    prompt = messages[1]["content"]
    assert "Move customer 777777 to Lima" in prompt
    examples = prompt.split("## Recorded examples", 1)[1].split("## This session", 1)[0]
    assert examples.count("Action: update_address") >= 3
    history = prompt.split("## This session so far", 1)[1].split("## The action", 1)[0]
    assert 'Action: get_user {"user_id":777777}' in history
    assert "saw the action" in prompt  # the scratchpad from the previous step


def test_exact_replays_answer_without_calling_the_provider_unless_the_cache_is_off(
    tmp_path: Path, synthetic_corpus: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.default = echo_environment
    cached = build_world_model(
        make_settings(tmp_path, "c", [synthetic_corpus], *llm_overrides(fake_llm))
    )
    wm, _ = load_world_model(cached.path)
    step = wm.retriever.table.step(3)
    before = len(fake_llm.requests)
    observation = wm.step(wm.new_session(task=step.task).id, step.action)
    assert len(fake_llm.requests) == before and observation.content == step.observation.content
    uncached = build_world_model(
        make_settings(
            tmp_path, "u", [synthetic_corpus], *llm_overrides(fake_llm, "predictor.cache=false")
        )
    )
    wm, _ = load_world_model(uncached.path)
    before = len(fake_llm.requests)
    wm.step(wm.new_session(task=step.task).id, step.action)
    assert len(fake_llm.requests) == before + 1


def test_retries_after_429_and_500_then_fallback_then_an_error_observation(
    llm_model: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wmh.config.schema import ProviderConfig
    from wmh.providers.llm import LLMProvider

    base = dict(name="openai_compatible", api_base=fake_llm.api_base, timeout=5)
    fake_llm.script = [Reply(status=429), Reply(status=500), Reply("third time lucky")]
    retried = LLMProvider(ProviderConfig(model="openai/env-model", num_retries=2, **base))
    before = len(fake_llm.requests)
    assert retried.complete([{"role": "user", "content": "hi"}]).text == "third time lucky"
    assert len(fake_llm.requests) - before == 3  # the 429, the 500 and the answer

    fake_llm.script = []
    fake_llm.default = lambda body: (
        Reply(status=500) if body["model"] == "primary" else Reply("from the backup")
    )
    fallback = LLMProvider(
        ProviderConfig(model="openai/primary", num_retries=0, fallbacks=["openai/backup"], **base)
    )
    assert fallback.complete([{"role": "user", "content": "hi"}]).text == "from the backup"

    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-never-shown")
    fake_llm.default = Reply(status=503)
    wm, _ = load_world_model(llm_model)
    session = wm.new_session()
    observation = wm.step(session.id, Action(name="get_user", arguments={"user_id": 31337}))
    assert observation.is_error and observation.metadata["source"] == "provider_error"
    assert "openai/env-model" in observation.content
    # the key went to the provider, whose error answer repeated it; the observation does not
    assert fake_llm.api_keys[-1] == "sk-canary-never-shown"
    assert "sk-canary" not in observation.content
    assert len(wm.session(session.id).history) == 1  # the session goes on


def test_malformed_answers_are_parsed_tolerantly_or_become_errors(
    llm_model: Path, fake_llm: FakeLLM
) -> None:
    wm, _ = load_world_model(llm_model)
    session = wm.new_session()
    fake_llm.script = [Reply("Error: user 5150 not found"), Reply(raw=b"{not json", status=200)]
    loose = wm.step(session.id, Action(name="get_user", arguments={"user_id": 5150}))
    assert loose.content == "Error: user 5150 not found" and loose.is_error
    assert loose.metadata["source"] == "llm_unformatted"
    broken = wm.step(session.id, Action(name="get_user", arguments={"user_id": 5151}))
    assert broken.is_error and broken.metadata["source"] == "provider_error"


def test_the_prompt_budget_is_hard_and_cuts_are_marked(llm_model: Path) -> None:
    from wmh.core.types import Observation, Session, Turn

    wm, _ = load_world_model(llm_model)
    history = [
        Turn(
            action=Action(name="get_user", arguments={"user_id": i}),
            observation=Observation(content="x" * 3000),
        )
        for i in range(60)
    ]
    session = Session(id="s", task="t" * 5000, history=history)
    examples = wm.retriever.neighbours(
        __import__("wmh.retrieval.retriever", fromlist=["Query"]).Query(
            Action(name="get_user", arguments={"user_id": 1})
        ),
        5,
    )
    prompt = render_prompt(
        "be the environment", session, Action(name="get_user"), examples, PromptBudget(total=1500)
    )
    assert prompt.truncated and prompt.tokens <= 1500 * 1.15
    text = prompt.messages[1]["content"]
    assert "earlier turns omitted" in text and "truncated" in text
    history = text.split("## This session so far", 1)[1].split("## The action", 1)[0]
    # 450 tokens of history (30% of 1500) hold one turn of a clipped 3000-character answer
    assert "[… 59 earlier turns omitted" in history
    assert history.count("Action: get_user") == 1 and 'Action: get_user {"user_id":59}' in history


def test_a_json_answer_is_parsed_and_one_cut_short_is_read_as_unformatted() -> None:
    text = '{"observation": "[1, 2]", "is_error": false, "scratchpad": "two"}'
    answer = parse_answer(text, "json_schema")
    assert answer.strict and not answer.observation.is_error
    assert answer.observation.content == "[1, 2]" and answer.scratchpad == "two"
    # In the tags format an object is what the environment printed, whatever its keys.
    assert parse_answer(text).observation.content == text and not parse_answer(text).strict
    cut = parse_answer('{"observation": "Error: user 7 not fou', "json_schema")
    assert not cut.strict and cut.observation.content == '{"observation": "Error: user 7 not fou'
    bare = parse_answer('{"id": 7, "name": "x"}', "json_schema")  # valid JSON, not the object
    assert not bare.strict and bare.observation.content == '{"id": 7, "name": "x"}'
    # What a looping small model writes never raises out of a step.
    for odd in ('{"a": ' + "[" * 3000, '{"observation": "\\ud83d", "is_error": false}',
                '{"observation": "x", "n": ' + "9" * 5000 + "}"):  # fmt: skip
        assert parse_answer(odd, "json_schema").observation.content == odd


def test_strict_format_is_parsed_with_flag_and_scratchpad() -> None:
    answer = parse_answer(
        '<observation is_error="true">\nError: nope\n</observation>\n'
        "<scratchpad>\nuser 3 missing\n</scratchpad>"
    )
    assert answer.strict and answer.observation.is_error
    assert answer.observation.content == "Error: nope" and answer.scratchpad == "user 3 missing"


def test_play_against_an_llm_model_from_the_cli(llm_model: Path, fake_llm: FakeLLM) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wmh",
            "play",
            "--name",
            "llm",
            "--root",
            str(llm_model.parent.parent),
        ],
        input='get_user {"user_id": 8675309}\n',
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert '{"echo": {"user_id": 8675309}}' in done.stdout and "(llm)" in done.stdout


def test_an_answers_max_tokens_is_half_again_the_longest_observation_never_above_the_cap() -> None:
    from wmh.engine.llm import answer_budget

    assert answer_budget(100, 1024) == 150 + 256
    # A tool that once printed a long answer: max_tokens stays at provider.max_tokens.
    assert answer_budget(5000, 1024) == 1024
    assert answer_budget(5000, 64) == 64


def test_answers_outside_the_format_keep_their_flag_and_notes_apart() -> None:
    # Tags without the flag: not an error.
    plain = parse_answer("<observation>\n[1, 2]\n</observation>\n<scratchpad>\nnone\n")
    assert plain.strict and not plain.observation.is_error
    assert plain.observation.content == "[1, 2]" and plain.scratchpad == "none"
    # A bare traceback or exception the model printed is an error answer.
    for text in ("Traceback (most recent call last):\n  boom", "Exception: no such table"):
        loose = parse_answer(text)
        assert not loose.strict and loose.observation.is_error and loose.observation.content == text
    # The notes of an answer without observation tags are not part of what the environment said.
    noted = parse_answer("user 5 exists\n<scratchpad>\nsaw user 5\n</scratchpad>")
    assert not noted.strict and noted.observation.content == "user 5 exists"
    assert noted.scratchpad == "saw user 5" and not noted.observation.is_error


def test_a_tool_the_corpus_never_recorded_may_answer_up_to_max_tokens(
    llm_model: Path, fake_llm: FakeLLM
) -> None:
    """No recorded observation to size the answer by: the call gets all of provider.max_tokens,
    not the room sized for an empty observation."""
    wm, _ = load_world_model(llm_model)
    session = wm.new_session(task="t")
    wm.step(session.id, Action(name="export_all_orders", arguments={"format": "csv"}))
    assert fake_llm.requests[-1]["max_tokens"] == wm.predictor.provider.config.max_tokens == 1024


def test_the_session_so_far_is_shown_oldest_turn_first() -> None:
    from wmh.core.types import Observation, Session, Turn

    history = [
        Turn(
            action=Action(name="get_user", arguments={"user_id": i}),
            observation=Observation(content=f"user {i}"),
        )
        for i in range(4)
    ]
    session = Session(id="s", task="t", history=history)
    prompt = render_prompt("be the environment", session, Action(name="get_user"), [],
                           PromptBudget())  # fmt: skip
    shown = prompt.messages[1]["content"].split("## This session so far", 1)[1]
    places = [shown.index(f'Action: get_user {{"user_id":{i}}}') for i in range(4)]
    assert places == sorted(places) and not prompt.truncated


def test_zero_shot_answers_a_recorded_call_with_the_llm_and_top_k_sets_the_examples_shown(
    llm_model: Path, fake_llm: FakeLLM
) -> None:
    """`top_k=0` (zero-shot) takes nothing from the corpus, not even an exact replay of a
    recorded call; `top_k=k` shows k examples."""
    from wmh.store.settings import model_settings

    settings = model_settings(llm_model)
    settings.retrieval.top_k = 0
    wm, _ = load_world_model(llm_model, settings=settings)
    step = wm.retriever.table.step(3)
    before = len(fake_llm.requests)
    answer = wm.step(wm.new_session(task=step.task).id, step.action)
    assert len(fake_llm.requests) == before + 1 and answer.metadata["source"] == "llm"
    assert answer.metadata["examples"] == 0
    settings.retrieval.top_k = 3
    wm, _ = load_world_model(llm_model, settings=settings)
    answer = wm.step(wm.new_session(task="t").id, Action(name="get_user", arguments={"user_id": 8}))
    assert answer.metadata["examples"] == 3
    shown = fake_llm.requests[-1]["messages"][1]["content"]
    examples = shown.split("## Recorded examples", 1)[1].split("## This session", 1)[0]
    assert examples.count("Action: get_user") == 3


def test_a_prompt_shows_the_seed_records_and_says_when_examples_were_cut(llm_model: Path) -> None:
    from wmh.core.types import EnvState, Session
    from wmh.retrieval.retriever import Query

    wm, _ = load_world_model(llm_model)
    examples = wm.retriever.neighbours(Query(Action(name="get_user", arguments={"user_id": 1})), 5)
    session = Session(id="s", task="t", state=EnvState(structured={"users": {"7": "Ada"}}))
    prompt = render_prompt("be the environment", session, Action(name="get_user"), examples,
                           PromptBudget(total=300))  # fmt: skip
    text = prompt.messages[1]["content"]
    assert '{"users": {"7": "Ada"}}' in text.split("## The environment's records", 1)[1]
    # Only examples were cut (the session has no turns): the prompt is still marked truncated.
    assert "examples omitted" in text and prompt.history_turns == 0 and prompt.truncated


def test_an_ended_session_leaves_nothing_in_the_llm_models_replay_parts(
    llm_model: Path,
) -> None:
    wm, _ = load_world_model(llm_model)
    session = wm.new_session(task="t")
    for step in wm.retriever.table.steps(range(3)):
        wm.step(session.id, step.action)
    exact, replay = wm.predictor._exact, wm.predictor.replay
    assert session.id in exact._memories  # its exact replays read the session's memory
    wm.end_session(session.id)
    assert session.id not in exact._memories and session.id not in replay._memories
