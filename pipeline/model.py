"""The one model interface that train, evaluate, the service and the Lambda handler use.

Text goes in raw: every model tokenizes and cleans it itself, from settings saved beside its
weights, so training and serving cannot drift apart. Weights are JSON, never pickle.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import string
import sys
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

import numpy as np

from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.progress import logged

if TYPE_CHECKING:
    import nltk

log = logging.getLogger(__name__)

# NLTK is imported only inside the code that needs it: `import nltk` also imports scikit-learn and
# scipy whenever they are installed (nltk.classify.scikitlearn), which serving must not load.

LABELS: tuple[str, ...] = ("negative", "positive")

# Spellings of the two labels found in corpora and users' files; everything else is an error.
LABEL_ALIASES = {
    "negative": "negative", "neg": "negative", "0": "negative",
    "positive": "positive", "pos": "positive", "1": "positive",
}  # fmt: skip

FORMAT_VERSION = 1

# NLTK's WordPunctTokenizer pattern, which made movie_reviews' words() from its text. Python's `re`
# gives the same tokens ~5x faster than nltk's regexp module (see tests/unit/test_model.py).
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]+")

PUNCTUATION = frozenset(string.punctuation)
# nltk.stem.SnowballStemmer.languages, here so checking params needs no NLTK import.
SNOWBALL_LANGUAGES = frozenset(
    "arabic danish dutch english finnish french german hungarian italian norwegian porter portuguese "
    "romanian russian spanish swedish".split()
)


def normalize_label(label: object) -> str:
    key = str(label).strip().lower()
    if key not in LABEL_ALIASES:
        raise PipelineError(f"unknown label {label!r}; expected one of {', '.join(sorted(LABEL_ALIASES))}")
    return LABEL_ALIASES[key]


def tokenize(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text)


@dataclasses.dataclass(frozen=True)
class TextFeatures:
    """How raw text becomes a bag of words; saved in model.json so serving repeats it exactly."""

    # movie_reviews is stored lower-cased, so this is a no-op on it, but users' text is not:
    # without it "Great" would never match the feature "great" learnt from the corpus.
    lowercase: bool = True
    # The word list itself, not a language name, so loading a model needs no NLTK data.
    stopwords: tuple[str, ...] = ()
    # Drop tokens that are one punctuation character, as the seed did ("--" and "..." stay).
    remove_punctuation: bool = True
    # A Snowball stemmer language ("english"), or None for no stemming.
    stem: str | None = None
    # Feature value: True for presence instead of the token's count.
    binary: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "stopwords", tuple(self.stopwords))
        if self.stem is not None and self.stem not in SNOWBALL_LANGUAGES:
            raise PipelineError(f"unknown Snowball language {self.stem!r}")

    def featurizer(self) -> Callable[[str], dict[str, int | bool]]:
        """A text -> features function. Stems are memoized: stemming is most of the cost."""
        stopwords = frozenset(self.stopwords)
        stemmer = None
        if self.stem:
            from nltk.stem.snowball import SnowballStemmer

            stemmer = SnowballStemmer(self.stem)
        stems: dict[str, str] = {}

        def features(text: str) -> dict[str, int | bool]:
            tokens = tokenize(text.lower() if self.lowercase else text)
            kept = [
                token
                for token in tokens
                if token not in stopwords and not (self.remove_punctuation and token in PUNCTUATION)
            ]
            if stemmer is not None:
                kept = [stems.get(t) or stems.setdefault(t, stemmer.stem(t)) for t in kept]
            if self.binary:
                return dict.fromkeys(kept, True)
            return dict(Counter(kept))

        return features


class SentimentModel(Protocol):
    """Everything that stages, the service and the Lambda handler may use. Text goes in raw."""

    kind: ClassVar[str]
    labels: tuple[str, ...]

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self: ...
    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]: ...
    def predict(self, texts: Sequence[str]) -> list[str]: ...
    def save(self, directory: Path) -> None: ...


def check_training_labels(labels: Sequence[str]) -> None:
    found = set(labels)
    unknown = found - set(LABELS)
    if unknown:
        raise PipelineError(f"training labels {sorted(unknown)} are not in {LABELS}")
    if len(found) < len(LABELS):
        raise PipelineError(f"training data has only {sorted(found)}; a classifier needs both {LABELS}")


class NltkNaiveBayes:
    """NLTK's NaiveBayesClassifier on a bag of words: the seed model, with its exact probabilities.

    Saved as the label and feature-value counts NLTK's trainer collects, from which the same
    ELE-smoothed classifier is rebuilt on load, so predictions match the trained object.
    """

    kind: ClassVar[str] = "nltk_naive_bayes"
    labels = LABELS

    def __init__(self, features: Mapping[str, Any] | TextFeatures | None = None) -> None:
        if isinstance(features, TextFeatures):
            self.features = features
        else:
            self.features = TextFeatures(**(features or {}))
        self._featurize = self.features.featurizer()
        self._classifier: nltk.NaiveBayesClassifier | None = None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self:
        import nltk

        check_training_labels(labels)
        featuresets = [
            (self._featurize(text), label)
            for text, label in logged(zip(texts, labels, strict=True), len(texts), "documents featurized", log)
        ]
        self._classifier = nltk.NaiveBayesClassifier.train(featuresets)
        return self

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        classifier = self._fitted()
        result = []
        for text in texts:
            distribution = classifier.prob_classify(self._featurize(text))
            result.append({label: distribution.prob(label) for label in LABELS})
        return result

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [max(LABELS, key=p.__getitem__) for p in self.predict_proba(texts)]

    def save(self, directory: Path) -> None:
        classifier = self._fitted()
        label_counts = classifier._label_probdist.freqdist()
        features: dict[str, dict[str, Any]] = {}
        for (label, name), distribution in classifier._feature_probdist.items():
            entry = features.setdefault(name, {"bins": distribution._bins, "counts": {}})
            entry["counts"][label] = sorted(distribution.freqdist().items(), key=_value_order)
        _save(directory, self, {"options": {"features": dataclasses.asdict(self.features)}}, {
            "estimator": "ELEProbDist",
            "label_counts": dict(label_counts),
            "features": features,
        })  # fmt: skip

    @classmethod
    def load(cls, directory: Path, options: Mapping[str, Any]) -> Self:
        import nltk
        from nltk.probability import ELEProbDist, FreqDist

        model = cls(**options)
        weights = read_json(directory / "weights.json")
        label_probdist = ELEProbDist(FreqDist(weights["label_counts"]))
        feature_probdist = {}
        for name, entry in weights["features"].items():
            for label, counts in entry["counts"].items():
                frequencies = FreqDist({value: count for value, count in counts})
                feature_probdist[label, name] = ELEProbDist(frequencies, bins=entry["bins"])
        model._classifier = nltk.NaiveBayesClassifier(label_probdist, feature_probdist)
        return model

    def _fitted(self) -> nltk.NaiveBayesClassifier:
        if self._classifier is None:
            raise PipelineError(f"{self.kind} model is not fitted")
        return self._classifier


def _value_order(item: tuple[Any, int]) -> tuple[str, str]:
    """Feature values mix None, bools and ints; sort them by type then value for a stable file."""
    return (type(item[0]).__name__, repr(item[0]))


def _write_config(directory: Path, model: SentimentModel, config: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "model.json", {
        "kind": model.kind,
        "format_version": FORMAT_VERSION,
        "labels": list(model.labels),
        **config,
    })  # fmt: skip


def _save(directory: Path, model: SentimentModel, config: dict[str, Any], weights: dict[str, Any]) -> None:
    _write_config(directory, model, config)
    write_json(directory / "weights.json", weights, compact=True)


# N-gram linear models: multinomial and Bernoulli naive Bayes, logistic regression and NBSVM share
# one feature pipeline and one serving path (a linear score over n-gram columns). Training uses
# scikit-learn and scipy, imported inside fit(); loading and predicting need numpy only.

# Stopword-list entries that carry sentiment: NLTK's english list has them, and dropping "not" turns
# "not good" into "good". tokenize() splits "don't" into "don", "'", "t", so those halves count too.
NEGATIONS = frozenset({
    "no", "not", "nor", "never", "t", "ain", "aren", "couldn", "didn", "doesn", "don", "hadn", "hasn",
    "haven", "isn", "mightn", "mustn", "needn", "shan", "shouldn", "wasn", "weren", "won", "wouldn",
})  # fmt: skip

WEIGHTINGS = ("binary", "count", "tfidf")
# An n-gram's key packs its token ids into one int64 (id1 * base**2 + id2 * base + id3), hence 3.
MAX_NGRAM = 3
# Training turns this many tokens at a time into n-grams, so its temporaries stay bounded on big corpora...
CHUNK_TOKENS = 2_000_000
# ...and tokenizes this many documents at a time, so it holds one batch's token strings, not the corpus's.
TOKENIZE_BATCH = 10_000
# Odd, so its powers modulo 2**64 never vanish; any such constant would do (the hash is checked anyway).
HASH_MULTIPLIER = 0x9E3779B97F4A7C15
# A stemmer memo is cleared beyond this size, so a server fed arbitrary words cannot grow it for ever.
MAX_MEMO = 200_000
# Negation marking (Das & Chen 2001, Pang et al. 2002): the words a cue opens a scope with. "t" is the
# tail of "n't", which tokenize() splits off ("didn't" -> "didn", "'", "t").
NEGATION_CUES = frozenset({"not", "no", "never", "t"})
# A punctuation token holding one of these closes the scope ("," "." "!!!" "?!" "...").
CLAUSE_MARKS = frozenset(".,:;!?")
# Prefix of a token inside a scope. "¬" is not a word character, so a marked word ("¬good") is never a
# token of the text; only runs of such characters can meet ("¬¬" written, or "¬" in a scope), rare enough
# to share a column.
NEGATED_PREFIX = "¬"
# Prefix of a token repeated from a text's last sentences (NgramFeatures.tail_sentences) and of a character
# n-gram of a word (char_ngram_range). Like "¬", neither is a word character, so these columns never meet a
# word of the text, nor each other.
TAIL_PREFIX = "»"
CHAR_PREFIX = "¤"
# A token holding one of these ends a sentence, for tail_sentences.
SENTENCE_MARKS = frozenset(".!?")
# Put between the token streams a tokenizer joins (the text, its tail, each character n-gram). Its id is
# always 0 (unknown), so no n-gram holding it is a column and no n-gram spans two streams.
STREAM_BREAK = " "


@dataclasses.dataclass(frozen=True)
class NgramFeatures:
    """How raw text becomes n-gram columns for the linear models; saved in model.json so serving repeats it."""

    lowercase: bool = True
    # The word list itself. Negations (NEGATIONS) are taken out of it, and the list saved is the one applied.
    stopwords: tuple[str, ...] = ()
    # Drop one-character punctuation tokens. Off by default: "!" and "?" are signal in n-grams.
    remove_punctuation: bool = False
    # A Snowball stemmer language, or None. Stemming needs NLTK when serving and takes the slower regex path.
    stem: str | None = None
    # Shortest and longest n-gram in tokens: [1, 2] is unigrams and bigrams.
    ngram_range: tuple[int, int] = (1, 2)
    # Keep the n-grams found in at least this many training documents...
    min_document_count: int = 1
    # ...and of those at most this many, the most widespread first (None: all of them).
    max_features: int | None = None
    # Column values: binary (presence), count, or tfidf ((1 + ln count) * smoothed idf, rows L2-normalized).
    weighting: str = "binary"
    # Prefix NEGATED_PREFIX to the tokens between a negation cue and the next clause punctuation, so
    # "not a good film ," gives "¬a ¬good ¬film": the unigram "good" then stops counting for the review.
    # Scopes are found with arrays when serving (_negation_scopes), so marking costs no regex path.
    mark_negation: bool = False
    # The n-grams of the text's last this-many sentences once more, their tokens prefixed TAIL_PREFIX (and
    # negation-marked as in the whole text): a review's verdict is often in its closing sentences. 0: none.
    tail_sentences: int = 0
    # Also each word's character n-grams, shortest and longest ([3, 5]), the word padded with "<" and ">":
    # each is a column of its own (a unigram, never joined into word n-grams). None: none.
    char_ngram_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stopwords", tuple(word for word in self.stopwords if word not in NEGATIONS))
        object.__setattr__(self, "ngram_range", tuple(self.ngram_range))
        if self.char_ngram_range is not None:
            object.__setattr__(self, "char_ngram_range", tuple(self.char_ngram_range))
            if len(self.char_ngram_range) != 2 or not 1 <= self.char_ngram_range[0] <= self.char_ngram_range[1]:
                raise PipelineError(
                    f"char_ngram_range {list(self.char_ngram_range)} must be [low, high], 1 <= low <= high"
                )
        if self.tail_sentences < 0:
            raise PipelineError("tail_sentences must be 0 or more")
        if len(self.ngram_range) != 2 or not 1 <= self.ngram_range[0] <= self.ngram_range[1] <= MAX_NGRAM:
            raise PipelineError(f"ngram_range {list(self.ngram_range)} must be [low, high] with 1 <= low <= high <= 3")
        if self.weighting not in WEIGHTINGS:
            raise PipelineError(f"weighting '{self.weighting}' is not one of {', '.join(WEIGHTINGS)}")
        if self.min_document_count < 1 or (self.max_features is not None and self.max_features < 1):
            raise PipelineError("min_document_count and max_features must be at least 1")
        if self.stem is not None and self.stem not in SNOWBALL_LANGUAGES:
            raise PipelineError(f"unknown Snowball language {self.stem!r}")

    def dropped(self) -> frozenset[str]:
        return frozenset(self.stopwords) | (PUNCTUATION if self.remove_punctuation else frozenset())

    def tokenizer(self) -> Callable[[str], list[str]]:
        """text -> the tokens n-grams are made of. This is the reference: the vectorized serving path must equal it."""
        dropped = self.dropped()
        if self.mark_negation:  # a stopword is dropped inside a negation scope too
            dropped |= {NEGATED_PREFIX + word for word in dropped}
        stemmer = None
        if self.stem:
            from nltk.stem.snowball import SnowballStemmer

            stemmer = SnowballStemmer(self.stem)
        stems: dict[str, str] = {}
        grams: dict[str, tuple[str, ...]] = {}  # word -> its character n-grams: words repeat, so each is built once

        def clean(kept: list[str]) -> list[str]:
            if dropped:
                kept = [token for token in kept if token not in dropped]
            if stemmer is not None:
                if len(stems) > MAX_MEMO:
                    stems.clear()
                kept = [stems.get(t) or stems.setdefault(t, stemmer.stem(t)) for t in kept]
            return kept

        def tokens(text: str) -> list[str]:
            raw = tokenize(text.lower() if self.lowercase else text)
            marked = _mark_negation(raw) if self.mark_negation else raw
            kept = clean(marked)
            if self.tail_sentences:  # sentence ends are clause punctuation, which marking never prefixes
                tail = clean(_last_sentences(marked, self.tail_sentences))
                kept = [*kept, STREAM_BREAK, *(TAIL_PREFIX + token for token in tail)]
            if self.char_ngram_range:
                if len(grams) > MAX_MEMO:
                    grams.clear()
                for word in clean(raw):
                    if word.isalnum():
                        kept += grams.get(word) or grams.setdefault(word, character_ngrams(word))
            return kept

        def character_ngrams(word: str) -> tuple[str, ...]:
            """STREAM_BREAK before each of the word's prefixed character n-grams, so none joins another."""
            low, high = self.char_ngram_range
            padded = f"<{word}>"
            spans = [(start, n) for n in range(low, min(high, len(padded)) + 1) for start in range(len(padded) - n + 1)]
            return tuple(chain.from_iterable((STREAM_BREAK, CHAR_PREFIX + padded[a : a + n]) for a, n in spans))

        return tokens


