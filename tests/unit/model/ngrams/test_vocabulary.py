"""The training vocabulary's steps, count -> prune -> weight, and the limits they apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import NgramFeatures, create
from pipeline.model.ngrams import vocabulary
from pipeline.model.ngrams.keys import ngram_names
from pipeline.model.ngrams.vocabulary import (
    TokenizedTexts,
    TrainingVocabulary,
    count_cells,
    prune_cells,
    weight_cells,
)
from tests.unit.model.conftest import NEGATION_TRICKY, TRICKY

TEXTS = ["good film", "bad film film", "good good"]


def names(cells: vocabulary.Cells) -> list[str]:
    tokens = [""] * len(cells.token_ids)
    for token, number in cells.token_ids.items():
        tokens[number - 1] = token
    return ngram_names(cells.keys, len(tokens) + 1, tokens)


def test_count_gives_each_documents_distinct_ngrams_with_counts() -> None:
    cells = count_cells(TokenizedTexts.of(NgramFeatures(ngram_range=(1, 2)), TEXTS))
    assert cells.token_ids == {"good": 1, "film": 2, "bad": 3}
    found = names(cells)
    assert sorted(found) == ["bad", "bad film", "film", "film film", "good", "good film", "good good"]
    assert cells.documents == 3
    by_row = [
        {found[column]: count for row, column, count in zip(cells.rows, cells.columns, cells.counts, strict=True)
         if row == document}
        for document in range(3)
    ]  # fmt: skip
    assert by_row == [
        {"good": 1, "film": 1, "good film": 1},
        {"bad": 1, "film": 2, "bad film": 1, "film film": 1},
        {"good": 2, "good good": 1},
    ]
    assert dict(zip(found, cells.document_counts.tolist(), strict=True))["film"] == 2
    assert np.all(np.diff(cells.rows) >= 0)  # in document order, as a CSR matrix takes them


def test_counting_in_chunks_equals_counting_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    features = NgramFeatures(ngram_range=(1, 3))
    texts = TEXTS * 5 + ["an entirely new review", "good"]
    whole = count_cells(TokenizedTexts.of(features, texts))
    monkeypatch.setattr(vocabulary, "CHUNK_TOKENS", 4)
    monkeypatch.setattr(vocabulary, "TOKENIZE_BATCH", 2)
    chunked = count_cells(TokenizedTexts.of(features, texts))
    for name in ("keys", "rows", "columns", "counts"):
        assert np.array_equal(getattr(chunked, name), getattr(whole, name)), name
    assert chunked.token_ids == whole.token_ids


def test_prune_keeps_widespread_ngrams_and_renumbers_their_columns() -> None:
    cells = count_cells(TokenizedTexts.of(NgramFeatures(ngram_range=(1, 1)), TEXTS))
    common = prune_cells(cells, min_document_count=2, max_features=None)
    assert names(common) == ["good", "film"]
    assert common.columns.tolist() == [0, 1, 1, 0] and common.counts.tolist() == [1, 1, 2, 2]
    assert common.rows.tolist() == [0, 0, 1, 2]
    top = prune_cells(cells, min_document_count=1, max_features=1)
    assert names(top) == ["good"]  # "good" and "film" are both in 2 documents: the smaller key wins the tie
    with pytest.raises(PipelineError, match="no n-gram is in 4 training documents"):
        prune_cells(cells, min_document_count=4, max_features=None)


@pytest.mark.parametrize("weighting", ["binary", "count", "tfidf"])
def test_weight_makes_scikit_learns_matrix(weighting: str) -> None:
    """tf-idf is scikit-learn's with sublinear_tf and smooth_idf, rows L2-normalized."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    features = NgramFeatures(ngram_range=(1, 2), weighting=weighting)
    cells = count_cells(TokenizedTexts.of(features, TEXTS))
    idf, matrix = weight_cells(cells, weighting)
    assert (idf is None) == (weighting != "tfidf")
    tokens = features.tokenizer()

    def unigrams_and_bigrams(text: str) -> list[str]:
        words = tokens(text)
        return [" ".join(words[i : i + n]) for n in (1, 2) for i in range(len(words) - n + 1)]

    if weighting == "tfidf":
        reference = TfidfVectorizer(analyzer=unigrams_and_bigrams, sublinear_tf=True)
    else:
        reference = CountVectorizer(analyzer=unigrams_and_bigrams, binary=weighting == "binary")
    expected = reference.fit_transform(TEXTS).toarray()
    columns = [reference.vocabulary_[name] for name in names(cells)]
    assert np.allclose(matrix.toarray(), expected[:, columns], rtol=1e-12, atol=0)


