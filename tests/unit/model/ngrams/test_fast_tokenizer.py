"""The vectorized tokenizer gives the reference tokenizer's tokens, token for token, on text built to trip it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.model import NgramFeatures, create, tokenize
from pipeline.model.ngrams import hash_index
from pipeline.model.ngrams.fast_tokenizer import HashedTokenizer, in_last_sentences, negation_scopes, token_spans
from pipeline.model.ngrams.features import (
    NEGATED_PREFIX,
    NEGATION_CUES,
    STREAM_BREAK,
    TAIL_PREFIX,
    last_sentences,
    negation_marked,
)
from tests.unit.model.conftest import NEGATION_TRICKY, TRICKY

ONE = np.array([1], dtype=np.uint64)  # hash powers for tests that only need the spans


def test_token_spans_are_tokenizes_tokens() -> None:
    for text in TRICKY + NEGATION_TRICKY:
        _, starts, ends, _ = token_spans(text, ONE)
        assert [text[start:end] for start, end in zip(starts, ends, strict=True)] == tokenize(text)


def test_a_tokens_hash_does_not_depend_on_where_it_stands() -> None:
    powers = np.array([pow(hash_index.HASH_MULTIPLIER, k, 2**64) for k in range(8)], dtype=np.uint64)
    _, _, _, hashes = token_spans("film , film!!! film", powers)
    assert hashes[0] == hashes[2] == hashes[4] and len(set(hashes.tolist())) == 3


def test_scopes_and_tails_as_arrays_equal_the_reference() -> None:
    for text in NEGATION_TRICKY + TRICKY:
        tokens = tokenize(text.lower())
        codes, starts, ends, _ = token_spans(text.lower(), ONE)
        documents = np.zeros(len(starts), dtype=np.int64)
        cue = np.array([token in NEGATION_CUES for token in tokens], dtype=bool)
        scoped = negation_scopes(codes, starts, ends, documents, cue)
        assert [NEGATED_PREFIX + t if s else t for t, s in zip(tokens, scoped, strict=True)] == negation_marked(tokens)
        for count in (1, 2, 3):
            inside = in_last_sentences(codes, starts, ends, documents, count)
            assert [t for t, i in zip(tokens, inside, strict=True) if i] == last_sentences(tokens, count), (text, count)


@pytest.mark.parametrize(
    "features",
    [
        NgramFeatures(),
        NgramFeatures(lowercase=False),
        NgramFeatures(mark_negation=True, tail_sentences=2, stopwords=("the", "a", "not"), remove_punctuation=True),
    ],
)
def test_hashed_tokenizer_equals_the_reference_tokenizer(features: NgramFeatures) -> None:
    """Built straight from a vocabulary of every other reference token, so unknown tokens are tested too."""
    reference = features.tokenizer()
    texts = [*TRICKY, *NEGATION_TRICKY, *(text.upper() for text in NEGATION_TRICKY)]
    seen = dict.fromkeys(token for text in texts for token in reference(text) if token != STREAM_BREAK)
    vocabulary = list(seen)[::2]
    tokenizer = HashedTokenizer.build(features, vocabulary)
    assert tokenizer is not None
    ids, documents = tokenizer.ids(texts)
    number = {token: position for position, token in enumerate(vocabulary, start=1)}
    expected = [(number.get(token, 0), document) for document, text in enumerate(texts) for token in reference(text)]
    assert list(zip(ids.tolist(), documents.tolist(), strict=True)) == expected


@pytest.mark.parametrize(("negation", "tail"), [(False, 0), (True, 0), (False, 2), (True, 3)])
def test_vectorized_tokens_equal_tokenize(negation: bool, tail: int, prepared: Path) -> None:
    """The serving path's token ids are tokenize()'s, token for token, on text built to trip it."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    features = {"stopwords": ["the", "a", "and", "not"], "remove_punctuation": True, "mark_negation": negation}
    features["tail_sentences"] = tail
    tricky = TRICKY + NEGATION_TRICKY
    fitted = create("multinomial_nb", {"features": features}).fit(texts + tricky, labels + ["positive"] * len(tricky))
    table = fitted.table
    assert table.vectorized, "this vocabulary should take the vectorized path"
    if negation:
        assert any(token.startswith(NEGATED_PREFIX) for token in table.tokens)
    if tail:
        prefix = TAIL_PREFIX + NEGATED_PREFIX * negation
        assert any(token.startswith(prefix) for token in table.tokens)
    shouted = [text.upper() for text in tricky]
    for batch in (tricky, shouted, texts, tricky[2:3], NEGATION_TRICKY[1:3], []):
        hashed, regex = table.hashed_ids(batch), table.regex_ids(batch)
        assert hashed[0].tolist() == regex[0].tolist() and hashed[1].tolist() == regex[1].tolist()
    # Every token of the tricky texts is known, so the ids spell the texts back exactly.
    ids, _ = table.hashed_ids(tricky)
    kept = [token for text in tricky for token in fitted.features.tokenizer()(text)]
    assert [table.tokens[number - 1] if number else STREAM_BREAK for number in ids.tolist()] == kept


def test_a_hash_collision_never_picks_the_wrong_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """With multiplier 1 a hash is the sum of code points, so anagrams collide: the character check must catch it."""
    monkeypatch.setattr(hash_index, "HASH_MULTIPLIER", 1)
    fitted = create("multinomial_nb", {"features": {"ngram_range": [1, 1]}}).fit(
        ["ab cd", "ef"], ["positive", "negative"]
    )
    assert fitted.table.vectorized
    ids, _ = fitted.table.hashed_ids(["ba ab dc"])
    assert [fitted.table.tokens[number - 1] if number else None for number in ids.tolist()] == [None, "ab", None]
    # Two vocabulary tokens with one hash: the model falls back to the regex path and stays exact.
    clashing = create("multinomial_nb", {"features": {"ngram_range": [1, 1]}}).fit(
        ["ab", "ba"], ["positive", "negative"]
    )
    assert not clashing.table.vectorized
    assert HashedTokenizer.build(clashing.features, clashing.table.tokens) is None
    assert clashing.predict(["ab", "ba"]) == ["positive", "negative"]
