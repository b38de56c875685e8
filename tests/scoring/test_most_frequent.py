"""The most-frequent baseline: per tool, the observation recorded most often among the traces
not hidden, ties to the text that sorts first; a tool never recorded gets no answer."""

from __future__ import annotations

from wmh.core.types import Action, ActionKind, Observation, Session, Step
from wmh.engine.predictor import PredictionContext
from wmh.retrieval.embedders import HashingEmbedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import query_text
from wmh.scoring.baselines import MostFrequentObservation

# (trace, tool, answer, is_error): "search" answers "b" three times, "a" twice (one of them in
# the hidden trace h1, two more "a" there too), "c" once; "lookup" ties "zeta" and "alpha".
ROWS = [
    ("t0", "search", "b", False),
    ("t1", "search", "a", False),
    ("t2", "search", "b", False),
    ("t3", "search", "c", False),
    ("t4", "search", "b", False),
    ("t5", "search", "a", False),
    ("h1", "search", "a", False),
    ("h1", "search", "a", False),
    ("h1", "search", "a", False),
    ("t6", "lookup", "zeta", True),
    ("t7", "lookup", "alpha", True),
    ("t8", "lookup", "zeta", True),
    ("t9", "lookup", "alpha", True),
    ("h1", "only_hidden", "secret", False),
]


def _retriever(hidden: frozenset[str] = frozenset()) -> IndexRetriever:
    steps = [
        Step(
            action=Action(name=tool, arguments={"q": str(number)}),
            observation=Observation(content=answer, is_error=is_error),
            trace_id=trace,
            index=number,
            task="find it",
        )
        for number, (trace, tool, answer, is_error) in enumerate(ROWS)
    ]
    table = StepTable.from_steps(steps)
    embedder = HashingEmbedder(dim=32)
    vectors = embedder.embed(
        [query_text(table.step(r).action, table.step(r).task, []) for r in range(len(table))]
    )
    index = PartitionedIndex.build(vectors, table.routes)
    return IndexRetriever(table, index, embedder, hidden=hidden)


def _answer(baseline: MostFrequentObservation, action: Action) -> tuple[str, bool, str]:
    observation = baseline.predict(PredictionContext(Session(id="s", task="x"), action))
    return observation.content, observation.is_error, observation.metadata["source"]


def test_each_tool_gets_its_most_frequent_answer_of_the_traces_not_hidden() -> None:
    baseline = MostFrequentObservation(_retriever(hidden=frozenset({"h1"})))
    # "b" three times beats "a" twice (h1's three more "a" are hidden), whatever the arguments.
    for arguments in ({"q": "0"}, {"q": "new"}, {}):
        assert _answer(baseline, Action(name="search", arguments=arguments)) == (
            "b",
            False,
            "most_frequent",
        )
    # Two each: the tie goes to the text that sorts first; the error flag comes with it.
    assert _answer(baseline, Action(name="lookup", arguments={})) == (
        "alpha",
        True,
        "most_frequent",
    )
    # A tool recorded only in hidden traces, or never, gets the empty error answer.
    for tool in ("only_hidden", "never"):
        assert _answer(baseline, Action(name=tool, arguments={})) == ("", True, "none")
    message = Action(kind=ActionKind.MESSAGE, content="hello")
    assert _answer(baseline, message) == ("", True, "none")


def test_hidden_traces_count_when_nothing_is_hidden() -> None:
    """Not hidden, h1's three "a" make five, more than the three "b"."""
    baseline = MostFrequentObservation(_retriever())
    assert _answer(baseline, Action(name="search", arguments={}))[0] == "a"
    assert _answer(baseline, Action(name="only_hidden", arguments={}))[0] == "secret"
