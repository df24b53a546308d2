"""Every n-gram linear model: the exported numpy weights reproduce the scikit-learn estimator it was trained as."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import NgramFeatures, create, load
from pipeline.model.linear.base import distinct_cells
from pipeline.model.ngrams.vocabulary import TokenizedTexts
from tests.unit.model.conftest import LINEAR_KINDS, TRICKY, predicted_positive

# Every kind with each weighting it accepts, on uni- to trigrams.
VARIANTS = [
    ("multinomial_nb", {"weighting": "binary"}),
    ("multinomial_nb", {"weighting": "count"}),
    ("multinomial_nb", {"weighting": "tfidf", "ngram_range": [1, 3]}),
    ("bernoulli_nb", {"ngram_range": [1, 3], "min_document_count": 2}),
    ("logistic_regression", {"weighting": "binary", "stopwords": ["the", "a", "is", "not"]}),
    ("logistic_regression", {"weighting": "tfidf", "remove_punctuation": True}),
    ("nbsvm", {"ngram_range": [1, 3]}),
    ("nbsvm", {"ngram_range": [2, 2], "max_features": 40}),
    ("nbsvm", {"mark_negation": True}),
    ("nb_logistic_regression", {"ngram_range": [1, 3]}),
    ("linear_ensemble", {}),
    ("linear_ensemble", {"mark_negation": True, "stopwords": ["the", "a"]}),
]


def test_variants_cover_every_linear_kind() -> None:
    assert {kind for kind, _ in VARIANTS} == set(LINEAR_KINDS)


@pytest.mark.parametrize(("kind", "features"), VARIANTS)
def test_exported_model_equals_the_trained_estimator(kind: str, features: dict, prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    _, test_texts, _ = read_split(prepared / "test.jsonl")
    fitted = create(kind, {"features": features}).fit(texts, labels)
    fitted.save(tmp_path / "model")
    exported = load(tmp_path / "model")
    assert exported.table.vectorized, "every variant here serves by the vectorized path"
    everything = texts + test_texts
    expected = predicted_positive(fitted, everything)
    probabilities = exported.predict_proba(everything)
    assert np.allclose([p["positive"] for p in probabilities], expected, rtol=1e-9, atol=1e-12)
    assert exported.predict(everything) == ["positive" if p > 0.5 else "negative" for p in expected]
    assert fitted.estimator.predict(fitted.estimator_input(test_texts)).tolist() == [
        int(label == "positive") for label in exported.predict(test_texts)
    ]


@pytest.mark.parametrize(("kind", "features"), VARIANTS)
def test_fit_on_a_subset_of_tokenized_texts_is_fit_on_those_texts(
    kind: str, features: dict, prepared: Path, tmp_path: Path
) -> None:
    """The train stage tokenizes its corpus once and fits every fold on a subset: each must save the same model."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    rows = [17, 2, 5, 11, 0, 8, 14, 3, 19, 6]
    fold_texts, fold_labels = [texts[row] for row in rows], [labels[row] for row in rows]
    alone = create(kind, {"features": features}).fit(fold_texts, fold_labels)
    shared = create(kind, {"features": features})
    shared.fit_tokenized(TokenizedTexts.of(shared.features, [*texts, *TRICKY]).subset(rows), fold_labels)
    alone.save(tmp_path / "alone")
    shared.save(tmp_path / "shared")
    for name in ("model.json", "vocabulary.json", "weights.npz"):
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes(), name


