from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from wmh.core.types import Action, ActionKind, Observation, Step
from wmh.retrieval.context import ContextColumns
from wmh.retrieval.embedders import HashingEmbedder
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever, Query, SearchOnce
from wmh.retrieval.table import StepTable
from wmh.retrieval.text import HISTORY_WINDOW, action_text, query_text


def _steps(n_traces: int) -> list[Step]:
    steps = []
    for t in range(n_traces):
        for i, tool in enumerate(("get_user", "get_order")):
            steps.append(
                Step(
                    action=Action(name=tool, arguments={"id": t}),
                    observation=Observation(content=f"{tool} {t}"),
                    trace_id=f"t{t}",
                    index=i,
                    task="look things up",
                )
            )
    return steps


def _retriever(steps: list[Step], kind: str = "auto") -> IndexRetriever:
    table = StepTable.from_steps(steps)
    embedder = HashingEmbedder(dim=64)
    vectors = embedder.embed(
        [query_text(table.step(r).action, table.step(r).task, []) for r in range(len(table))]
    )
    return IndexRetriever(table, PartitionedIndex.build(vectors, table.routes, kind), embedder)


def _runs_of_one_call(runs: Sequence[tuple[str, str]], index: int = 0) -> list[Step]:
    """`get_order {"id": 1}` recorded once per run, given as (its answer, the run's task)."""
    return [
        Step(
            action=Action(name="get_order", arguments={"id": 1}),
            observation=Observation(content=answer),
            trace_id=f"t{number}",
            index=index,
            task=task,
        )
        for number, (answer, task) in enumerate(runs)
    ]


def _with_context(
    steps: list[Step],
    before: Callable[[Step], list[int]] | None = None,
    texts: Sequence[str] = (),
) -> IndexRetriever:
    """`_retriever` with context columns: each row's task and, by `before` (numbers into
    `texts`, the latest last), the actions before it."""
    plain = _retriever(steps)
    table = plain.table
    rows = [table.step(r) for r in range(len(table))]
    windows = np.full((len(rows), HISTORY_WINDOW), -1)
    for row, step in enumerate(rows):
        earlier = before(step) if before else []
        if earlier:
            windows[row, HISTORY_WINDOW - len(earlier) :] = earlier
    tasks = [step.task for step in rows]
    columns = ContextColumns.of_numbers(range(len(rows)), tasks, windows, list(texts))
    return IndexRetriever(table, plain.index, plain.embedder, columns)


def test_neighbours_come_from_the_same_tool_only() -> None:
    retriever = _retriever(_steps(30))
    hits = retriever.neighbours(Query(Action(name="get_order", arguments={"id": 99})), k=5)
    assert len(hits) == 5
    assert all(h.step.action.name == "get_order" for h in hits)
    assert retriever.neighbours(Query(Action(name="nope")), k=5) == []


