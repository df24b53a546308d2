"""NgramTable: serving's view of a vocabulary, turning a batch of raw texts into (document, column) cells."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from pipeline.model.ngrams.fast_tokenizer import HashedTokenizer
from pipeline.model.ngrams.features import NgramFeatures
from pipeline.model.ngrams.hash_index import HashIndex
from pipeline.model.ngrams.keys import ngram_keys, ngram_names, parse_names
from pipeline.model.ngrams.vocabulary import flat_token_ids


class NgramTable:
    """Serving's view of a vocabulary: numpy arrays that turn a batch of raw texts into (document, column) cells.

    Texts are tokenized by a HashedTokenizer when the features allow it (NgramFeatures.vectorizable) and
    its entries' hashes are distinct; otherwise by the regex path, tokenizer() per text, which stemming
    and character n-gram models always take. Columns are found in a HashIndex of the n-gram keys.
    """

    def __init__(self, features: NgramFeatures, tokens: Sequence[str], keys: np.ndarray) -> None:
        """`tokens[i]` has id i + 1; `keys[c]` is column c's n-gram packed with base len(tokens) + 1."""
        self.features = features
        self.tokens = list(tokens)
        self.token_ids = {token: number for number, token in enumerate(self.tokens, start=1)}
        self.base = len(self.tokens) + 1
        self.keys = keys
        if len(np.unique(keys)) != len(keys):
            raise ValueError("vocabulary lists an n-gram twice")
        self._columns = HashIndex(keys)
        self._tokens = features.tokenizer()
        self._hashed = HashedTokenizer.build(features, self.tokens) if features.vectorizable else None

    @classmethod
    def parse(cls, features: NgramFeatures, vocabulary: Sequence[str]) -> Self:
        """The table of a saved vocabulary: column -> n-gram, its tokens joined by single spaces."""
        tokens, keys = parse_names(vocabulary, features.ngram_range)
        return cls(features, tokens, keys)

    def vocabulary(self) -> list[str]:
        """Column -> n-gram, as parse() reads it."""
        return ngram_names(self.keys, self.base, self.tokens)

    @property
    def vectorized(self) -> bool:
        """Whether cells() tokenizes with array operations (hashed_ids) rather than the regex path (regex_ids)."""
        return self._hashed is not None

    def cells(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document, column) of every occurrence of a vocabulary n-gram in the batch."""
        ids, documents = self._hashed.ids(texts) if self._hashed is not None else self.regex_ids(texts)
        keys, owners = ngram_keys(ids, documents, self.base, self.features.ngram_range)
        columns = self._columns.find(keys)
        found = columns >= 0
        return owners[found], columns[found]

    def regex_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each kept token's id (0: unknown) and document, by tokenizer(): the reference for hashed_ids()."""
        ids, lengths = flat_token_ids(self._tokens, texts, lambda token: self.token_ids.get(token, 0))
        return ids, np.repeat(np.arange(len(texts)), lengths)

    def hashed_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """regex_ids() by the vectorized path; only for a vectorized table."""
        if self._hashed is None:
            raise ValueError("this table tokenizes by the regex path: it has no hashed ids")
        return self._hashed.ids(texts)