def test_fit_refuses_texts_tokenized_with_other_features(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    tokenized = TokenizedTexts.of(NgramFeatures(mark_negation=True), texts)
    with pytest.raises(PipelineError, match="tokenized with other features"):
        create("nbsvm", {}).fit_tokenized(tokenized, labels)


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_saved_files_are_json_and_npz_without_pickles(kind: str, prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    create(kind, {}).fit(texts, labels).save(tmp_path / "model")
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "model.json",
        "vocabulary.json",
        "weights.npz",
    ]
    with np.load(tmp_path / "model" / "weights.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype == np.float64 for name in arrays.files)


def test_a_batch_scores_each_text_as_alone(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    fitted = create("logistic_regression", {"features": {"weighting": "tfidf"}}).fit(texts, labels)
    batch = [*texts[:5], "", "unknown words only", *TRICKY]
    assert fitted.predict_proba(batch) == [fitted.predict_proba([text])[0] for text in batch]
    assert fitted.predict_proba([]) == []
    assert fitted.predict_proba(["nothing known here"])[0] == fitted.predict_proba([""])[0]


def test_serving_imports_neither_sklearn_nor_scipy(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    create("nbsvm", {}).fit(texts, labels).save(tmp_path / "model")
    script = (
        "import sys; from pathlib import Path; from pipeline.model import load; "
        f"print(load(Path({str(tmp_path / 'model')!r})).predict(['a superb film'])); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'nltk'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == ["['positive']", "[]"]


def test_rescale_multiplies_every_score_and_keeps_every_label(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    fitted = create("nbsvm", {}).fit(texts, labels)
    scores, predicted = fitted.scores(texts + TRICKY), fitted.predict(texts + TRICKY)
    fitted.rescale(3.0)
    assert np.allclose(fitted.scores(texts + TRICKY), 3.0 * scores, rtol=1e-12, atol=0)
    assert fitted.predict(texts + TRICKY) == predicted
    fitted.save(tmp_path / "model")
    assert np.array_equal(load(tmp_path / "model").scores(texts), fitted.scores(texts))  # saved as rescaled
    with pytest.raises(PipelineError, match="must be positive, not 0"):
        fitted.rescale(0)
    with pytest.raises(PipelineError, match="not fitted"):
        create("nbsvm", {}).rescale(2.0)


def test_bad_options_are_named() -> None:
    with pytest.raises(PipelineError, match="bernoulli_nb reads presence only"):
        create("bernoulli_nb", {"features": {"weighting": "tfidf"}})
    with pytest.raises(PipelineError, match=r"ngram_range \[1, 4\]"):
        create("nbsvm", {"features": {"ngram_range": [1, 4]}})
    with pytest.raises(PipelineError, match="weighting 'bm25'"):
        create("logistic_regression", {"features": {"weighting": "bm25"}})
    with pytest.raises(PipelineError, match="unexpected keyword argument 'beta'"):
        create("nbsvm", {"beta": 0.25})
    with pytest.raises(PipelineError, match="not fitted"):
        create("nbsvm", {}).predict_proba(["text"])
    with pytest.raises(PipelineError, match="no n-gram is in 5 training documents"):
        create("multinomial_nb", {"features": {"min_document_count": 5}}).fit(["good", "bad"], ["positive", "negative"])


def test_corrupt_weights_are_named(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    folder = tmp_path / "model"
    create("multinomial_nb", {}).fit(texts, labels).save(folder)
    (folder / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PipelineError, match="unreadable"):
        load(folder)
    np.savez(folder / "weights.npz", coef=np.zeros(3), intercept=np.zeros(1))
    with pytest.raises(PipelineError, match="n-grams but 3 weights"):
        load(folder)
    size = len(json.loads((folder / "vocabulary.json").read_text()))
    for coef, intercept in ((np.full(size, np.nan), [0.0]), (np.zeros(size), [np.inf])):
        np.savez(folder / "weights.npz", coef=coef, intercept=np.array(intercept))
        with pytest.raises(PipelineError, match="not finite"):  # it loaded, and answered every text with null
            load(folder)
    (folder / "vocabulary.json").write_text(json.dumps({"not": "a list"}))
    with pytest.raises(PipelineError, match="must be a list of n-grams"):
        load(folder)


def test_distinct_cells_keeps_one_of_each_document_column_pair() -> None:
    documents = np.array([1, 0, 1, 0, 2, 1, 0], dtype=np.int64)
    columns = np.array([3, 3, 3, 1, 0, 2, 3], dtype=np.int64)
    stamp = np.full(4, 99, dtype=np.int64)  # whatever an earlier batch left there
    kept = distinct_cells(documents, columns, stamp)
    assert sorted(zip(*(part.tolist() for part in kept), strict=True)) == [(0, 1), (0, 3), (1, 2), (1, 3), (2, 0)]


@pytest.mark.parametrize(("kind", "features"), VARIANTS)
def test_explanations_add_up_to_the_rescaled_score(kind: str, features: dict, prepared: Path) -> None:
    """Every kind and weighting, ensembles included, after the calibration train() applies: the parts are the
    served log-odds to 1e-9, and the path that serves (compiled or numpy) shows what the regex path shows."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    _, test_texts, _ = read_split(prepared / "test.jsonl")
    fitted = create(kind, {"features": features}).fit(texts, labels)
    fitted.rescale(3.0)
    everything = [*test_texts, *TRICKY, "superb superb superb"]
    explained, reference = fitted.explain(everything, 4), fitted.reference_explain(everything, 4)
    assert [e.contributions for e in explained] == [e.contributions for e in reference]
    for explanation, score in zip(explained, fitted.scores(everything).tolist(), strict=True):
        assert explanation.log_odds == score
        parts = explanation.intercept + sum(part for _, part in explanation.contributions) + explanation.other
        assert abs(parts - score) <= 1e-9


def test_counted_ngrams_contribute_by_their_count(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    fitted = create("multinomial_nb", {"features": {"weighting": "count", "ngram_range": [1, 1]}}).fit(texts, labels)
    weight = fitted._coef[fitted.table.vocabulary().index("superb")]
    (explanation,) = fitted.explain(["superb superb superb"], 1)
    assert explanation.contributions == [("superb", 3 * weight)]
