"""The copy baseline that every fidelity figure is measured against: the recorded call with the
highest cosine of character 3–4-gram counts (white space runs as one space), ties to the first
row, never from the excluded trace."""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from wmh.core.types import Action, ActionKind, Observation, Session, Step
from wmh.engine.predictor import PredictionContext
from wmh.retrieval.embedders import HashingEmbedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import action_text, query_text
from wmh.scoring.baselines import ActionCopy

COMMANDS = [
    "ls -la /srv/app/logs",
    "cat /srv/app/config.yaml",
    "grep -rn  'timeout'   /srv/app/src",
    "cat /srv/app/config.yml",
    "python -m pytest tests/test_api.py -k login",
    "tail -n 50 /var/log/nginx/error.log",
    "cat /srv/app/config.yaml",  # the same call again, in a later trace
    "find /srv/app -name '*.py' -newer /srv/app/setup.cfg",
]
QUERIES = [
    "cat /srv/app/config.yaml",
    "cat /srv/app/config.json",
    "grep -rn 'timeout' /srv/app/src/server",
    "python -m pytest tests/test_api.py -k logout",
    "tail -n 500 /var/log/nginx/access.log",
    "ls /srv",
]


def _retriever(actions: list[Action] | None = None) -> IndexRetriever:
    if actions is None:
        actions = [Action(name="bash", arguments={"command": c}) for c in COMMANDS]
    steps = [
        Step(
            action=action,
            observation=Observation(content=f"answer {number}"),
            trace_id=f"t{number}",
            index=0,
            task="fix the service",
        )
        for number, action in enumerate(actions)
    ]
    table = StepTable.from_steps(steps)
    embedder = HashingEmbedder(dim=64)
    vectors = embedder.embed(
        [query_text(table.step(r).action, table.step(r).task, []) for r in range(len(table))]
    )
    return IndexRetriever(table, PartitionedIndex.build(vectors, table.routes), embedder)


def _grams(text: str) -> Counter[str]:
    text = re.sub(r"\s\s+", " ", text)
    return Counter(text[i : i + n] for n in (3, 4) for i in range(len(text) - n + 1))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(a[gram] * b[gram] for gram in a.keys() & b.keys())
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def _expected(retriever: IndexRetriever, action: Action, excluded: str | None) -> str:
    """By brute force: the first row of the best cosine among the rows of other traces."""
    query = _grams(action_text(action))
    table = retriever.table
    rows = [r for r in range(len(table)) if table.trace_ids[r] != excluded]
    scored = [
        (-round(_cosine(query, _grams(action_text(table.step(r).action))), 9), r) for r in rows
    ]
    return table.step(min(scored)[1]).observation.content


def test_the_copy_answers_with_the_call_most_alike_by_character_ngrams() -> None:
    retriever = _retriever()
    copy = ActionCopy(retriever)
    answers = []
    for command in QUERIES:
        action = Action(name="bash", arguments={"command": command})
        for excluded in (None, "t1"):
            context = PredictionContext(Session(id="s", task="x"), action, excluded)
            answer = copy.predict(context).content
            assert answer == _expected(retriever, action, excluded), (command, excluded)
            answers.append(answer)
    # The same call twice (rows of t1 and t6): the first, unless its trace is excluded.
    assert answers[:2] == ["answer 1", "answer 6"]
    assert len(set(answers)) >= 5  # the queries find different calls


def test_a_call_asked_again_is_scored_once_and_answers_as_the_first_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each call text's scores are computed once, whatever was excluded the first time; they are
    computed again only when the best text's first row is of the excluded trace."""
    retriever = _retriever()
    copy = ActionCopy(retriever)
    asked: list[str] = []
    postings = copy._postings["bash"]
    cosines = postings.cosines
    monkeypatch.setattr(postings, "cosines", lambda text: asked.append(text) or cosines(text))
    for excluded in ("t1", None, "t1", "t6", None):
        for command in QUERIES:
            action = Action(name="bash", arguments={"command": command})
            context = PredictionContext(Session(id="s", task="x"), action, excluded)
            assert copy.predict(context).content == _expected(retriever, action, excluded)
    # The first round scores every query; later ones only `cat /srv/app/config.yaml`, whose
    # best text's first row is t1's, each time t1 is excluded (t6's row comes after it).
    texts = [action_text(Action(name="bash", arguments={"command": c})) for c in QUERIES]
    assert asked == texts + [texts[0]]


def test_a_tool_the_corpus_never_called_gets_no_copy() -> None:
    copy = ActionCopy(_retriever())
    context = PredictionContext(Session(id="s", task="x"), Action(name="nope", arguments={}))
    observation = copy.predict(context)
    assert (observation.is_error, observation.metadata["source"]) == (True, "none")


def test_messages_that_differ_only_in_outer_white_space_are_copied_apart() -> None:
    """Their exact-replay key is the same (it strips the message); their texts are not: the
    message sent with the line break copies the answer it got."""
    messages = ["hello there, any news?", "hello there, any news?\n", "bye"]
    retriever = _retriever([Action(kind=ActionKind.MESSAGE, content=m) for m in messages])
    assert len(set(retriever.table.exact)) == 2  # the first two rows share one key
    copy = ActionCopy(retriever)
    for number, message in enumerate(messages):
        action = Action(kind=ActionKind.MESSAGE, content=message)
        context = PredictionContext(Session(id="s", task="x"), action)
        assert copy.predict(context).content == f"answer {number}"
