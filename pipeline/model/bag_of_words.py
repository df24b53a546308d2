"""The seed model: NLTK's Naive Bayes on a bag of words, with the seed project's exact probabilities."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

import numpy as np

from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.labels import LABELS, check_training_labels, top_label
from pipeline.model.explanation import Explanation, explanations, top_contributions
from pipeline.model.saved import options_of, write_config
from pipeline.model.text import PUNCTUATION, SNOWBALL_LANGUAGES, stemmer, tokenize
from pipeline.progress import logged

if TYPE_CHECKING:
    import nltk
    from nltk.probability import ProbDistI

log = logging.getLogger(__name__)

# NLTK is imported only inside the code that needs it: `import nltk` also imports scikit-learn and
# scipy whenever they are installed (nltk.classify.scikitlearn), which serving must not load.


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
        stems = stemmer(self.stem) if self.stem else None

        def features(text: str) -> dict[str, int | bool]:
            tokens = tokenize(text.lower() if self.lowercase else text)
            kept = [
                token
                for token in tokens
                if token not in stopwords and not (self.remove_punctuation and token in PUNCTUATION)
            ]
            if stems is not None:
                kept = stems.map(kept)
            if self.binary:
                return dict.fromkeys(kept, True)
            return dict(Counter(kept))

        return features


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

    @property
    def classifier(self) -> nltk.NaiveBayesClassifier:
        """The fitted NLTK classifier, for callers that classify feature dicts themselves (the seed's Flask app)."""
        if self._classifier is None:
            raise PipelineError(f"{self.kind} model is not fitted")
        return self._classifier

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
        classifier = self.classifier
        result = []
        for text in texts:
            distribution = classifier.prob_classify(self._featurize(text))
            result.append({label: distribution.prob(label) for label in LABELS})
        return result

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [top_label(p) for p in self.predict_proba(texts)]

    def explain(self, texts: Sequence[str], top: int) -> list[Explanation]:
        """NLTK's own log-odds, split as its classifier sums it: the intercept is ln P(positive) - ln P(negative),
        and each word of the text that the model knows contributes ln P(value | positive) - ln P(value | negative),
        its value being its presence (binary) or its count. Words never seen in training add nothing, as in
        prob_classify(); a word absent from the text adds nothing either (NLTK's naive Bayes reads only the
        features a text has). NLTK sums in base 2 and these are in natural logs, so log_odds is its base-2 sum
        times ln 2 and the parts add up to it to about 1e-11 on a long review.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}")
        classifier = self.classifier
        negative, positive = LABELS
        priors = classifier._label_probdist
        intercept = math.log(priors.prob(positive)) - math.log(priors.prob(negative))
        names: list[str] = []
        parts: list[float] = []
        bounds, log_odds, probabilities = [0], [], []
        for text in texts:
            featureset = self._featurize(text)
            for name, value in featureset.items():
                part = self._contribution(name, value)
                if part is not None:
                    names.append(name)
                    parts.append(part)
            bounds.append(len(parts))
            distribution = classifier.prob_classify(featureset)
            log_odds.append((distribution.logprob(positive) - distribution.logprob(negative)) * math.log(2))
            probabilities.append({label: distribution.prob(label) for label in LABELS})
        # A word's key is its place among the batch's words: ties in magnitude go to the word written first.
        values = np.array(parts, dtype=np.float64)
        chosen, starts, rest = top_contributions(values, np.arange(len(parts)), np.array(bounds), top)
        shown = [names[i] for i in chosen.tolist()]
        return explanations(log_odds, probabilities, intercept, values[chosen], shown, starts, rest)

    def _contribution(self, name: str, value: object) -> float | None:
        """ln P(name=value | positive) - ln P(name=value | negative); None for a word NLTK ignores (never seen)."""
        found: dict[str, ProbDistI] = {}
        for label in LABELS:
            distribution = self.classifier._feature_probdist.get((label, name))
            if distribution is not None:
                found[label] = distribution
        if not found:
            return None
        if len(found) != len(LABELS):  # NLTK's trainer gives every word to every label: a hand-made model's fault
            raise PipelineError(f"{self.kind}: the word {name!r} has probabilities for one label only")
        negative, positive = LABELS
        # NLTK's stubs say prob() may return None; an ELEProbDist never does.
        return math.log(cast(float, found[positive].prob(value))) - math.log(cast(float, found[negative].prob(value)))

    def save(self, directory: Path) -> None:
        classifier = self.classifier
        label_counts = classifier._label_probdist.freqdist()
        features: dict[str, dict[str, Any]] = {}
        for (label, name), distribution in classifier._feature_probdist.items():
            entry = features.setdefault(name, {"bins": distribution._bins, "counts": {}})
            entry["counts"][label] = sorted(distribution.freqdist().items(), key=value_order)
        write_config(directory, self, options_of(self.features))
        write_json(directory / "weights.json", {
            "estimator": "ELEProbDist",
            "label_counts": dict(label_counts),
            "features": features,
        }, compact=True)  # fmt: skip

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


def value_order(item: tuple[Any, int]) -> tuple[str, str]:
    """Feature values mix None, bools and ints; sort them by type then value for a stable file."""
    return (type(item[0]).__name__, repr(item[0]))