def test_lookups_never_return_the_excluded_trace() -> None:
    retriever = _retriever(_steps(30))
    query = Query(Action(name="get_user", arguments={"id": 7}), exclude_trace="t7")
    assert all(h.step.trace_id != "t7" for h in retriever.neighbours(query, k=29))
    assert len(retriever.neighbours(query, k=29)) == 29
    assert retriever.exact(query) is None
    found = retriever.exact(Query(query.action))
    assert found is not None and found.step.trace_id == "t7"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_every_index_kind_finds_the_identical_vector(kind: str) -> None:
    retriever = _retriever(_steps(400), kind)
    # The kind asked for is the index built (an exact flat one would pass the search below).
    built = {"flat": faiss.IndexFlatIP, "hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVF}
    for partition in retriever.index.partitions.values():  # get_user's, get_order's
        assert partition.kind == kind and isinstance(partition.index, built[kind])
    hits = retriever.neighbours(
        Query(Action(name="get_user", arguments={"id": 123}), task="look things up"), k=3
    )
    assert hits[0].step.action.arguments == {"id": 123}


def test_index_and_table_round_trip_through_disk(tmp_path: Path) -> None:
    retriever = _retriever(_steps(20))
    retriever.index.save(tmp_path / "index")
    retriever.table.save(tmp_path / "steps.jsonl", tmp_path / "index" / "columns.json")
    table = StepTable.load(tmp_path / "steps.jsonl", tmp_path / "index" / "columns.json")
    index = PartitionedIndex.load(tmp_path / "index")
    loaded = IndexRetriever(table, index, HashingEmbedder(dim=64))
    query = Query(Action(name="get_user", arguments={"id": 4}))
    assert [h.row for h in loaded.neighbours(query, 4)] == [
        h.row for h in retriever.neighbours(query, 4)
    ]
    np.testing.assert_allclose(
        [h.score for h in loaded.neighbours(query, 4)],
        [h.score for h in retriever.neighbours(query, 4)],
        rtol=1e-6,
    )


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_a_remembered_search_answers_a_shallower_one_as_a_fresh_search(kind: str) -> None:
    """`SearchOnce` serves a search for fewer rows from a deeper one it remembers: the same
    rows and scores as searching afresh, and the index asked once per query and exclusion."""
    plain = _retriever(_steps(400), kind)
    remembering = SearchOnce.of(plain)
    searches: list[int] = []
    original = IndexRetriever._search

    def counted(self: IndexRetriever, query: Query, k: int) -> tuple[np.ndarray, np.ndarray]:
        searches.append(k)
        return original(self, query, k)

    IndexRetriever._search = counted  # type: ignore[method-assign]
    try:
        for number in (5, 123, 250):
            query = Query(
                Action(name="get_user", arguments={"id": number}), exclude_trace=f"t{number}"
            )
            for k in (64, 7, 1, 64):
                hits = remembering.neighbours(query, k)
                fresh = original(plain, query, k)
                assert [h.row for h in hits] == fresh[0].tolist()
                assert [h.score for h in hits] == fresh[1].tolist()
                assert len(hits) == k
            # Another exclusion is another search.
            other = Query(query.action, exclude_trace=None)
            assert remembering.neighbours(other, 1)[0].step.trace_id == f"t{number}"
    finally:
        IndexRetriever._search = original  # type: ignore[method-assign]
    assert searches == [64, 1] * 3


def test_a_sparse_query_is_scored_from_its_own_dimensions_as_by_the_whole_product() -> None:
    """A flat partition scores a query with few non-zero dimensions from those dimensions'
    rows of its transposed vectors: the same rows and scores as the whole product."""
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 256)).astype(np.float32)
    vectors[rng.random(vectors.shape) < 0.9] = 0.0  # sparse, as hashed calls are
    index = PartitionedIndex.build(vectors, ["a"] * 300, kind="flat")
    part = index.partitions["a"]
    for seed, used in ((3, 200), (1, 10), (2, 40)):  # the first one dense: the whole product
        query = np.zeros(256, dtype=np.float32)
        dims = np.random.default_rng(seed).choice(256, used, replace=False)
        query[dims] = np.random.default_rng(seed).standard_normal(used)
        rows, scores = index.search("a", query, 7)
        # The transposed copy is made by the first sparse query, for it and those after it.
        assert (part.columns is not None) == (used < 256 / 6)
        every = vectors @ query
        want = np.lexsort((np.arange(300), -np.round(every, 6)))[:7]
        assert rows.tolist() == want.tolist()
        np.testing.assert_allclose(scores, every[want], rtol=1e-5, atol=1e-6)


def test_a_search_for_fewer_rows_is_the_first_rows_of_a_search_for_more() -> None:
    """Scores 3e-7 apart are a tie (results are ordered at 6 decimals, then by row): the cut
    keeps both, so the first row of a search for one is the first of a search for three."""
    vectors = np.zeros((3, 8), dtype=np.float32)
    vectors[:, 0] = [0.5000001, 0.5000004, 0.1]
    index = PartitionedIndex.build(vectors, ["a"] * 3, kind="flat")
    query = np.eye(8, dtype=np.float32)[0]
    assert index.search("a", query, 3)[0].tolist() == [0, 1, 2]
    assert index.search("a", query, 1)[0].tolist() == [0]


def test_the_exact_recording_is_the_one_made_in_the_most_alike_task() -> None:
    """The same call in four runs: the one whose task is most like the query's answers (of two
    with the same task, the first row), unless its run is the one left out."""
    tasks = ["refund my order", "book a flight to Oslo", "refund my order", "cancel everything"]
    retriever = _with_context(
        _runs_of_one_call([(f"order as run {n} saw it", task) for n, task in enumerate(tasks)])
    )
    action = Action(name="get_order", arguments={"id": 1})
    answers = {
        (task, left_out): getattr(retriever.exact(Query(action, task, (), left_out)), "step", None)
        for task in ("book a flight to Oslo", "please refund my order", "cancel everything")
        for left_out in (None, "t0")
    }
    seen = {key: step.trace_id for key, step in answers.items() if step is not None}
    assert seen == {
        ("book a flight to Oslo", None): "t1",
        ("book a flight to Oslo", "t0"): "t1",
        ("please refund my order", None): "t0",
        ("please refund my order", "t0"): "t2",
        ("cancel everything", None): "t3",
        ("cancel everything", "t0"): "t3",
    }
    plain = IndexRetriever(retriever.table, retriever.index, retriever.embedder)
    bare = plain.exact(Query(action, "cancel everything"))  # no context columns: the first row
    assert bare is not None and bare.step.trace_id == "t0"
    assert retriever.exact(Query(Action(name="get_order", arguments={"id": 2}))) is None


