"""N-gram keys: packed from token ids, read back into names, and parsed from names again."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.model.ngrams.keys import check_base, ngram_keys, ngram_names, parse_names


def test_names_round_trip_through_keys() -> None:
    names = ["film", "good film", "not a film", "a", "film film"]
    tokens, keys = parse_names(names, (1, 3))
    assert tokens == ["film", "good", "not", "a"]  # numbered from 1 in order of first appearance
    base = len(tokens) + 1
    assert keys.tolist() == [1, 2 * base + 1, (3 * base + 4) * base + 1, 4, 1 * base + 1]
    assert ngram_names(keys, base, tokens) == names


def test_parse_refuses_ngrams_outside_the_range() -> None:
    with pytest.raises(ValueError, match=r"outside ngram_range \[2, 2\]"):
        parse_names(["good film", "film"], (2, 2))


def test_ngram_keys_skip_unknown_tokens_and_never_span_documents() -> None:
    ids = np.array([1, 2, 0, 3, 1, 2], dtype=np.int64)
    documents = np.array([0, 0, 0, 0, 1, 1], dtype=np.int64)
    base = 4
    keys, owners = ngram_keys(ids, documents, base, (1, 2))
    unigrams = [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1)]
    bigrams = [(1 * base + 2, 0), (1 * base + 2, 1)]  # not "2 0", "0 3" (unknown) nor "3 1" (two documents)
    assert list(zip(keys.tolist(), owners.tolist(), strict=True)) == unigrams + bigrams
    keys, owners = ngram_keys(ids, documents, base, (2, 2))
    assert list(zip(keys.tolist(), owners.tolist(), strict=True)) == bigrams


def test_too_many_tokens_for_int64_keys_are_refused() -> None:
    check_base(2**21 - 1, (1, 3))  # every 3-gram key is below base**3 < 2**63
    check_base(2**21, (1, 2))
    with pytest.raises(PipelineError, match="2097151 distinct tokens are too many for 3-gram keys"):
        check_base(2**21, (1, 3))