def _mark_negation(tokens: list[str]) -> list[str]:
    """Tokens after a cue, up to the next clause punctuation, get NEGATED_PREFIX; cues and the punctuation do not.

    It runs before stopwords and punctuation are dropped, so a dropped "," still closes the scope and a dropped
    stopword still lies inside one.
    """
    marked, negated = [], False
    for token in tokens:
        if token.lower() in NEGATION_CUES:
            negated = True
            marked.append(token)
        elif not CLAUSE_MARKS.isdisjoint(token):
            negated = False
            marked.append(token)
        else:
            marked.append(NEGATED_PREFIX + token if negated else token)
    return marked


def _last_sentences(tokens: list[str], count: int) -> list[str]:
    """The tokens of the last `count` sentences (all of them if there are fewer): a sentence ends with a
    token holding ".", "!" or "?", and the text's final sentence need not."""
    ends = [i for i, token in enumerate(tokens) if not SENTENCE_MARKS.isdisjoint(token)]
    if ends and ends[-1] == len(tokens) - 1:
        ends.pop()
    return tokens[ends[-count] + 1 :] if len(ends) >= count else tokens


class _GrowingIds(dict[str, int]):
    """token -> id, numbering each token the first time it is looked up: ids start at 1, 0 means unknown.
    STREAM_BREAK is always 0, so it never becomes a column."""

    def __missing__(self, token: str) -> int:
        if token == STREAM_BREAK:
            return 0
        self[token] = number = len(self) + 1
        return number