def test_recordings_of_a_call_that_answered_alike_are_not_compared_by_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """When every recording of a call answered alike (the same observation but for the call
    id its span carried), the first answers: the context cannot change the answer, and
    comparing it was the costliest part of a replayed step. Recordings that answered
    otherwise (another text, or an error) are still chosen by their task."""
    tasks = ["refund my order", "book a flight to Oslo"]
    action = Action(name="get_order", arguments={"id": 1})
    compared: list[int] = []  # the rows each context comparison was given
    original = IndexRetriever._context_scores

    def counted(
        self: IndexRetriever, query: Query, rows: np.ndarray, weights: object
    ) -> tuple[np.ndarray, np.ndarray]:
        compared.append(len(rows))
        return original(self, query, rows, None)

    monkeypatch.setattr(IndexRetriever, "_context_scores", counted)
    for second, alike in (
        (Observation(content="order 1: shipped", metadata={"tool_call_id": "call_9"}), True),
        (Observation(content="order 1: shipped", is_error=True), False),
        (Observation(content="order 1: lost"), False),
    ):
        steps = _runs_of_one_call([("order 1: shipped", task) for task in tasks])
        steps[1] = steps[1].model_copy(update={"observation": second})
        retriever = _with_context(steps)
        compared.clear()
        found = retriever.exact(Query(action, "book a flight to Oslo"))
        assert found is not None
        assert (found.step.trace_id, compared) == (("t0", []) if alike else ("t1", [2])), second
        assert retriever.table.answers_alike(action.key()) is alike
        # The same of a saved table, whose rows are read from their lines.
        retriever.table.save(tmp_path / "steps.jsonl", tmp_path / "columns.json")
        loaded = StepTable.load(tmp_path / "steps.jsonl", tmp_path / "columns.json")
        assert loaded.answers_alike(action.key()) is alike


def test_rows_sharing_vectors_are_cut_alike_by_either_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flat partition whose rows share vectors finds the same rows, scores and order whether
    it scores every row (up to `ROWS_SCORED` rows) or cuts its vectors and then their rows:
    ties at 6 decimals by row, a vector's rows kept or cut together."""
    from wmh.retrieval import index as index_module

    rng = np.random.default_rng(3)
    vectors = np.zeros((40, 8), dtype=np.float32)
    vectors[:, 0] = rng.choice([0.1, 0.3, 0.5000001, 0.5000004, 0.7], 40)
    vectors[:, 1] = rng.standard_normal(40) * 0.01
    groups = rng.integers(0, 12, 40)  # 40 rows, 12 distinct calls
    built = PartitionedIndex.build(vectors[groups], ["a"] * 40, kind="flat", groups=groups)
    part = built.partitions["a"]
    assert part.groups is not None and part.index.ntotal == len(np.unique(groups))
    query = np.eye(8, dtype=np.float32)[0]
    for fetch in (1, 3, 7, 12, 39, 40, 60):
        monkeypatch.setattr(index_module, "ROWS_SCORED", 1000)
        every_row = part.top(query, fetch)
        monkeypatch.setattr(index_module, "ROWS_SCORED", 0)
        vectors_first = part.top(query, fetch)
        assert every_row[0].tolist() == vectors_first[0].tolist(), fetch
        assert every_row[1].tobytes() == vectors_first[1].tobytes(), fetch
        scores = vectors[groups] @ query
        want = np.lexsort((np.arange(40), -np.round(scores, 6)))
        cut = np.round(scores[want[min(fetch, 40) - 1]], 6)
        assert every_row[0].tolist() == [r for r in want if np.round(scores[r], 6) >= cut], fetch


