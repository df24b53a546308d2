"""HashIndex finds every key, however its probe chain runs, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model.ngrams.hash_index import HASH_MULTIPLIER, HashIndex


def test_hash_index_finds_every_key_past_long_probe_chains() -> None:
    """Keys built to share one slot make a chain far longer than PROBE_ROUNDS: the sorted fallback must find them."""
    inverse = pow(HASH_MULTIPLIER, -1, 2**64)  # key * multiplier == j: every key hashes to slot 0
    crowded_keys = np.array([j * inverse % 2**64 for j in range(1, 65)], dtype=np.uint64)
    crowded = HashIndex(crowded_keys)
    assert crowded.find(crowded_keys).tolist() == list(range(64))
    assert crowded.find(crowded_keys + np.uint64(1)).tolist() == [-1] * 64
    rng = np.random.default_rng(0)
    keys = rng.choice(2**40, size=5_000, replace=False).astype(np.uint64)
    absent = np.setdiff1d(rng.choice(2**40, size=2_000, replace=False).astype(np.uint64), keys)
    index = HashIndex(keys)
    assert index.find(np.concatenate([keys[::-1], absent])).tolist() == [*range(4_999, -1, -1), *[-1] * len(absent)]
    assert HashIndex(np.zeros(0, dtype=np.uint64)).find(keys).tolist() == [-1] * len(keys)


def test_the_empty_slot_marker_is_never_a_key() -> None:
    with pytest.raises(ValueError, match="empty-slot marker"):
        HashIndex(np.array([1, 2**64 - 1], dtype=np.uint64))
    assert HashIndex(np.array([1, 2], dtype=np.uint64)).find(np.array([2**64 - 1], dtype=np.uint64)).tolist() == [-1]
