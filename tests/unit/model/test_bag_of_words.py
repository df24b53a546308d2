"""The seed's bag of words and NLTK Naive Bayes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.model import NltkNaiveBayes, TextFeatures, load


def test_features_lowercase_so_raw_text_matches_the_lowercased_corpus() -> None:
    features = TextFeatures(stopwords=("the",)).featurizer()
    assert features("The FILM, the film!") == {"film": 2}


def test_seed_keeps_multi_character_punctuation_and_drops_single() -> None:
    features = TextFeatures().featurizer()
    assert features("wow ... great !") == {"wow": 1, "...": 1, "great": 1}


def test_stemmed_binary_features() -> None:
    features = TextFeatures(stem="english", binary=True).featurizer()
    assert features("running runs ran") == {"run": True, "ran": True}


def test_unknown_stemmer_language_is_named() -> None:
    with pytest.raises(PipelineError, match="unknown Snowball language 'klingon'"):
        TextFeatures(stem="klingon")


def test_saved_as_nltks_counts_and_rebuilt_to_the_same_classifier(tmp_path: Path) -> None:
    model = NltkNaiveBayes({"binary": True}).fit(["good good film", "bad film"], ["positive", "negative"])
    model.save(tmp_path)
    assert json.loads((tmp_path / "model.json").read_text())["options"] == {
        "features": {"lowercase": True, "stopwords": [], "remove_punctuation": True, "stem": None, "binary": True}
    }
    weights = json.loads((tmp_path / "weights.json").read_text())
    assert weights["estimator"] == "ELEProbDist" and weights["label_counts"] == {"negative": 1, "positive": 1}
    loaded = load(tmp_path)
    assert isinstance(loaded, NltkNaiveBayes)
    featurize = loaded.features.featurizer()
    for text in ("good", "bad film", "unknown"):
        assert loaded.classifier.classify(featurize(text)) == model.classifier.classify(featurize(text))
    assert loaded.predict_proba(["good", "bad"]) == model.predict_proba(["good", "bad"])


def test_classifier_needs_a_fitted_model() -> None:
    with pytest.raises(PipelineError, match="nltk_naive_bayes model is not fitted"):
        NltkNaiveBayes().classifier  # noqa: B018


def test_explanations_split_nltks_own_log_odds_by_word() -> None:
    """The intercept is the prior's log ratio and each known word adds its likelihood ratio, in natural logs,
    for the value it has (its count here); NLTK's probabilities saturate, its log-odds do not."""
    model = NltkNaiveBayes().fit(
        ["good good film", "good plot", "bad film", "bad bad plot"], ["positive", "positive", "negative", "negative"]
    )
    text = "Good, good film! " * 40 + "unknown"
    (explanation,) = model.explain([text], 1)
    classifier = model.classifier
    distribution = classifier.prob_classify(model.features.featurizer()(text))
    assert explanation.log_odds == (distribution.logprob("positive") - distribution.logprob("negative")) * math.log(2)
    assert explanation.probabilities["positive"] == distribution.prob("positive")
    good = classifier._feature_probdist  # "good" appears 80 times: that count's probabilities, not presence
    expected = math.log(good["positive", "good"].prob(80)) - math.log(good["negative", "good"].prob(80))
    assert explanation.contributions == [("good", pytest.approx(expected, rel=1e-12))]
    assert explanation.intercept == 0.0  # two reviews of each label
    parts = explanation.intercept + explanation.contributions[0][1] + explanation.other
    assert abs(parts - explanation.log_odds) <= 1e-9
