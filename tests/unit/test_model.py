"""The SentimentModel contract, run against every entry of MODELS, and the tokenizer's fidelity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nltk.tokenize import WordPunctTokenizer

from pipeline.errors import PipelineError
from pipeline.model import LABELS, MODELS, TextFeatures, create, load, normalize_label, tokenize

TEXTS = ["a superb , moving film", "a dull and boring mess", "superb cast , wonderful story", "awful , tedious , dull"]
LABELS_OF_TEXTS = ["positive", "negative", "positive", "negative"]

# Options that make each kind learn from the few words above.
OPTIONS = {
    "nltk_naive_bayes": {"features": {"stopwords": ["a", "and"]}},
    "multinomial_nb": {"features": {"stopwords": ["a", "and"]}},
    "bernoulli_nb": {"features": {"stopwords": ["a", "and"]}},
    "logistic_regression": {"features": {"stopwords": ["a", "and"], "weighting": "tfidf"}},
    "nbsvm": {"features": {"stopwords": ["a", "and"], "ngram_range": [1, 3]}},
    "nb_logistic_regression": {"features": {"stopwords": ["a", "and"], "ngram_range": [1, 3]}},
    "linear_ensemble": {"features": {"stopwords": ["a", "and"], "ngram_range": [1, 3], "mark_negation": True}},
}


@pytest.fixture(params=sorted(MODELS))
def fitted(request: pytest.FixtureRequest):
    return create(request.param, OPTIONS[request.param]).fit(TEXTS, LABELS_OF_TEXTS)


def test_every_kind_has_contract_options() -> None:
    assert set(OPTIONS) == set(MODELS)


def test_predict_proba_gives_a_distribution_over_labels(fitted) -> None:
    probabilities = fitted.predict_proba(["Superb and moving!", "What a DULL mess."])
    for distribution in probabilities:
        assert set(distribution) == set(LABELS)
        assert sum(distribution.values()) == pytest.approx(1.0)
    assert fitted.predict(["Superb and moving!", "What a DULL mess."]) == ["positive", "negative"]


def test_save_and_load_round_trip_without_pickle(fitted, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    config = json.loads((tmp_path / "model.json").read_text())
    assert config["kind"] == fitted.kind and config["labels"] == list(LABELS)
    for path in tmp_path.iterdir():
        assert path.suffix in (".json", ".npz"), f"{path.name} is not an inspectable format"
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    loaded = load(tmp_path)
    assert loaded.predict_proba(TEXTS + ["unseen words only"]) == fitted.predict_proba(TEXTS + ["unseen words only"])


def test_unfitted_model_says_so() -> None:
    with pytest.raises(PipelineError, match="not fitted"):
        create("nltk_naive_bayes", {}).predict_proba(["text"])


def test_fit_refuses_a_single_label() -> None:
    with pytest.raises(PipelineError, match="needs both"):
        create("nltk_naive_bayes", {}).fit(["good", "great"], ["positive", "positive"])


def test_unknown_kind_and_option_are_named() -> None:
    with pytest.raises(PipelineError, match="unknown model kind 'svm'"):
        create("svm", {})
    with pytest.raises(PipelineError, match="unexpected keyword argument 'smoothing'"):
        create("nltk_naive_bayes", {"smoothing": 1})


def test_load_names_a_missing_or_corrupt_model(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="model.json is missing"):
        load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(PipelineError, match="not a valid model file"):
        load(tmp_path)


def test_tokenizer_matches_nltk_wordpunct() -> None:
    text = "It's a 10/10 film -- don't miss it!!! (Really.) Café naïve"
    assert tokenize(text) == WordPunctTokenizer().tokenize(text)


def test_features_lowercase_so_raw_text_matches_the_lowercased_corpus() -> None:
    features = TextFeatures(stopwords=("the",)).featurizer()
    assert features("The FILM, the film!") == {"film": 2}


def test_seed_keeps_multi_character_punctuation_and_drops_single() -> None:
    features = TextFeatures().featurizer()
    assert features("wow ... great !") == {"wow": 1, "...": 1, "great": 1}


def test_stemmed_binary_features() -> None:
    features = TextFeatures(stem="english", binary=True).featurizer()
    assert features("running runs ran") == {"run": True, "ran": True}


def test_label_aliases() -> None:
    assert [normalize_label(x) for x in ("pos", "NEG", 1, "0", "positive")] == [
        "positive",
        "negative",
        "positive",
        "negative",
        "positive",
    ]
    with pytest.raises(PipelineError, match="unknown label 'meh'"):
        normalize_label("meh")


def test_snowball_languages_match_nltks() -> None:
    from nltk.stem import SnowballStemmer

    from pipeline.model import SNOWBALL_LANGUAGES

    assert set(SnowballStemmer.languages) == SNOWBALL_LANGUAGES
