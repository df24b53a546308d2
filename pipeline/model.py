"""The one model interface that train, evaluate, the service and the Lambda handler use.

Text goes in raw: every model tokenizes and cleans it itself, from settings saved beside its
weights, so training and serving cannot drift apart. Weights are JSON, never pickle.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import nltk
from nltk.probability import ELEProbDist, FreqDist

from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.progress import logged

log = logging.getLogger(__name__)

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
        if self.stem is not None and self.stem not in nltk.stem.SnowballStemmer.languages:
            raise PipelineError(f"unknown Snowball language {self.stem!r}")

    def featurizer(self) -> Callable[[str], dict[str, int | bool]]:
        """A text -> features function. Stems are memoized: stemming is most of the cost."""
        stopwords = frozenset(self.stopwords)
        stemmer = nltk.stem.SnowballStemmer(self.stem) if self.stem else None
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


def _save(directory: Path, model: SentimentModel, config: dict[str, Any], weights: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "model.json", {
        "kind": model.kind,
        "format_version": FORMAT_VERSION,
        "labels": list(model.labels),
        **config,
    })  # fmt: skip
    write_json(directory / "weights.json", weights, compact=True)


MODELS: dict[str, type] = {cls.kind: cls for cls in (NltkNaiveBayes,)}


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
