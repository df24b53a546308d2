"""The SentimentModel contract, run against every entry of MODELS, and create()/load() naming what is wrong."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.labels import top_label
from pipeline.model import (
    FORMAT_VERSION,
    LABELS,
    MODELS,
    ExplainingModel,
    NgramLinearModel,
    ScoringModel,
    create,
    load,
)

TEXTS = ["a superb , moving film", "a dull and boring mess", "superb cast , wonderful story", "awful , tedious , dull"]
LABELS_OF_TEXTS = ["positive", "negative", "positive", "negative"]
UNSEEN = ["Superb and moving!", "What a DULL mess.", "unseen words only", ""]

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


def test_predict_is_the_top_label_of_predict_proba(fitted) -> None:
    assert fitted.predict(TEXTS + UNSEEN) == [top_label(p) for p in fitted.predict_proba(TEXTS + UNSEEN)]


def test_save_and_load_round_trip_without_pickle(fitted, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    config = json.loads((tmp_path / "model.json").read_text())
    assert config["kind"] == fitted.kind and config["labels"] == list(LABELS)
    assert config["format_version"] == FORMAT_VERSION == 1
    for path in tmp_path.iterdir():
        assert path.suffix in (".json", ".npz"), f"{path.name} is not an inspectable format"
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    loaded = load(tmp_path)
    assert loaded.predict_proba(TEXTS + ["unseen words only"]) == fitted.predict_proba(TEXTS + ["unseen words only"])
    assert loaded.predict(TEXTS + UNSEEN) == fitted.predict(TEXTS + UNSEEN)


def test_saved_options_create_a_model_that_saves_the_same_options(fitted, tmp_path: Path) -> None:
    """model.json's options are create()'s: every hyper-parameter spelt out, defaults included."""
    fitted.save(tmp_path / "first")
    config = json.loads((tmp_path / "first" / "model.json").read_text())
    create(fitted.kind, config["options"]).fit(TEXTS, LABELS_OF_TEXTS).save(tmp_path / "second")
    assert json.loads((tmp_path / "second" / "model.json").read_text()) == config


def test_scoring_models_are_the_linear_ones(fitted) -> None:
    assert isinstance(fitted, ScoringModel) == isinstance(fitted, NgramLinearModel)
    if isinstance(fitted, ScoringModel):
        scores = fitted.scores(TEXTS)
        assert [top_label(p) for p in fitted.predict_proba(TEXTS)] == [LABELS[int(s > 0)] for s in scores]


def test_every_model_explains_its_log_odds_exactly(fitted) -> None:
    """intercept + the shown contributions + other is the log-odds the probability came from, for every kind."""
    assert isinstance(fitted, ExplainingModel)
    texts = TEXTS + UNSEEN + ["superb superb superb , not dull"]
    explained = fitted.explain(texts, 2)
    assert [e.probabilities for e in explained] == fitted.predict_proba(texts)
    for explanation in explained:
        parts = [part for _, part in explanation.contributions]
        assert len(parts) <= 2
        assert [abs(part) for part in parts] == sorted(map(abs, parts), reverse=True)
        assert abs(explanation.intercept + sum(parts) + explanation.other - explanation.log_odds) <= 1e-9
        positive = explanation.probabilities[LABELS[1]]
        assert explanation.log_odds == pytest.approx(math.log(positive / (1 - positive)), rel=1e-9, abs=1e-9)
    if isinstance(fitted, ScoringModel):
        assert [e.log_odds for e in explained] == fitted.scores(texts).tolist()
    assert fitted.explain([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        fitted.explain(TEXTS, 0)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_unfitted_model_says_so(kind: str) -> None:
    with pytest.raises(PipelineError, match="not fitted"):
        create(kind, OPTIONS[kind]).predict_proba(["text"])


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_fit_refuses_a_single_label(kind: str) -> None:
    with pytest.raises(PipelineError, match="needs both"):
        create(kind, OPTIONS[kind]).fit(["good", "great"], ["positive", "positive"])


def test_unknown_kind_and_option_are_named() -> None:
    with pytest.raises(PipelineError, match="unknown model kind 'svm'"):
        create("svm", {})
    with pytest.raises(PipelineError, match="unexpected keyword argument 'smoothing'"):
        create("nltk_naive_bayes", {"smoothing": 1})
    with pytest.raises(PipelineError, match="model kind 'multinomial_nb': .*unexpected keyword argument 'smoothing'"):
        create("multinomial_nb", {"smoothing": 1})


def test_load_names_a_missing_or_corrupt_model(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="model.json is missing"):
        load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(PipelineError, match="not a valid model file"):
        load(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"kind": "nbsvm", "format_version": 2}))
    with pytest.raises(PipelineError, match="has format 2; this code reads 1"):
        load(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"kind": "svm", "format_version": 1}))
    with pytest.raises(PipelineError, match="names unknown model kind 'svm'"):
        load(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"kind": "nbsvm", "format_version": 1}))
    with pytest.raises(PipelineError, match="unreadable"):
        load(tmp_path)


def test_importing_the_package_imports_numpy_only() -> None:
    """Serving imports pipeline.model: NLTK, scikit-learn and scipy must wait for the code that needs them."""
    script = (
        "import sys, pipeline.model; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'nltk', 'numpy'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == ["['numpy']"]
