"""The training vocabulary: n-gram columns learnt by the reference tokenizer, fitted in named steps as scikit-learn's
CountVectorizer is (count_cells -> prune_cells -> weight_cells)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from typing import Any, Self

import numpy as np

from pipeline.errors import PipelineError
from pipeline.model.ngrams.features import STREAM_BREAK, NgramFeatures
from pipeline.model.ngrams.keys import check_base, ngram_keys

# Training turns this many tokens at a time into n-grams, so its temporaries stay bounded on big corpora...
CHUNK_TOKENS = 2_000_000
# ...and tokenizes this many documents at a time, so it holds one batch's token strings, not the corpus's.
TOKENIZE_BATCH = 10_000


class GrowingIds(dict[str, int]):
    """token -> id, numbering each token the first time it is looked up: ids start at 1, 0 means unknown.
    STREAM_BREAK is always 0, so it never becomes a column."""

    def __missing__(self, token: str) -> int:
        if token == STREAM_BREAK:
            return 0
        self[token] = number = len(self) + 1
        return number


def flat_token_ids(
    tokens_of: Callable[[str], list[str]], texts: Sequence[str], id_of: Callable[[str], int]
) -> tuple[np.ndarray, np.ndarray]:
    """Every document's token ids end to end, and each document's token count.

    Texts are tokenized TOKENIZE_BATCH at a time, so only one batch's token strings are in memory.
    """
    pieces, lengths = [np.zeros(0, dtype=np.int64)], []
    for start in range(0, len(texts), TOKENIZE_BATCH):
        tokens = [tokens_of(text) for text in texts[start : start + TOKENIZE_BATCH]]
        counts = list(map(len, tokens))
        pieces.append(np.fromiter(map(id_of, chain.from_iterable(tokens)), dtype=np.int64, count=sum(counts)))
        lengths += counts
    return np.concatenate(pieces), np.array(lengths, dtype=np.int64)


def chunks(lengths: np.ndarray, max_tokens: int) -> Iterator[tuple[int, int, int, int]]:
    """(first document, end document, first token, end token) of runs of about max_tokens tokens."""
    ends = np.cumsum(lengths)
    start = 0
    while start < len(lengths):
        first_token = int(ends[start - 1]) if start else 0
        end = max(int(np.searchsorted(ends, first_token + max_tokens, side="right")), start + 1)
        yield start, end, first_token, int(ends[end - 1])
        start = end


def cell_values(
    documents: np.ndarray, columns: np.ndarray, counts: np.ndarray | None, weighting: str, idf: np.ndarray | None
) -> np.ndarray | None:
    """The value of each distinct (document, column) cell from its number of occurrences; None means all 1.

    The training matrix and serving's scores both take their values from here, so they cannot weigh
    a review differently.
    """
    if weighting == "binary":
        return None
    assert counts is not None, "count and tfidf values need the cells' counts"
    if weighting == "count":
        return counts.astype(np.float64)
    assert idf is not None, "tfidf values need idf"
    values = (1.0 + np.log(counts)) * idf[columns]
    norms = np.sqrt(np.bincount(documents, weights=values * values))
    return values / norms[documents]


def csr(
    rows: np.ndarray, columns: np.ndarray, values: np.ndarray | None, shape: tuple[int, int]
) -> Any:  # scipy.sparse.csr_matrix, imported here: serving never calls this
    from scipy import sparse

    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    data = np.ones(len(columns)) if values is None else values
    return sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=shape)


@dataclasses.dataclass(frozen=True)
class Cells:
    """The training documents' distinct (document, n-gram) cells and their occurrences, as one step hands them on.

    A cell's column is its n-gram's position in `keys` (sorted n-gram keys); cells come in document
    order with ascending columns in each document, as a CSR matrix takes them.
    """

    token_ids: dict[str, int]
    keys: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    counts: np.ndarray
    documents: int

    @property
    def document_counts(self) -> np.ndarray:
        """Each column's number of documents: a cell is one document's n-gram, counted once."""
        return np.bincount(self.columns, minlength=len(self.keys))


@dataclasses.dataclass(frozen=True)
class TokenizedTexts:
    """Texts run through features.tokenizer() once, as flat token ids, so every fit drawing documents from them
    (each cross-validation fold, the final fit) skips the tokenizer: it is most of a fit's cost.

    `tokens` numbers tokens by first appearance, from 1 (0 is STREAM_BREAK); `subset()` renumbers its
    documents' tokens by first appearance among them, as tokenizing those texts alone would, so their
    n-gram keys, and with them the order of the columns, are those of the texts alone.
    """

    features: NgramFeatures
    tokens: list[str]  # token by id: tokens[i] has id i + 1
    flat: np.ndarray  # every document's token ids, end to end
    lengths: np.ndarray  # each document's number of tokens

    @classmethod
    def of(cls, features: NgramFeatures, texts: Sequence[str]) -> Self:
        token_ids = GrowingIds()
        flat, lengths = flat_token_ids(features.tokenizer(), texts, token_ids.__getitem__)
        return cls(features, list(token_ids), flat, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def token_ids(self) -> dict[str, int]:
        return {token: number for number, token in enumerate(self.tokens, start=1)}

    def subset(self, rows: Sequence[int] | np.ndarray) -> Self:
        """The documents `rows`, in that order, exactly as `of(features, [texts[i] for i in rows])` gives them."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        ends = np.cumsum(self.lengths)
        # Each picked token's position in `flat`: its document's start there, plus its place in the document.
        shift = ends[rows] - lengths - (np.cumsum(lengths) - lengths)
        picked = self.flat[np.repeat(shift, lengths) + np.arange(int(lengths.sum()))]
        # Each token's first place among the documents (len(picked) if absent): ~30x faster than np.unique's.
        first = np.full(len(self.tokens) + 1, len(picked), dtype=np.int64)
        np.minimum.at(first, picked, np.arange(len(picked)))
        found = np.flatnonzero(first[1:] < len(picked)) + 1  # STREAM_BREAK (0) is no token: it stays 0
        in_order = found[np.argsort(first[found])]
        renumber = np.zeros(len(self.tokens) + 1, dtype=np.int64)
        renumber[in_order] = np.arange(1, len(in_order) + 1)
        tokens = [self.tokens[number - 1] for number in in_order.tolist()]
        return dataclasses.replace(self, tokens=tokens, flat=renumber[picked], lengths=lengths)