def test_learn_is_count_prune_weight_and_matrix_repeats_it_for_new_texts() -> None:
    features = NgramFeatures(ngram_range=(1, 2), min_document_count=2, weighting="tfidf")
    learnt, matrix = TrainingVocabulary.learn(TokenizedTexts.of(features, TEXTS))
    cells = prune_cells(count_cells(TokenizedTexts.of(features, TEXTS)), 2, None)
    idf, expected = weight_cells(cells, "tfidf")
    assert np.array_equal(learnt.keys, cells.keys) and np.array_equal(learnt.idf, idf)
    assert np.array_equal(matrix.toarray(), expected.toarray())
    assert np.array_equal(learnt.matrix(TEXTS).toarray(), matrix.toarray())
    assert learnt.tokens == ["good", "film", "bad"]


def test_vocabulary_limits(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    everything = create("multinomial_nb", {"features": {"ngram_range": [1, 2]}}).fit(texts, labels)
    common = create("multinomial_nb", {"features": {"ngram_range": [1, 2], "min_document_count": 3}}).fit(texts, labels)
    top = create("multinomial_nb", {"features": {"ngram_range": [1, 2], "max_features": 7}}).fit(texts, labels)
    sizes = [len(model.table.keys) for model in (everything, common, top)]
    assert sizes[0] > sizes[1] > sizes[2] == 7
    counts = np.asarray((everything.estimator_input(texts) > 0).sum(axis=0)).ravel()
    assert sizes[1] == (counts >= 3).sum()
    assert set(top.table.vocabulary()) <= set(common.table.vocabulary())
    with pytest.raises(PipelineError, match="no n-gram is in 5 training documents"):
        create("multinomial_nb", {"features": {"min_document_count": 5}}).fit(["good", "bad"], ["positive", "negative"])


# Tokenizer options that each number tokens differently: stopwords and punctuation dropped, negation scopes,
# tail streams and character n-grams joined by STREAM_BREAK (id 0), stems.
TOKENIZINGS = [
    {"ngram_range": (1, 3)},
    {"stopwords": ("the", "a", "not"), "remove_punctuation": True},
    {"mark_negation": True, "tail_sentences": 2},
    {"char_ngram_range": (2, 4), "mark_negation": True},
    {"stem": "english", "min_document_count": 2, "weighting": "tfidf"},
]
CORPUS = [*TEXTS, *TRICKY, *NEGATION_TRICKY, "film good bad", "a new film, not good."]


@pytest.mark.parametrize("options", TOKENIZINGS)
@pytest.mark.parametrize("rows", [[0, 1, 2], [9, 3, 0, 14, 7, 12], list(range(len(CORPUS)))[::-1], [4, 5, 2, 0]])
def test_a_subset_of_tokenized_texts_is_those_texts_tokenized_alone(options: dict, rows: list[int]) -> None:
    """Cross-validation tokenizes a corpus once and fits each fold on a subset: the fold must get the very token
    numbering, hence n-gram keys and column order, that tokenizing its texts alone gives."""
    features = NgramFeatures(**options)
    alone = TokenizedTexts.of(features, [CORPUS[row] for row in rows])
    shared = TokenizedTexts.of(features, CORPUS).subset(rows)
    assert shared.tokens == alone.tokens
    assert np.array_equal(shared.flat, alone.flat) and np.array_equal(shared.lengths, alone.lengths)
    learnt, matrix = TrainingVocabulary.learn(alone)
    reused, reused_matrix = TrainingVocabulary.learn(shared)
    assert reused.token_ids == learnt.token_ids and np.array_equal(reused.keys, learnt.keys)
    assert (reused.idf is None and learnt.idf is None) or np.array_equal(reused.idf, learnt.idf)
    assert np.array_equal(reused_matrix.indptr, matrix.indptr) and np.array_equal(reused_matrix.indices, matrix.indices)
    assert np.array_equal(reused_matrix.data, matrix.data)


def test_a_subset_of_nothing_and_of_texts_without_tokens() -> None:
    tokenized = TokenizedTexts.of(NgramFeatures(), ["", "good film", "   "])
    assert tokenized.subset([]).tokens == [] and len(tokenized.subset([])) == 0
    empty = tokenized.subset([2, 0])
    assert empty.tokens == [] and empty.lengths.tolist() == [0, 0]