def _flat_token_ids(
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


def _chunks(lengths: np.ndarray, max_tokens: int) -> Iterator[tuple[int, int, int, int]]:
    """(first document, end document, first token, end token) of runs of about max_tokens tokens."""
    ends = np.cumsum(lengths)
    start = 0
    while start < len(lengths):
        first_token = int(ends[start - 1]) if start else 0
        end = max(int(np.searchsorted(ends, first_token + max_tokens, side="right")), start + 1)
        yield start, end, first_token, int(ends[end - 1])
        start = end


def _ngram_keys(
    ids: np.ndarray, documents: np.ndarray, base: int, ngram_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The key of every n-gram of consecutive tokens inside one document, and that document.

    `ids` are in text order with dropped tokens already removed, so n-grams span stopwords as in
    scikit-learn; an n-gram holding an unknown token (id 0) is never a column and is left out.
    `documents` gives each token's document and never decreases.
    """
    low, high = ngram_range
    keys, owners = [], []
    key, valid = ids, ids > 0
    for n in range(1, high + 1):
        if n > 1:
            key = key[:-1] * base + ids[n - 1 :]
            valid = valid[:-1] & (ids[n - 1 :] > 0) & (documents[n - 1 :] == documents[: len(documents) - n + 1])
        if n >= low:
            keys.append(key[valid])
            owners.append(documents[: len(key)][valid])
    return np.concatenate(keys), np.concatenate(owners)


def _check_base(base: int, ngram_range: tuple[int, int]) -> None:
    if base ** ngram_range[1] >= 2**63:
        raise PipelineError(
            f"{base - 1} distinct tokens are too many for {ngram_range[1]}-gram keys; lower ngram_range"
        )


def _ngram_names(keys: np.ndarray, base: int, tokens: Sequence[str]) -> list[str]:
    """Keys back into "token token" strings (tokens[id - 1] is token id); n is 1, 2 or 3 by the key's size."""
    names = []
    for key in keys.tolist():
        parts = []
        while key:
            key, number = divmod(key, base)
            parts.append(tokens[number - 1])
        names.append(" ".join(reversed(parts)))
    return names


def _distinct_cells(documents: np.ndarray, columns: np.ndarray, stamp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (document, column) pairs, without sorting them all (~2.5x faster than np.unique here).

    `stamp` is scratch space, one int64 per column, of this thread only. Each document writes its cells'
    positions into it; a cell is kept where its column holds its own position, so exactly one cell per
    distinct column survives whichever write wins, and nothing needs resetting between documents.
    """
    order = np.argsort(documents, kind="stable")  # sorted runs, one per n-gram length: a cheap merge
    documents, columns = documents[order], columns[order]
    bounds = [0, *(np.flatnonzero(np.diff(documents)) + 1).tolist(), len(columns)]
    positions = np.arange(len(columns))
    keep = np.empty(len(columns), dtype=bool)
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        part, mine = columns[low:high], positions[low:high]
        stamp[part] = mine
        keep[low:high] = stamp[part] == mine
    return documents[keep], columns[keep]


def _cell_values(
    documents: np.ndarray, columns: np.ndarray, counts: np.ndarray | None, weighting: str, idf: np.ndarray | None
) -> np.ndarray | None:
    """The value of each distinct (document, column) cell from its number of occurrences; None means all 1.

    The training matrix and serving's scores both take their values from here, so they cannot weigh
    a review differently.
    """
    if weighting == "binary":
        return None
    if weighting == "count":
        return counts.astype(np.float64)
    values = (1.0 + np.log(counts)) * idf[columns]
    norms = np.sqrt(np.bincount(documents, weights=values * values))
    return values / norms[documents]


def _csr(
    rows: np.ndarray, columns: np.ndarray, values: np.ndarray | None, shape: tuple[int, int]
) -> Any:  # scipy.sparse.csr_matrix, imported here: serving never calls this
    from scipy import sparse

    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    data = np.ones(len(columns)) if values is None else values
    return sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=shape)


@dataclasses.dataclass
class _TrainingVocabulary:
    """The n-gram columns learnt from training texts by the reference path, tokenize() and dicts.

    It makes the sparse matrix the scikit-learn estimator is fit on. Serving uses an _NgramTable
    instead, and tests check that both give the estimator's predictions.
    """

    features: NgramFeatures
    token_ids: dict[str, int]
    keys: np.ndarray  # sorted n-gram keys; a key's position is its column
    idf: np.ndarray | None

    @property
    def base(self) -> int:
        return len(self.token_ids) + 1

    @classmethod
    def learn(cls, features: NgramFeatures, texts: Sequence[str]) -> tuple[Self, Any]:
        """The vocabulary of `texts` and their sparse matrix, in one pass over the tokens.

        Each chunk of documents is reduced to its distinct (document, n-gram) cells with their counts;
        an n-gram's document count is then its number of cells, which decides the columns kept.
        """
        token_ids = _GrowingIds()
        flat, lengths = _flat_token_ids(features.tokenizer(), texts, token_ids.__getitem__)
        base = len(token_ids) + 1
        _check_base(base, features.ngram_range)
        found, rows, columns, counts = [], [], [], []
        for start, end, first, last in _chunks(lengths, CHUNK_TOKENS):
            documents = np.repeat(np.arange(end - start), lengths[start:end])
            keys, owners = _ngram_keys(flat[first:last], documents, base, features.ngram_range)
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
        rows, columns, counts = np.concatenate(rows), np.concatenate(columns), np.concatenate(counts)
        if column_of is not None:
            columns = column_of[columns]
        document_counts = np.bincount(columns, minlength=len(keys))
        kept = np.flatnonzero(document_counts >= features.min_document_count)
        if features.max_features is not None and len(kept) > features.max_features:
            # The most widespread first; equal counts in key order, so the choice is reproducible.
            kept = np.sort(kept[np.lexsort((keys[kept], -document_counts[kept]))[: features.max_features]])
        if not len(kept):
            raise PipelineError(f"no n-gram is in {features.min_document_count} training documents; lower it")
        renumber = np.full(len(keys), -1, dtype=np.int64)
        renumber[kept] = np.arange(len(kept))
        columns = renumber[columns]
        inside = columns >= 0
        rows, columns, counts = rows[inside], columns[inside], counts[inside]
        idf = None
        if features.weighting == "tfidf":
            idf = np.log((1 + len(texts)) / (1 + document_counts[kept])) + 1.0
        vocabulary = cls(features, dict(token_ids), keys[kept], idf)
        values = _cell_values(rows, columns, counts, features.weighting, idf)
        return vocabulary, _csr(rows, columns, values, (len(texts), len(kept)))

    def matrix(self, texts: Sequence[str]) -> Any:
        """The estimator's input for new texts (unknown tokens are id 0), for tests that check serving."""
        flat, lengths = _flat_token_ids(self.features.tokenizer(), texts, lambda token: self.token_ids.get(token, 0))
        documents = np.repeat(np.arange(len(texts)), lengths)
        keys, owners = _ngram_keys(flat, documents, self.base, self.features.ngram_range)
        slot = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[slot] == keys
        width = len(self.keys)
        cells, counts = np.unique(owners[found] * width + slot[found], return_counts=True)
        rows, columns = cells // width, cells % width
        values = _cell_values(rows, columns, counts, self.features.weighting, self.idf)
        return _csr(rows, columns, values, (len(texts), width))

    def table(self) -> _NgramTable:
        tokens = [""] * len(self.token_ids)
        for token, number in self.token_ids.items():
            tokens[number - 1] = token
        return _NgramTable(self.features, tokens, self.keys)


@functools.cache
def _character_classes() -> np.ndarray:
    """Each code point's class as TOKEN_PATTERN sees it: 0 space (\\s), 1 word (\\w), 2 other.

    Built once per process (~0.2 s, 1.1 MB) by running `re` itself over every code point, so the
    vectorized tokenizer cannot class a character differently from tokenize().
    """
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    classes = np.full(sys.maxunicode + 1, 2, dtype=np.uint8)
    classes[[match.start() for match in re.finditer(r"\w", everything)]] = 1
    classes[[match.start() for match in re.finditer(r"\s", everything)]] = 0
    return classes


def _token_spans(text: str, powers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """tokenize(text) as arrays: the text's code points, and each token's start, end and hash.

    A token is a run of word characters or a run of other non-space characters, exactly the matches
    of TOKEN_PATTERN. Its hash is sum((code[k] + 1) * HASH_MULTIPLIER**k) mod 2**64 over its characters, so
    it does not depend on where the token stands; `powers` holds the multiplier's powers up to the
    longest token worth hashing, and longer tokens get a wrong hash that their length rules out anyway.
    """
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = _character_classes()[codes]
    size = len(codes)
    edges = np.ones(size + 1, dtype=bool)
    np.not_equal(classes[1:], classes[:-1], out=edges[1 : max(size, 1)])
    bounds = np.flatnonzero(edges)
    starts, ends = bounds[:-1], bounds[1:]
    within = np.arange(size) - np.repeat(starts, ends - starts)
    terms = (codes.astype(np.uint64) + np.uint64(1)) * powers[np.minimum(within, len(powers) - 1)]  # +1: NUL counts
    prefix = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum(terms, out=prefix[1:])
    tokens = classes[starts] != 0
    starts, ends = starts[tokens], ends[tokens]
    return codes, starts, ends, prefix[ends] - prefix[starts]


class _HashIndex:
    """Where each of a set of distinct uint64 keys is: an open-addressing hash table in numpy arrays.

    Serving looks up every token and n-gram of a batch: a binary search over 400,000 sorted bigram keys
    touches ~19 cache lines per key, a probe here ~1.5 (the table is at most half full). With the
    stamp-based dedup below, scoring a batch of reviews got 1.5-1.9x faster (measured on nbsvm_bigram
    and logreg_bigram, same outputs). Lookups are vectorized: each round resolves the keys that hit or
    reach an empty slot and moves the rest one slot on (linear probing). Probe chains have a long tail
    (one review's 1,600 n-grams took ~9 rounds, the last few for a handful of keys, each round a dozen
    numpy calls), so after PROBE_ROUNDS the few keys left are binary-searched in a sorted copy instead:
    a single review scored ~1.3x faster.
    """

    PROBE_ROUNDS = 2

    EMPTY = np.uint64(2**64 - 1)  # never a key: token hashes and n-gram keys below it are all that is stored

    def __init__(self, keys: np.ndarray) -> None:
        keys = keys.astype(np.uint64)
        if np.any(keys == self.EMPTY):
            raise ValueError("a key equals the empty-slot marker")
        bits = max(4, (2 * len(keys) - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._mask = np.uint64((1 << bits) - 1)
        self._keys = np.full(1 << bits, self.EMPTY, dtype=np.uint64)
        self._positions = np.full(1 << bits, -1, dtype=np.int64)
        pending, slots = np.arange(len(keys)), self._slots(keys)
        while len(pending):
            free = np.flatnonzero(self._keys[slots] == self.EMPTY)
            _, first = np.unique(slots[free], return_index=True)  # of keys meeting at a free slot, one takes it
            won = free[first]
            self._keys[slots[won]], self._positions[slots[won]] = keys[pending[won]], pending[won]
            lost = np.ones(len(pending), dtype=bool)
            lost[won] = False
            pending, slots = pending[lost], (slots[lost] + np.uint64(1)) & self._mask
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # multiplicative (Fibonacci) hashing wraps modulo 2**64 by design
            return (keys * np.uint64(HASH_MULTIPLIER)) >> self._shift

    def find(self, queries: np.ndarray) -> np.ndarray:
        """Each query's position in the keys given at construction, or -1."""
        queries = queries.astype(np.uint64)
        found = np.full(len(queries), -1, dtype=np.int64)
        pending, slots = np.arange(len(queries)), self._slots(queries)
        for _ in range(self.PROBE_ROUNDS):
            if not len(pending):
                return found
            stored = self._keys[slots]
            hit = stored == queries[pending]
            found[pending[hit]] = self._positions[slots[hit]]
            going = ~hit & (stored != self.EMPTY)
            pending, slots = pending[going], (slots[going] + np.uint64(1)) & self._mask
        if len(pending) and len(self._sorted):
            left = queries[pending]
            at = np.minimum(np.searchsorted(self._sorted, left), len(self._sorted) - 1)
            hit = self._sorted[at] == left
            found[pending[hit]] = self._order[at[hit]]
        return found


class _NgramTable:
    """Serving's view of a vocabulary: numpy arrays that turn a batch of raw texts into (document, column) cells.

    Texts are tokenized with array operations rather than re.findall (~4x faster; see _token_spans),
    and each token is found by its hash, then compared character by character, so a hash collision
    can never pick a wrong token: the tokens are exactly tokenize()'s, as a test checks. Negation
    scopes are found with arrays too (_negation_scopes). Stemming models take the regex path: stems
    need NLTK per token.
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
        self._columns = _HashIndex(keys)
        self._tokens = features.tokenizer()
        # A cue is found by its lower-cased spelling; with case kept, "NOT" would need entries of its own.
        # Character n-grams are made by tokenizer() only: such models take the regex path.
        hashable = features.stem is None and (features.lowercase or not features.mark_negation)
        hashable = hashable and not features.char_ngram_range
        self._hashed = hashable and self._hash_tokens()

    @classmethod
    def parse(cls, features: NgramFeatures, vocabulary: Sequence[str]) -> Self:
        """The table of a saved vocabulary: column -> n-gram, its tokens joined by single spaces."""
        parts = [ngram.split(" ") for ngram in vocabulary]
        tokens = list(dict.fromkeys(chain.from_iterable(parts)))
        token_ids = {token: number for number, token in enumerate(tokens, start=1)}
        base = len(tokens) + 1
        _check_base(base, features.ngram_range)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        low, high = features.ngram_range
        if len(lengths) and (lengths.min() < low or lengths.max() > high):
            raise ValueError(f"vocabulary has n-grams outside ngram_range {list(features.ngram_range)}")
        flat = np.fromiter(map(token_ids.__getitem__, chain.from_iterable(parts)), dtype=np.int64)
        offsets = np.cumsum(lengths) - lengths
        keys = np.zeros(len(parts), dtype=np.int64)
        for position in range(high):
            longer = lengths > position
            keys[longer] = keys[longer] * base + flat[offsets[longer] + position]
        return cls(features, tokens, keys)

    def vocabulary(self) -> list[str]:
        """Column -> n-gram, as parse() reads it."""
        return _ngram_names(self.keys, self.base, self.tokens)

    def _hash_tokens(self) -> bool:
        """Arrays for the vectorized path: per entry (a token as written) its hash, length and characters,
        whether it is a cue, and its id in each place a token can stand (-1: dropped, 0: unknown):
        plain, inside a negation scope, in the repeated tail, and both."""
        dropped = [word for word in self.features.dropped() if tokenize(word) == [word]]
        negating, tailing = self.features.mark_negation, bool(self.features.tail_sentences)
        places: dict[tuple[bool, bool], dict[str, int]] = {
            (tail, scoped): {} for tail in (False, True) for scoped in (False, True)
        }
        for number, token in enumerate(self.tokens, start=1):
            for tail, scoped, written in _readings(token, tailing, negating):
                places[tail, scoped][written] = number
        for word in dropped:  # a dropped word is dropped wherever it stands
            for ids in places.values():
                ids[word] = -1
        cues = NEGATION_CUES if negating else frozenset()
        entries = list(dict.fromkeys([*chain.from_iterable(places.values()), *cues]))
        longest = max(map(len, entries), default=1)
        self._powers = np.array([pow(HASH_MULTIPLIER, k, 2**64) for k in range(longest + 1)], dtype=np.uint64)
        codes, starts, ends, hashes = _token_spans(" ".join(entries), self._powers)
        if len(starts) != len(entries):
            raise ValueError("vocabulary has a token that tokenize() would split")
        if len(np.unique(hashes)) != len(hashes) or np.any(hashes == _HashIndex.EMPTY):
            log.warning("two vocabulary tokens share a hash; this model tokenizes with the slower regex path")
            return False
        self._entries = _HashIndex(hashes)
        self._starts, self._lengths, self._codes = starts, ends - starts, codes
        self._place_ids = {
            place: np.array([ids.get(entry, 0) for entry in entries], dtype=np.int64) for place, ids in places.items()
        }
        self._cues = np.array([entry in cues for entry in entries], dtype=bool)
        return True

    def cells(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document, column) of every occurrence of a vocabulary n-gram in the batch."""
        ids, documents = self._hashed_ids(texts) if self._hashed else self.regex_ids(texts)
        keys, owners = _ngram_keys(ids, documents, self.base, self.features.ngram_range)
        columns = self._columns.find(keys)
        found = columns >= 0
        return owners[found], columns[found]

    def regex_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each kept token's id (0: unknown) and document, by tokenize(): the reference for _hashed_ids."""
        ids, lengths = _flat_token_ids(self._tokens, texts, lambda token: self.token_ids.get(token, 0))
        return ids, np.repeat(np.arange(len(texts)), lengths)

    def _hashed_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """regex_ids() with array operations: the texts are tokenized as one, joined by spaces."""
        texts = [text.lower() for text in texts] if self.features.lowercase else list(texts)
        codes, starts, ends, hashes = _token_spans(" ".join(texts), self._powers)
        lengths = ends - starts
        slot = self._entries.find(hashes)
        candidates = np.flatnonzero(slot >= 0)
        candidates = candidates[self._lengths[slot[candidates]] == lengths[candidates]]
        exact = candidates[:0]
        if len(candidates):  # compare each candidate with its entry, character by character
            sizes = lengths[candidates]
            firsts = np.cumsum(sizes) - sizes
            within = np.arange(firsts[-1] + sizes[-1]) - np.repeat(firsts, sizes)
            text_characters = codes[np.repeat(starts[candidates], sizes) + within]
            entry_characters = self._codes[np.repeat(self._starts[slot[candidates]], sizes) + within]
            exact = candidates[np.logical_and.reduceat(text_characters == entry_characters, firsts)]
        text_starts = np.cumsum([0, *(len(text) + 1 for text in texts[:-1])])
        documents = np.searchsorted(text_starts, starts, side="right") - 1
        entry = slot[exact]
        scoped = None
        if self.features.mark_negation:
            cue = np.zeros(len(starts), dtype=bool)
            cue[exact] = self._cues[entry]
            scoped = _negation_scopes(codes, starts, ends, documents, cue)[exact]

        def ids_as(tail: bool) -> np.ndarray:
            """Each token's id where it stands (0 unless it matched an entry exactly)."""
            ids = np.zeros(len(starts), dtype=np.int64)
            plain = self._place_ids[tail, False][entry]
            ids[exact] = plain if scoped is None else np.where(scoped, self._place_ids[tail, True][entry], plain)
            return ids

        ids = ids_as(tail=False)
        kept = ids >= 0
        if not self.features.tail_sentences:
            return ids[kept], documents[kept]
        # tokenizer() gives each text's tokens, a stream break (id 0), then its tail's tokens.
        tail_ids = ids_as(tail=True)
        in_tail = _in_last_sentences(codes, starts, ends, documents, self.features.tail_sentences) & (tail_ids >= 0)
        every_id = np.concatenate([ids[kept], np.zeros(len(texts), dtype=np.int64), tail_ids[in_tail]])
        owners = np.concatenate([documents[kept], np.arange(len(texts)), documents[in_tail]])
        order = np.argsort(owners, kind="stable")
        return every_id[order], owners[order]


def _readings(token: str, tailing: bool, negating: bool) -> Iterator[tuple[bool, bool, str]]:
    """Each (in the tail, in a scope, token as written in the text) a vocabulary token can stand for.

    The prefixes are not word characters, but tokenize() yields runs of such characters, so one column can
    have two readings: "¬¬" is the text's "¬¬", or its "¬" inside a scope. Readings tokenize() would split
    ("»good" as written) cannot occur and are left out.
    """
    streams = [(False, token)]
    if tailing and token.startswith(TAIL_PREFIX):
        streams.append((True, token.removeprefix(TAIL_PREFIX)))
    for tail, word in streams:
        readings = [(False, word)]
        if negating and word.startswith(NEGATED_PREFIX):
            readings.append((True, word.removeprefix(NEGATED_PREFIX)))
        for scoped, written in readings:
            if tokenize(written) == [written]:
                yield tail, scoped, written


@functools.cache
def _ascii_table(marks: frozenset[str]) -> np.ndarray:
    table = np.zeros(128, dtype=bool)
    table[[ord(mark) for mark in marks]] = True
    return table


def _token_has(marks: frozenset[str], codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which tokens hold at least one of `marks` (ASCII characters)."""
    table = _ascii_table(marks)
    running = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(table[np.minimum(codes, 127)], out=running[1:])  # code 127 (DEL) is no mark; nor is anything above
    return running[ends] > running[starts]


def _in_last_sentences(
    codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, documents: np.ndarray, count: int
) -> np.ndarray:
    """_last_sentences() as arrays: which tokens stand in their text's last `count` sentences.

    A token is in them when fewer than `count` sentence ends (not counting the text's final token) lie
    at or after it in its text.
    """
    last = np.ones(len(starts), dtype=bool)
    last[:-1] = documents[1:] != documents[:-1]
    sentence_end = _token_has(SENTENCE_MARKS, codes, starts, ends) & ~last
    running = np.cumsum(sentence_end)
    before = running - sentence_end
    text_total = running[np.flatnonzero(last)][np.searchsorted(documents[last], documents)]
    return text_total - before < count


def _negation_scopes(
    codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, documents: np.ndarray, cue: np.ndarray
) -> np.ndarray:
    """_mark_negation() as arrays: which tokens stand inside a scope, so take NEGATED_PREFIX.

    A cue opens a scope, a token holding a CLAUSE_MARKS character or a document's start closes it;
    every other token is inside exactly when the last such event before it was a cue.
    """
    clause = _token_has(CLAUSE_MARKS, codes, starts, ends)
    first = np.ones(len(starts), dtype=bool)
    first[1:] = documents[1:] != documents[:-1]
    last_event = np.where(cue | clause | first, np.arange(len(starts)), 0)
    np.maximum.accumulate(last_event, out=last_event)
    return cue[last_event] & ~cue & ~clause


class _NgramLinearModel:
    """A linear score over n-gram columns, the log-odds of "positive"; one subclass per way to fit it.

    Saved as model.json (kind and options), vocabulary.json (column -> n-gram) and weights.npz
    (one weight per column, the intercept, and idf for tf-idf), read back with allow_pickle=False.
    """

    kind: ClassVar[str]
    labels = LABELS
    # Kinds whose estimator reads presence only refuse other weightings rather than silently binarize.
    binary_only: ClassVar[bool] = False

    def __init__(self, features: Mapping[str, Any] | NgramFeatures | None = None) -> None:
        self.features = features if isinstance(features, NgramFeatures) else NgramFeatures(**(features or {}))
        if self.binary_only and self.features.weighting != "binary":
            raise PipelineError(f"{self.kind} reads presence only: set weighting to binary")
        # After fit(): the scikit-learn estimator, kept for tests that compare it with the numpy path.
        self.estimator: Any = None
        self._training: _TrainingVocabulary | None = None
        self._table: _NgramTable | None = None
        self._scratch = threading.local()  # scores()'s per-thread stamp: BentoML may call from several threads

    def options(self) -> dict[str, Any]:
        """The hyper-parameters besides `features`, as the constructor takes them."""
        return {}

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        """(weight per column, intercept, the fitted estimator) for the log-odds of positive."""
        raise NotImplementedError

    def _estimator_input(self, matrix: Any) -> Any:
        return matrix

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self:
        check_training_labels(labels)
        training, matrix = _TrainingVocabulary.learn(self.features, texts)
        log.debug("%s: %d documents, %d n-gram columns", self.kind, matrix.shape[0], matrix.shape[1])
        positive = np.array([label == LABELS[1] for label in labels], dtype=np.int64)
        coef, intercept, self.estimator = self._fit_weights(matrix, positive)
        self._training = training
        self._set_weights(training.table(), coef, intercept, training.idf)
        return self

    def estimator_input(self, texts: Sequence[str]) -> Any:
        """What `estimator` takes for these texts, made by the training path; only after fit()."""
        if self._training is None:
            raise PipelineError(f"{self.kind}: estimator_input needs a model fitted in this process")
        return self._estimator_input(self._training.matrix(texts))

    def _set_weights(self, table: _NgramTable, coef: np.ndarray, intercept: float, idf: np.ndarray | None) -> None:
        if len(coef) != len(table.keys) or (idf is not None and len(idf) != len(table.keys)):
            raise ValueError(f"{len(table.keys)} n-grams but {len(coef)} weights")
        if (idf is None) != (self.features.weighting != "tfidf"):
            raise ValueError("idf weights are present exactly when weighting is tfidf")
        self._table = table
        self._coef = np.asarray(coef, dtype=np.float64)
        self._intercept = float(intercept)
        self._idf = None if idf is None else np.asarray(idf, dtype=np.float64)

    def rescale(self, factor: float) -> None:
        """Multiply every score by `factor` > 0: each text keeps its label and rank; its probability sharpens
        (factor > 1) or softens. train() fits the factor on out-of-fold scores (temperature scaling), because
        a margin model's raw scores sit near 0 and would call a clear review 51 % positive."""
        if self._table is None:
            raise PipelineError(f"{self.kind} model is not fitted")
        if not factor > 0:
            raise PipelineError(f"a score scale must be positive, not {factor}")
        self._coef = self._coef * factor
        self._intercept *= factor

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of positive per text: intercept + sum of weight * value over the text's n-gram cells."""
        if self._table is None:
            raise PipelineError(f"{self.kind} model is not fitted")
        documents, columns = self._table.cells(texts)
        width = len(self._coef)
        if self.features.weighting == "binary":
            stamp = getattr(self._scratch, "stamp", None)
            if stamp is None or len(stamp) != width:
                stamp = self._scratch.stamp = np.empty(width, dtype=np.int64)
            (documents, columns), counts = _distinct_cells(documents, columns, stamp), None
        else:
            cells, counts = np.unique(documents * width + columns, return_counts=True)
            documents, columns = cells // width, cells % width
        values = _cell_values(documents, columns, counts, self.features.weighting, self._idf)
        weights = self._coef[columns] if values is None else self._coef[columns] * values
        return np.bincount(documents, weights=weights, minlength=len(texts)) + self._intercept

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not len(texts):
            return []
        scores = self.scores(texts)
        with np.errstate(over="ignore"):  # exp(800) is inf, and 1 / (1 + inf) is the right 0.0
            positive, negative = 1.0 / (1.0 + np.exp(-scores)), 1.0 / (1.0 + np.exp(scores))
        return [{LABELS[0]: n, LABELS[1]: p} for n, p in zip(negative.tolist(), positive.tolist(), strict=True)]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [max(LABELS, key=p.__getitem__) for p in self.predict_proba(texts)]

    def save(self, directory: Path) -> None:
        if self._table is None:
            raise PipelineError(f"{self.kind} model is not fitted")
        options = {"features": dataclasses.asdict(self.features), **self.options()}
        _write_config(directory, self, {"options": options})
        write_json(directory / "vocabulary.json", self._table.vocabulary(), compact=True)
        arrays = {"coef": self._coef, "intercept": np.array([self._intercept])}
        if self._idf is not None:
            arrays["idf"] = self._idf
        np.savez(directory / "weights.npz", **arrays)

    @classmethod
    def load(cls, directory: Path, options: Mapping[str, Any]) -> Self:
        model = cls(**options)
        vocabulary = read_json(directory / "vocabulary.json")
        if not isinstance(vocabulary, list) or not all(isinstance(ngram, str) for ngram in vocabulary):
            raise ValueError("vocabulary.json must be a list of n-grams")
        try:
            with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
                coef, intercept = arrays["coef"], arrays["intercept"]
                idf = arrays["idf"] if "idf" in arrays else None
        except (OSError, zipfile.BadZipFile) as error:  # a truncated or foreign file
            raise ValueError(f"weights.npz: {error}") from None
        model._set_weights(_NgramTable.parse(model.features, vocabulary), coef, float(intercept[0]), idf)
        return model


class MultinomialNaiveBayes(_NgramLinearModel):
    """Multinomial naive Bayes. With two labels its log-odds is linear: log P(w|pos) - log P(w|neg) per n-gram.

    Wang & Manning's "MNB" binarizes the counts (weighting: binary), which they found better for sentiment.
    """

    kind: ClassVar[str] = "multinomial_nb"

    def __init__(self, features: Mapping[str, Any] | NgramFeatures | None = None, alpha: float = 1.0) -> None:
        super().__init__(features)
        self.alpha = alpha  # add-alpha smoothing of the per-label n-gram counts

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.naive_bayes import MultinomialNB

        estimator = MultinomialNB(alpha=self.alpha).fit(matrix, positive)
        log_prob, prior = estimator.feature_log_prob_, estimator.class_log_prior_
        return log_prob[1] - log_prob[0], float(prior[1] - prior[0]), estimator


class BernoulliNaiveBayes(_NgramLinearModel):
    """Bernoulli naive Bayes: unlike multinomial NB, an absent n-gram is evidence too (folded into the intercept)."""

    kind: ClassVar[str] = "bernoulli_nb"
    binary_only: ClassVar[bool] = True

    def __init__(self, features: Mapping[str, Any] | NgramFeatures | None = None, alpha: float = 1.0) -> None:
        super().__init__(features)
        self.alpha = alpha

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.naive_bayes import BernoulliNB

        estimator = BernoulliNB(alpha=self.alpha).fit(matrix, positive)
        present, prior = estimator.feature_log_prob_, estimator.class_log_prior_
        absent = np.log1p(-np.exp(present))
        coef = (present[1] - absent[1]) - (present[0] - absent[0])
        return coef, float(prior[1] - prior[0] + absent[1].sum() - absent[0].sum()), estimator


class LogisticRegressionModel(_NgramLinearModel):
    """L2-regularized logistic regression (liblinear), the usual partner of tf-idf features."""

    kind: ClassVar[str] = "logistic_regression"

    def __init__(
        self,
        features: Mapping[str, Any] | NgramFeatures | None = None,
        inverse_regularization: float = 1.0,
        max_iterations: int = 1000,
    ) -> None:
        super().__init__(features)
        self.inverse_regularization = inverse_regularization  # scikit-learn's C: larger fits the data harder
        self.max_iterations = max_iterations

    def options(self) -> dict[str, Any]:
        return {"inverse_regularization": self.inverse_regularization, "max_iterations": self.max_iterations}

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.linear_model import LogisticRegression

        # The dual problem has one variable per document rather than per n-gram: ~10x faster here, same optimum.
        estimator = LogisticRegression(
            C=self.inverse_regularization, solver="liblinear", dual=True, max_iter=self.max_iterations, random_state=0
        ).fit(matrix, positive)
        return estimator.coef_[0].copy(), float(estimator.intercept_[0]), estimator


def _log_count_ratios(matrix: Any, positive: np.ndarray, alpha: float) -> np.ndarray:
    """NBSVM's r = log((p / |p|_1) / (q / |q|_1)), p and q the alpha-smoothed presence counts per label."""
    p = alpha + np.asarray(matrix[positive == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(matrix[positive == 0].sum(axis=0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


class _NbScaled(_NgramLinearModel):
    """Features of NBSVM and NB-LR: binarized n-grams scaled by the naive Bayes log-count ratios r."""

    binary_only: ClassVar[bool] = True
    _ratios: np.ndarray | None = None

    def _estimator_input(self, matrix: Any) -> Any:
        from scipy import sparse

        return matrix @ sparse.diags(self._ratios)


class NbSvm(_NbScaled):
    """NBSVM (Wang & Manning 2012): a linear SVM on binarized n-grams scaled by naive Bayes log-count ratios.

    r = log((p / |p|_1) / (q / |q|_1)), with p and q the smoothed per-label presence counts; the SVM
    learns w on r * x, then w is pulled towards its mean magnitude: w' = (1 - beta) * mean|w| + beta * w.
    Its "probabilities" are the logistic of the SVM margin: they rank and threshold at 0.5 correctly,
    but are not calibrated.
    """

    kind: ClassVar[str] = "nbsvm"

    def __init__(
        self,
        features: Mapping[str, Any] | NgramFeatures | None = None,
        alpha: float = 1.0,
        inverse_regularization: float = 1.0,
        interpolation: float = 0.25,
        max_iterations: int = 1000,
    ) -> None:
        super().__init__(features)
        self.alpha = alpha  # smoothing of the presence counts in r
        self.inverse_regularization = inverse_regularization  # the SVM's C
        self.interpolation = interpolation  # the paper's beta: 1 is the plain SVM, 0 uniform weights on r
        self.max_iterations = max_iterations
        self._ratios: np.ndarray | None = None

    def options(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "inverse_regularization": self.inverse_regularization,
            "interpolation": self.interpolation,
            "max_iterations": self.max_iterations,
        }

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.svm import LinearSVC

        self._ratios = _log_count_ratios(matrix, positive, self.alpha)
        estimator = LinearSVC(C=self.inverse_regularization, max_iter=self.max_iterations, random_state=0).fit(
            self._estimator_input(matrix), positive
        )
        weights = estimator.coef_[0]
        interpolated = (1 - self.interpolation) * np.abs(weights).mean() + self.interpolation * weights
        # The estimator now scores exactly as the exported model, so tests can compare the two.
        estimator.coef_ = interpolated[np.newaxis, :]
        return interpolated * self._ratios, float(estimator.intercept_[0]), estimator


class NbLogisticRegression(_NbScaled):
    """NB-LR: NBSVM's recipe with L2 logistic regression in place of the SVM and no interpolation.

    The features are binarized n-grams scaled by the naive Bayes log-count ratios r, as in NBSVM; the
    logistic loss makes the exported probabilities those of a fitted logistic model.
    """

    kind: ClassVar[str] = "nb_logistic_regression"

    def __init__(
        self,
        features: Mapping[str, Any] | NgramFeatures | None = None,
        alpha: float = 1.0,
        inverse_regularization: float = 1.0,
        max_iterations: int = 1000,
    ) -> None:
        super().__init__(features)
        self.alpha = alpha
        self.inverse_regularization = inverse_regularization
        self.max_iterations = max_iterations
        self._ratios: np.ndarray | None = None

    def options(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "inverse_regularization": self.inverse_regularization,
            "max_iterations": self.max_iterations,
        }

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.linear_model import LogisticRegression

        self._ratios = _log_count_ratios(matrix, positive, self.alpha)
        estimator = LogisticRegression(
            C=self.inverse_regularization, solver="liblinear", dual=True, max_iter=self.max_iterations, random_state=0
        ).fit(self._estimator_input(matrix), positive)
        return estimator.coef_[0] * self._ratios, float(estimator.intercept_[0]), estimator


def _estimator_scores(estimator: Any, matrix: Any) -> np.ndarray:
    """A fitted scikit-learn estimator's log-odds of positive (naive Bayes) or margin (SVM, logistic regression)."""
    if hasattr(estimator, "decision_function"):
        return estimator.decision_function(matrix)
    joint = estimator.predict_joint_log_proba(matrix)
    return joint[:, 1] - joint[:, 0]


class _ScoreSum:
    """The ensemble's estimator: its members' own scikit-learn scores, each divided by its scale, summed.

    Only tests use it, to check that the one exported weight vector scores as the members do.
    """

    def __init__(self, members: Sequence[_NgramLinearModel], scales: Sequence[float]) -> None:
        self.members, self.scales = list(members), list(scales)

    def decision_function(self, matrix: Any) -> np.ndarray:
        return sum(
            _estimator_scores(member.estimator, member._estimator_input(matrix)) / scale
            for member, scale in zip(self.members, self.scales, strict=True)
        )

    def predict(self, matrix: Any) -> np.ndarray:
        return (self.decision_function(matrix) > 0).astype(np.int64)


DEFAULT_MEMBERS: tuple[Mapping[str, Any], ...] = ({"kind": "nbsvm"}, {"kind": "nb_logistic_regression"})


class LinearEnsemble(_NgramLinearModel):
    """Several linear models on the same n-gram columns, their scores summed: still one linear model.

    Each member's score is divided by its standard deviation over the training documents, so a member
    whose margins are wide (logistic regression) does not outvote one whose margins are narrow (an SVM's
    sit near +-1). Scores are not centred: each member's own intercept already places its threshold, and
    centring would move it whenever the labels are unbalanced. A sum of linear scores is linear, so the
    export is one weight per column and serving costs what a single model does. Its "probabilities" are
    the logistic of the sum: they rank and threshold at 0.5 correctly, but are not calibrated.
    """

    kind: ClassVar[str] = "linear_ensemble"

    def __init__(
        self,
        features: Mapping[str, Any] | NgramFeatures | None = None,
        members: Sequence[Mapping[str, Any]] = DEFAULT_MEMBERS,
    ) -> None:
        super().__init__(features)
        self._members: list[_NgramLinearModel] = []
        for spec in members:
            options = dict(spec)
            kind = options.pop("kind", None)
            if not isinstance(MODELS.get(kind), type) or not issubclass(MODELS[kind], _NgramLinearModel):
                raise PipelineError(f"{self.kind} member kind {kind!r} is not an n-gram linear model")
            if kind == self.kind or "features" in options:
                raise PipelineError(f"{self.kind} members share the ensemble's features and cannot be ensembles")
            self._members.append(MODELS[kind](features=self.features, **options))
        if not self._members:
            raise PipelineError(f"{self.kind} needs at least one member")

    def options(self) -> dict[str, Any]:
        return {"members": [{"kind": member.kind, **member.options()} for member in self._members]}

    def _fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        coef, intercept, scales = np.zeros(matrix.shape[1]), 0.0, []
        for member in self._members:
            member_coef, member_intercept, member.estimator = member._fit_weights(matrix, positive)
            scale = float(np.std(matrix @ member_coef + member_intercept)) or 1.0
            coef += member_coef / scale
            intercept += member_intercept / scale
            scales.append(scale)
        return coef, intercept, _ScoreSum(self._members, scales)


MODELS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        NltkNaiveBayes,
        MultinomialNaiveBayes,
        BernoulliNaiveBayes,
        LogisticRegressionModel,
        NbSvm,
        NbLogisticRegression,
        LinearEnsemble,
    )
}


def create(kind: str, options: Mapping[str, Any]) -> SentimentModel:
    """A fresh, unfitted model of `kind`, naming the problem when the kind or an option is wrong."""
    if kind not in MODELS:
        raise PipelineError(f"unknown model kind '{kind}'; known: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[kind](**options)
    except TypeError as error:
        raise PipelineError(f"model kind '{kind}': {error}") from None


def load(directory: Path) -> SentimentModel:
    """Read model.json to find the class, so callers never name it."""
    config_path = directory / "model.json"
    try:
        config = read_json(config_path)
        kind = config["kind"]
        version = config["format_version"]
    except FileNotFoundError:
        raise PipelineError(f"no model at {directory}: {config_path} is missing") from None
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{config_path} is not a valid model file ({error})") from None
    if version != FORMAT_VERSION:
        raise PipelineError(f"{config_path} has format {version}; this code reads {FORMAT_VERSION}")
    if kind not in MODELS:
        raise PipelineError(f"{config_path} names unknown model kind '{kind}'")
    try:
        return MODELS[kind].load(directory, config.get("options", {}))
    except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"model weights in {directory} are unreadable ({error})") from None
