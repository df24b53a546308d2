from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.files import write_jsonl
from pipeline.model import create, load
from pipeline.params import parse
from pipeline.stages.train import (
    Fits,
    Holdout,
    HoldoutParams,
    TrainParams,
    cross_fitted_calibration,
    held_out_rows,
    score_scale,
    stratified_folds,
    train,
)
from tests.conftest import TINY_STOPWORDS, TINY_TRAIN


def changed(p: TrainParams, **values: object) -> TrainParams:
    """A copy with `values` validated as if params.yaml held them (model_copy(update=...) would skip that)."""
    return TrainParams.model_validate(p.model_dump() | values)


def test_train_saves_a_model_and_cv_scores(prepared: Path, tmp_path: Path) -> None:
    model = train(TINY_TRAIN, "seed_nb", prepared, tmp_path / "model", tmp_path / "cv.json")
    cv = json.loads((tmp_path / "cv.json").read_text())
    assert cv["folds"] == 2 and 0.5 <= cv["accuracy"] <= 1.0 and "f1_macro" in cv and "roc_auc" in cv
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    # The stopword language was resolved to NLTK's list and saved, so serving needs no NLTK data.
    assert config["options"]["features"]["stopwords"] == TINY_STOPWORDS
    _, texts, _ = read_split(prepared / "test.jsonl")
    assert load(tmp_path / "model").predict_proba(texts) == model.predict_proba(texts)


