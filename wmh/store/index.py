"""An index directory (a model's `index/`, or the DVC index stage's output): the indexed steps,
the FAISS index over them, the context columns and the card of the embedder that built it,
written by a build and loaded back as a retriever; a model's also holds the answer signatures of
its consensus tools (`signatures.npz`, written when the model is published)."""

from __future__ import annotations

from pathlib import Path

from wmh.engine.agreement import StoredSignatures
from wmh.errors import StoreError
from wmh.retrieval.context import ContextColumns
from wmh.retrieval.embedders import EmbedderCard, embedder_from_card
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.store.layout import COLUMNS, EMBEDDER, INDEX_STEPS, SIGNATURES


def write_index(directory: Path, retriever: IndexRetriever) -> None:
    """The index directory."""
    directory.mkdir(parents=True, exist_ok=True)
    retriever.table.save(directory / INDEX_STEPS, directory / COLUMNS)
    retriever.index.save(directory)
    if retriever.context is not None:
        retriever.context.save(directory)
    (directory / EMBEDDER).write_text(retriever.embedder.card.model_dump_json(indent=2))


def read_embedder_card(directory: Path) -> EmbedderCard:
    try:
        return EmbedderCard.model_validate_json((directory / EMBEDDER).read_bytes())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{directory / EMBEDDER}: cannot read the embedder card ({exc})") from None


def load_retriever(
    directory: Path, embedder: EmbedderCard | None = None, hidden: frozenset[str] = frozenset()
) -> IndexRetriever:
    """The indexed steps, their index and context, and the embedder that built them (the
    directory's own card unless given), ready to query; `hidden` traces stay out of lookups."""
    if not (directory / INDEX_STEPS).is_file():
        raise StoreError(f"{directory} holds no index ({INDEX_STEPS} is missing)")
    table = StepTable.load(directory / INDEX_STEPS, directory / COLUMNS)
    index = PartitionedIndex.load(directory)
    covered = sorted((p.start, p.end) for p in index.partitions.values())
    if [start for start, _ in covered] != [0, *(end for _, end in covered[:-1])] or (
        (covered[-1][1] if covered else 0) != len(table)
    ):
        # An empty or cut description would load and answer "unknown tool" to every call.
        raise StoreError(
            f"{directory / 'partitions.json'} does not cover the {len(table)} indexed steps "
            "once each: the model directory is damaged"
        )
    context = ContextColumns.load(directory)
    card = embedder or read_embedder_card(directory)
    return IndexRetriever(table, index, embedder_from_card(card), context, hidden)


def write_signatures(directory: Path, signatures: StoredSignatures | None) -> None:
    """The stored answer signatures of an index directory (no file when there are none)."""
    if signatures is not None:
        signatures.save(directory / SIGNATURES)


def read_signatures(directory: Path, table: StepTable) -> StoredSignatures | None:
    """The answer signatures a model's index directory keeps for its table, if any (and if
    made as this version makes them)."""
    file = directory / SIGNATURES
    if not file.is_file():
        return None
    return StoredSignatures.load(file, len(table), table.observation_chars)
