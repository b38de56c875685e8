"""A model directory's retrieval data: the train step table, the FAISS index over it and the card
of the embedder that built it, written by a build and loaded back as a retriever."""

from __future__ import annotations

from wmh.retrieval.embedders import EmbedderCard, embedder_from_card
from wmh.retrieval.index import PartitionedIndex
from wmh.retrieval.retriever import IndexRetriever
from wmh.retrieval.table import StepTable
from wmh.store.layout import ModelFiles


def write_index(files: ModelFiles, index: PartitionedIndex, embedder: EmbedderCard) -> None:
    index.save(files.index_dir)
    files.embedder.write_text(embedder.model_dump_json(indent=2))


def load_retriever(files: ModelFiles, embedder: EmbedderCard) -> IndexRetriever:
    """The train steps, their index and the embedder the card names, ready to query."""
    table = StepTable.load(files.steps("train"), files.columns)
    index = PartitionedIndex.load(files.index_dir)
    return IndexRetriever(table, index, embedder_from_card(embedder))