def count_cells(texts: TokenizedTexts) -> Cells:
    """Every n-gram of `texts` as distinct cells with counts, in one pass over the tokens (scikit-learn's _count_vocab).

    Each chunk of documents is reduced to its distinct (document, n-gram) cells with their counts,
    so the temporaries are one chunk's; the chunks' n-grams are then numbered as one sorted vocabulary.
    """
    flat, lengths, ngram_range = texts.flat, texts.lengths, texts.features.ngram_range
    base = len(texts.tokens) + 1
    check_base(base, ngram_range)
    found, rows, columns, counts = [], [], [], []
    for start, end, first, last in chunks(lengths, CHUNK_TOKENS):
        documents = np.repeat(np.arange(end - start), lengths[start:end])
        keys, owners = ngram_keys(flat[first:last], documents, base, ngram_range)
        unique, position = np.unique(keys, return_inverse=True)
        cells, occurrences = np.unique(owners * len(unique) + position, return_counts=True)
        rows.append(cells // len(unique) + start)
        columns.append(cells % len(unique) + sum(map(len, found)))
        counts.append(occurrences)
        found.append(unique)
    if len(found) == 1:
        keys, column_of = found[0], None
    else:  # one numbering for all chunks; it keeps key order, so each row's columns stay sorted
        keys, column_of = np.unique(np.concatenate(found), return_inverse=True)
    every_column = np.concatenate(columns)
    if column_of is not None:
        every_column = column_of[every_column]
    return Cells(texts.token_ids, keys, np.concatenate(rows), every_column, np.concatenate(counts), len(texts))


def prune_cells(cells: Cells, min_document_count: int, max_features: int | None) -> Cells:
    """Only the columns in at least min_document_count documents, at most max_features of them, renumbered
    (scikit-learn's _limit_features)."""
    document_counts = cells.document_counts
    kept = np.flatnonzero(document_counts >= min_document_count)
    if max_features is not None and len(kept) > max_features:
        # The most widespread first; equal counts in key order, so the choice is reproducible.
        kept = np.sort(kept[np.lexsort((cells.keys[kept], -document_counts[kept]))[:max_features]])
    if not len(kept):
        raise PipelineError(f"no n-gram is in {min_document_count} training documents; lower it")
    renumber = np.full(len(cells.keys), -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    columns = renumber[cells.columns]
    inside = columns >= 0
    return dataclasses.replace(
        cells, keys=cells.keys[kept], rows=cells.rows[inside], columns=columns[inside], counts=cells.counts[inside]
    )


def weight_cells(cells: Cells, weighting: str) -> tuple[np.ndarray | None, Any]:
    """Each column's smoothed idf (tfidf only, else None) and the documents' sparse matrix of cell values."""
    idf = None
    if weighting == "tfidf":
        idf = np.log((1 + cells.documents) / (1 + cells.document_counts)) + 1.0
    values = cell_values(cells.rows, cells.columns, cells.counts, weighting, idf)
    return idf, csr(cells.rows, cells.columns, values, (cells.documents, len(cells.keys)))


@dataclasses.dataclass
class TrainingVocabulary:
    """The n-gram columns learnt from training texts by the reference path, tokenizer() and dicts.

    It makes the sparse matrix the scikit-learn estimator is fit on. Serving uses an NgramTable
    instead, and tests check that both give the estimator's predictions.
    """

    features: NgramFeatures
    token_ids: dict[str, int]
    keys: np.ndarray  # sorted n-gram keys; a key's position is its column
    idf: np.ndarray | None

    @property
    def base(self) -> int:
        return len(self.token_ids) + 1

    @property
    def tokens(self) -> list[str]:
        """Token by id: tokens[i] has id i + 1, as NgramTable takes them."""
        tokens = [""] * len(self.token_ids)
        for token, number in self.token_ids.items():
            tokens[number - 1] = token
        return tokens

    @classmethod
    def learn(cls, texts: TokenizedTexts) -> tuple[Self, Any]:
        """The vocabulary of `texts` and their sparse matrix: count, prune, then weight the cells."""
        features = texts.features
        cells = count_cells(texts)
        cells = prune_cells(cells, features.min_document_count, features.max_features)
        idf, matrix = weight_cells(cells, features.weighting)
        return cls(features, cells.token_ids, cells.keys, idf), matrix

    def matrix(self, texts: Sequence[str]) -> Any:
        """The estimator's input for new texts (unknown tokens are id 0), for tests that check serving."""
        flat, lengths = flat_token_ids(self.features.tokenizer(), texts, lambda token: self.token_ids.get(token, 0))
        documents = np.repeat(np.arange(len(texts)), lengths)
        keys, owners = ngram_keys(flat, documents, self.base, self.features.ngram_range)
        slot = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[slot] == keys
        width = len(self.keys)
        cells, counts = np.unique(owners[found] * width + slot[found], return_counts=True)
        rows, columns = cells // width, cells % width
        values = cell_values(rows, columns, counts, self.features.weighting, self.idf)
        return csr(rows, columns, values, (len(texts), width))