def test_unknown_candidate_and_kind_are_named(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no candidate 'svm'"):
        train(TINY_TRAIN, "svm", prepared, tmp_path / "model", tmp_path / "cv.json")
    with pytest.raises(PipelineError, match="train.candidates.x.kind: got 'svm' .*; needs a model kind: one of "):
        parse(TrainParams, {"candidates": {"x": {"kind": "svm"}}}, "train")
    misspelt = changed(TINY_TRAIN, candidates={"x": {"kind": "nbsvm", "alpah": 2}})
    with pytest.raises(PipelineError, match="train.candidates.x: model kind 'nbsvm': .* 'alpah'"):
        train(misspelt, "x", prepared, tmp_path / "model", tmp_path / "cv.json")
    assert not (tmp_path / "model").exists() and not (tmp_path / "cv.json").exists()


def test_too_many_folds_is_named(prepared: Path, tmp_path: Path) -> None:
    bad = changed(TINY_TRAIN, cv_folds=50)
    with pytest.raises(PipelineError, match="cv_folds=50"):
        train(bad, "seed_nb", prepared, tmp_path / "model", tmp_path / "cv.json")


def test_corpus_cv_is_reported_beside_the_selection_scores(prepared: Path, tmp_path: Path) -> None:
    params = changed(TINY_TRAIN, corpus_cv_folds=3)
    train(params, "seed_nb", prepared, tmp_path / "model", tmp_path / "cv.json")
    cv = json.loads((tmp_path / "cv.json").read_text())
    # The selection scores stay those of CV on the train split (20 documents); the report covers all 24.
    assert cv["folds"] == 2 and 0.5 <= cv["accuracy"] <= 1.0
    report = cv["corpus_cv"]
    assert report["folds"] == 3 and report["documents"] == 24 and 0.0 <= report["accuracy"] <= 1.0
    assert {"accuracy_std", "f1_macro", "roc_auc"} <= set(report)


def test_too_many_corpus_folds_are_named(prepared: Path, tmp_path: Path) -> None:
    bad = changed(TINY_TRAIN, corpus_cv_folds=13)
    with pytest.raises(PipelineError, match="train.corpus_cv_folds=13 needs 2 <= folds <= 12"):
        train(bad, "seed_nb", prepared, tmp_path / "model", tmp_path / "cv.json")
    assert not (tmp_path / "model").exists()


LINEAR = {"kind": "nbsvm", "features": {"stopwords": "english"}}


def test_temperature_scaling_keeps_every_label_and_is_recorded(prepared: Path, tmp_path: Path) -> None:
    params = changed(TINY_TRAIN, candidates={"nbsvm": LINEAR})
    raw = changed(params, calibrate_scores=False)
    scaled = train(params, "nbsvm", prepared, tmp_path / "scaled", tmp_path / "scaled.json")
    plain = train(raw, "nbsvm", prepared, tmp_path / "plain", tmp_path / "plain.json")
    _, texts, _ = read_split(prepared / "test.jsonl")
    assert scaled.predict(texts) == plain.predict(texts)
    factor = json.loads((tmp_path / "scaled.json").read_text())["score_scale"]
    assert "score_scale" not in json.loads((tmp_path / "plain.json").read_text())
    assert np.allclose(scaled.scores(texts), factor * plain.scores(texts))
    # What was saved is what answers: the factor is in the weights, not a setting to forget when serving.
    assert load(tmp_path / "scaled").predict_proba(texts) == scaled.predict_proba(texts)


def test_score_scale_sharpens_timid_scores_and_softens_overconfident_ones() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 2, 4000)  # the true log-odds of each text
    labels = ["positive" if rng.random() < 1 / (1 + np.exp(-z)) else "negative" for z in truth]
    assert score_scale(truth / 10, labels) == pytest.approx(10, rel=0.15)
    assert score_scale(truth * 4, labels) == pytest.approx(0.25, rel=0.15)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("nltk_naive_bayes", {"features": {"stopwords": TINY_STOPWORDS}}),
        ("linear_ensemble", {"features": {"mark_negation": True, "tail_sentences": 1}}),
    ],
)
def test_a_fit_on_rows_of_the_corpus_is_a_fit_on_those_texts(kind: str, options: dict, prepared: Path) -> None:
    """Each fold fits on rows of a corpus tokenized once for the stage; it must be the model its texts give."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    _, test_texts, test_labels = read_split(prepared / "test.jsonl")
    fits = Fits.of(kind, options, texts + test_texts, labels + test_labels)
    assert (fits.tokenized is None) == (kind == "nltk_naive_bayes")
    rows = np.array([21, 3, 0, 7, 12, 18, 5, 9, 22, 14])
    fold = fits.model(rows)
    alone = create(kind, options).fit([fits.texts[i] for i in rows], [fits.labels[i] for i in rows])
    assert fold.predict_proba(texts + test_texts) == alone.predict_proba(texts + test_texts)


def test_cv_reports_calibration_of_out_of_fold_scores(prepared: Path, tmp_path: Path) -> None:
    train(TINY_TRAIN, "seed_nb", prepared, tmp_path / "nb", tmp_path / "nb.json")
    calibration = json.loads((tmp_path / "nb.json").read_text())["calibration"]
    assert calibration["ece_bins"] == 10 and 0 <= calibration["brier"] <= 1 and calibration["log_loss"] >= 0
    assert "unscaled" not in calibration  # NLTK naive Bayes is not rescaled: its scores are the ones served
    params = changed(TINY_TRAIN, candidates={"nbsvm": LINEAR})
    train(params, "nbsvm", prepared, tmp_path / "nbsvm", tmp_path / "nbsvm.json")
    scaled = json.loads((tmp_path / "nbsvm.json").read_text())["calibration"]
    assert set(scaled["unscaled"]) == {"brier", "log_loss", "ece", "ece_bins"}


def test_cross_fitted_scaling_repairs_overconfident_scores() -> None:
    # Log-odds four times too confident: P(positive) = sigmoid(z / 4) is the truth, the model says sigmoid(z).
    rng = np.random.default_rng(0)
    log_odds = rng.normal(0.0, 6.0, size=2000)
    truth = rng.uniform(size=log_odds.size) < 1 / (1 + np.exp(-log_odds / 4))
    labels = ["positive" if positive else "negative" for positive in truth]
    folds = stratified_folds(labels, 5, 0, "folds")
    raw = cross_fitted_calibration(folds, log_odds, labels, scaled=False)
    scaled = cross_fitted_calibration(folds, log_odds, labels, scaled=True)
    assert scaled["unscaled"] == raw
    assert scaled["log_loss"] < raw["log_loss"] - 0.1 and scaled["ece"] < raw["ece"] / 2
    # Each fold's factor is fitted without it, and still finds the truth's 1/4.
    for fit_rows, _ in folds:
        assert 0.2 < score_scale(log_odds[fit_rows], [labels[i] for i in fit_rows]) < 0.3


def holdout(mode: str) -> TrainParams:
    return changed(TINY_TRAIN, mode=mode, protocol="holdout", holdout={"fraction": 0.5, "max_documents": 12})


def test_holdout_scores_one_fit_on_rows_it_never_saw_the_same_in_both_modes(prepared: Path, tmp_path: Path) -> None:
    name = "ensemble_negation_tail"
    for mode in ("memory", "streaming"):
        train(holdout(mode), name, prepared, tmp_path / mode / "model", tmp_path / mode / "cv.json")
    memory, streaming = (json.loads((tmp_path / mode / "cv.json").read_text()) for mode in ("memory", "streaming"))
    assert memory == streaming and memory["protocol"] == "holdout" and 4 <= memory["documents"] <= 12
    assert {"accuracy", "accuracy_std", "calibration", "score_scale"} <= set(memory)
    _, texts, _ = read_split(prepared / "test.jsonl")
    assert load(tmp_path / "memory" / "model").predict_proba(texts) == load(
        tmp_path / "streaming" / "model"
    ).predict_proba(texts)


def test_validation_rows_depend_on_the_row_number_alone() -> None:
    rows = np.arange(100_000)
    drawn = held_out_rows(rows, 42, 0.1)
    assert 0.09 < drawn.mean() < 0.11
    assert np.array_equal(
        np.concatenate([held_out_rows(rows[:777], 42, 0.1), held_out_rows(rows[777:], 42, 0.1)]), drawn
    )
    assert not np.array_equal(held_out_rows(rows, 43, 0.1), drawn)
    capped = Holdout(HoldoutParams(fraction=0.1, max_documents=50), 42)
    taken = np.concatenate([capped.rows(start, 100) for start in range(0, 10_000, 100)])
    assert taken.sum() == 50 and np.array_equal(
        taken[: np.flatnonzero(taken)[-1] + 1], drawn[: np.flatnonzero(taken)[-1] + 1]
    )


def test_streaming_needs_the_holdout_protocol() -> None:
    with pytest.raises(PipelineError, match="mode streaming reads the corpus once: set protocol holdout"):
        parse(TrainParams, {"mode": "streaming"}, "train")


def test_holdout_refuses_a_corpus_cv_it_would_not_run() -> None:
    with pytest.raises(PipelineError, match="protocol holdout fits once and runs no corpus CV: set corpus_cv_folds 0"):
        parse(TrainParams, {"protocol": "holdout", "corpus_cv_folds": 10}, "train")
    assert parse(TrainParams, {"protocol": "holdout", "corpus_cv_folds": 0}, "train").protocol == "holdout"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "x", "text": "a fine film", "label": "neutral"}, r"train.jsonl: row 21: label 'neutral' is not one of"),
        ({"id": "x", "text": "  ", "label": "positive"}, r"train.jsonl: row 21: the text is empty"),
    ],
)
def test_a_bad_row_of_a_streamed_corpus_is_named_and_nothing_is_written(
    prepared: Path, tmp_path: Path, row: dict[str, str], message: str
) -> None:
    with (prepared / "train.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    with pytest.raises(PipelineError, match=message):
        train(holdout("streaming"), "ensemble_negation_tail", prepared, tmp_path / "model", tmp_path / "cv.json")
    assert not (tmp_path / "model").exists() and not (tmp_path / "cv.json").exists()


def test_a_streamed_corpus_of_one_label_is_named_with_its_row_count(prepared: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (prepared / "train.jsonl").read_text().splitlines()]
    write_jsonl(prepared / "train.jsonl", [row for row in rows if row["label"] == "positive"])
    two_processes = changed(holdout("streaming"), streaming={"processes": 2, "chunk_documents": 3})
    with pytest.raises(PipelineError, match=r"train.jsonl: all 10 rows are positive; a classifier needs both"):
        train(two_processes, "ensemble_negation_tail", prepared, tmp_path / "model", tmp_path / "cv.json")
    assert not (tmp_path / "model").exists() and not (tmp_path / "cv.json").exists()


def test_streaming_refuses_kinds_it_cannot_count(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="mode streaming fits n-gram linear kinds only, not nltk_naive_bayes"):
        train(holdout("streaming"), "seed_nb", prepared, tmp_path / "model", tmp_path / "cv.json")