def test_of_recordings_in_one_task_the_exact_one_after_the_most_alike_actions_answers() -> None:
    """The same call, in the same task, once after listing orders and once after reading a
    user: a query that follows a listing gets the first, one that follows a read the second."""
    steps = _runs_of_one_call(
        [(f"after {before}", "help the customer") for before in ("list_orders", "get_user")], 1
    )
    texts = [
        action_text(Action(name="list_orders", arguments={})),
        action_text(Action(name="get_user", arguments={"id": 7})),
    ]
    listed = "after list_orders"
    retriever = _with_context(  # each run's one earlier action
        steps, lambda step: [0 if step.observation.content == listed else 1], texts
    )
    action = Action(name="get_order", arguments={"id": 1})
    for before, answer in (
        (Action(name="get_user", arguments={"id": 7}), "after get_user"),
        (Action(name="list_orders", arguments={}), "after list_orders"),
    ):
        found = retriever.exact(Query(action, "help the customer", (before,)))
        assert found is not None and found.step.observation.content == answer


def test_a_search_that_filters_out_its_first_fetch_fetches_more() -> None:
    """A search leaving rows out (a held-out trace's) fetches four times k; when every row of
    that fetch is left out, it fetches more until it has k, not fewer."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = PartitionedIndex.build(vectors, ["t"] * 200, "flat")
    query = vectors[0]
    order = np.argsort(-(vectors @ query), kind="stable")
    banned = set(order[:40].tolist())  # the 40 nearest rows: more than 4 * k
    rows, _ = index.search("t", query, 5, keep=lambda r: np.array([x not in banned for x in r]))
    assert rows.tolist() == order[40:45].tolist()


def test_of_neighbours_alike_in_all_else_the_one_from_the_like_task_comes_first() -> None:
    """Two recordings of one call, equally near (the same text, no history): whatever the
    weights, the task breaks the tie, not the row order."""
    from wmh.retrieval.retriever import Weights

    tasks = ["book a flight to Oslo", "refund my order"]
    retriever = _with_context(_runs_of_one_call([(f"in: {task}", task) for task in tasks]))
    action = Action(name="get_order", arguments={"id": 1})
    for task in tasks:
        found = retriever.neighbours(Query(action, task, ()), 2, Weights(history=0.3))
        assert [n.step.task for n in found] == [task, *(t for t in tasks if t != task)]


def test_a_search_asked_again_is_remembered_and_never_one_that_left_a_trace_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Serving asks the same call again and again (an RL loop's episodes of one task): its
    search is made once. A query that leaves a trace out is searched afresh every time, and
    never answered from a search that did not leave it out."""
    retriever = _retriever(_steps(30))
    searched: list[int] = []
    original = PartitionedIndex.search

    def counted(self: PartitionedIndex, *args: object, **kwargs: object) -> object:
        searched.append(1)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(PartitionedIndex, "search", counted)
    action = Action(name="get_order", arguments={"id": 7})
    first = retriever.neighbours(Query(action, "look things up"), k=5)
    again = retriever.neighbours(Query(action, "another task, another session"), k=5)
    assert [h.row for h in again] == [h.row for h in first] and len(searched) == 1
    assert first[0].step.trace_id == "t7"
    left_out = [retriever.neighbours(Query(action, exclude_trace="t7"), k=5) for _ in range(2)]
    assert len(searched) == 3
    assert all(h.step.trace_id != "t7" for hits in left_out for h in hits)
    assert [h.row for h in left_out[0]] == [h.row for h in left_out[1]]
    # Another k is another search (an approximate index's first rows of a deeper one may
    # differ from a search for fewer).
    retriever.neighbours(Query(action), k=3)
    assert len(searched) == 4


def test_a_fit_s_remembered_search_is_the_route_s_own() -> None:
    """A message's text (`say ...`) can equal a call's of a tool named `say`: the two are
    searched in their own partitions, and a fit's remembered search was the first one's."""
    tool = Action(name="say", arguments={"text": "hi"})
    message = Action(kind=ActionKind.MESSAGE, content=tool.key()[len("tool:say:") :])
    assert action_text(tool) == action_text(message)
    steps = [
        Step(action=tool, observation=Observation(content="tool said"), trace_id="a", index=0),
        Step(
            action=message, observation=Observation(content="user replied"), trace_id="b", index=0
        ),
    ]
    table = StepTable.from_steps(steps)
    embedder = HashingEmbedder(dim=64)
    vectors = embedder.embed([query_text(s.action, "", []) for s in steps])
    plain = IndexRetriever(table, PartitionedIndex.build(vectors, table.routes), embedder)
    once = SearchOnce.of(plain)
    for retriever in (plain, once):
        answers = [
            retriever.neighbours(Query(action, "", (), "x"), 1)[0].step.observation.content
            for action in (tool, message)
        ]
        assert answers == ["tool said", "user replied"], type(retriever).__name__
