from __future__ import annotations

import numpy as np
import pytest

from wmh.core.types import Action
from wmh.retrieval.embedders import HashingEmbedder, make_embedder
from wmh.retrieval.text import query_text


def _q(name: str, **args: object) -> object:
    return query_text(Action(name=name, arguments=args), "find the user", [])


def test_hashing_vectors_are_unit_length_and_deterministic() -> None:
    texts = [_q("get_user", user_id=3), _q("get_user", user_id=4), _q("get_order", order_id=9)]
    a = HashingEmbedder(dim=128).embed(texts)
    b = HashingEmbedder(dim=128).embed(texts)
    assert a.shape == (3, 128) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, b)


def test_hashing_puts_same_tool_calls_closer_than_other_tools() -> None:
    v = HashingEmbedder().embed(
        [_q("get_user", user_id=3), _q("get_user", user_id=4), _q("cancel_order", order_id=9)]
    )
    assert v[0] @ v[1] > v[0] @ v[2]


def test_unknown_embedder_is_a_config_error() -> None:
    from wmh.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown embedder 'bert'"):
        make_embedder("bert")


@pytest.mark.slow
def test_minilm_loads_offline_from_the_wheel_and_ranks_by_meaning() -> None:
    embedder = make_embedder("minilm")
    assert embedder.card.dim == 384
    v = embedder.embed(
        [_q("get_user", user_id=3), _q("get_user", user_id=4), _q("cancel_order", order_id=9)]
    )
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_single_query_path_equals_the_batch_path() -> None:
    embedder = HashingEmbedder(dim=256)
    texts = [_q("get_user", user_id=i, note=f"note {i} ünïcode") for i in range(200)]
    batch = embedder.embed(texts)
    one_by_one = np.stack([embedder.embed_one(t) for t in texts])
    np.testing.assert_allclose(one_by_one, batch, atol=1e-6)
