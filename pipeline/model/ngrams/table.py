"""NgramTable: serving's view of a vocabulary, turning a batch of raw texts into (document, column) cells."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

import numpy as np

from pipeline.model.ngrams import compiled
from pipeline.model.ngrams.fast_tokenizer import HashedTokenizer
from pipeline.model.ngrams.features import NgramFeatures
from pipeline.model.ngrams.hash_index import HashIndex
from pipeline.model.ngrams.keys import ngram_keys, ngram_names, parse_names
from pipeline.model.ngrams.vocabulary import flat_token_ids
from pipeline.model.text import MAX_MEMO

if TYPE_CHECKING:
    from pipeline.model.ngrams._scorer import NgramScorer


class NgramTable:
    """Serving's view of a vocabulary: numpy arrays that turn a batch of raw texts into (document, column) cells.

    Three paths give the same cells. When the features allow it (NgramFeatures.vectorizable), the compiled
    scorer (compiled.py) does all of it in C; where it is not built, a HashedTokenizer tokenizes with numpy
    arrays and a HashIndex finds the columns. Otherwise, and always for stemming and character n-gram
    models, the regex path: tokenizer() per text, the reference the other two are tested against.
    """

    def __init__(
        self, features: NgramFeatures, tokens: Sequence[str], keys: np.ndarray, *, use_compiled: bool = True
    ) -> None:
        """`tokens[i]` has id i + 1; `keys[c]` is column c's n-gram packed with base len(tokens) + 1.
        `use_compiled=False` keeps the numpy path even where the compiled scorer is built (tests, benchmarks)."""
        self.features = features
        self.tokens = list(tokens)
        self.token_ids = {token: number for number, token in enumerate(self.tokens, start=1)}
        self.base = len(self.tokens) + 1
        self.keys = keys
        self._tokens = features.tokenizer()
        self._names: dict[int, str] = {}  # column -> names(), filled as explanations ask
        self.compiled: NgramScorer | None = (
            compiled.scorer(features, self.tokens, keys, self.base) if use_compiled else None
        )
        # The compiled scorer refuses a repeated n-gram as it builds its table; the other paths check here.
        if self.compiled is None and len(np.unique(keys)) != len(keys):
            raise ValueError("vocabulary lists an n-gram twice")

    @functools.cached_property
    def _columns(self) -> HashIndex:
        return HashIndex(self.keys)

    @functools.cached_property
    def _hashed(self) -> HashedTokenizer | None:
        """Built on first use: the compiled scorer does not need it, and its class table takes ~0.2 s."""
        return HashedTokenizer.build(self.features, self.tokens) if self.features.vectorizable else None

    @classmethod
    def parse(cls, features: NgramFeatures, vocabulary: Sequence[str], *, use_compiled: bool = True) -> Self:
        """The table of a saved vocabulary: column -> n-gram, its tokens joined by single spaces."""
        tokens, keys = parse_names(vocabulary, features.ngram_range)
        return cls(features, tokens, keys, use_compiled=use_compiled)

    def vocabulary(self) -> list[str]:
        """Column -> n-gram, as parse() reads it."""
        return ngram_names(self.keys, self.base, self.tokens)

    def names(self, columns: np.ndarray) -> list[str]:
        """The columns' n-grams as explanations show them (NgramFeatures.readable).

        Remembered per column: unpacking a key costs about a microsecond, a tenth of explaining a review's top
        ten, and the same n-grams lead most reviews. Cleared beyond MAX_MEMO, as the tokenizers' memos are.
        """
        known = self._names
        if len(known) > MAX_MEMO:
            known.clear()
        wanted = columns.tolist()
        names = [known.get(column) for column in wanted]  # each read once: another thread may clear the memo
        missing = [column for column, name in zip(wanted, names, strict=True) if name is None]
        if not missing:
            return names  # pyright: ignore[reportReturnType] (no None left)
        found = ngram_names(self.keys[missing], self.base, self.tokens)
        fresh = dict(zip(missing, map(self.features.readable, found), strict=True))
        known.update(fresh)
        return [fresh[column] if name is None else name for column, name in zip(wanted, names, strict=True)]

    @property
    def vectorized(self) -> bool:
        """Whether cells() tokenizes with array operations (hashed_ids) rather than the regex path (regex_ids)."""
        return self._hashed is not None

    def prepared(self, texts: Sequence[str]) -> list[str]:
        """The texts as the compiled scorer takes them: lower-cased here, as tokenizer() does, when the
        features say so."""
        return [text.lower() for text in texts] if self.features.lowercase else list(texts)

    def cells(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document, column) of every occurrence of a vocabulary n-gram in the batch."""
        if self.compiled is not None:
            return self.compiled.cells(self.prepared(texts))
        ids, documents = self._hashed.ids(texts) if self._hashed is not None else self.regex_ids(texts)
        return self._columns_of(ids, documents)

    def reference_cells(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """cells() by the regex path whatever the features: the specification the faster paths are tested against."""
        return self._columns_of(*self.regex_ids(texts))

    def _columns_of(self, ids: np.ndarray, documents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
