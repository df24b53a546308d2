"""Train stage: cross-validate one candidate on the train split, then fit it on all of it.

dvc.yaml: sentiment train NAME data/prepared models/candidates/NAME metrics/candidates/NAME/cv.json
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import statistics
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator
from sklearn.model_selection import StratifiedKFold

from pipeline.corpus import nltk_data
from pipeline.corpus.splits import read_split
from pipeline.corpus.stream import Chunk, chunks, corpus_bytes
from pipeline.errors import PipelineError
from pipeline.files import staged, write_json
from pipeline.labels import LABELS, check_training_labels
from pipeline.metrics import CV_KEYS, PROBABILITY_CLIP, calibration_scores, classification_scores, sigmoid
from pipeline.model import MODELS, NgramLinearModel, ScoringModel, SentimentModel, create
from pipeline.model.linear.streaming import StreamingSettings, fit_streamed
from pipeline.model.ngrams.vocabulary import TokenizedTexts
from pipeline.params import Params

log = logging.getLogger(__name__)


class CandidateSpec(Params):
    """One entry of train.candidates: a kind, and as its other keys only the options that differ from the kind's
    defaults. The options are the model class's to check (pipeline.model.create), so none are listed here."""

    model_config = ConfigDict(extra="allow")
    kind: str  # a key of pipeline.model.MODELS

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind not in MODELS:
            raise ValueError(f"a model kind: one of {', '.join(sorted(MODELS))}")
        return kind


class HoldoutParams(Params):
    # Each training row is held out with this probability (a hash of its row number and cv_seed, so the same rows
    # whatever the chunking), until max_documents are: the validation rows select scores the candidate on.
    fraction: float = Field(default=0.1, gt=0, lt=1)
    max_documents: int = Field(default=20_000, ge=4)


class StreamingParams(Params):
    # The caps that bound a streamed fit's memory (pipeline/model/linear/streaming.py).
    chunk_documents: int = Field(default=2_000, ge=1)
    max_counted_ngrams: int = Field(default=10_000_000, ge=1_000)
    sample_documents: int = Field(default=20_000, ge=4)
    processes: int = Field(default=1, ge=1)


class TrainParams(Params):
    # memory: the corpus and its n-gram matrix in memory (any kind, any protocol); streaming: the corpus read in
    # chunks, memory bounded by the vocabulary and the caps of `streaming` (n-gram linear kinds, binary weighting,
    # protocol holdout).
    mode: Literal["memory", "streaming"] = "memory"
    # Selection data from the train split only, so choosing a winner never sees the test split: kfold, cv_folds
    # fits and their held-out scores; holdout, one fit on all but a validation part, scored on it.
    protocol: Literal["kfold", "holdout"] = "kfold"
    cv_folds: int = Field(default=5, ge=2)
    cv_seed: int = 42
    holdout: HoldoutParams = Field(default_factory=HoldoutParams)
    streaming: StreamingParams = Field(default_factory=StreamingParams)
    # For comparison with published results only: stratified k-fold CV over the whole corpus (train +
    # test splits), written under "corpus_cv" in cv.json. It sees the test split, so select never
    # reads it (select.metric must be a top-level CV score). 0 skips it.
    corpus_cv_folds: int = Field(default=0, ge=0)
    # Temperature scaling: multiply a linear model's scores by the factor that best fits the out-of-fold
    # scores of the train-split CV, so its probabilities mean something. Labels and metrics do not change.
    calibrate_scores: bool = True
    candidates: dict[str, CandidateSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _streaming_needs_holdout(self) -> Self:
        if self.mode == "streaming" and (self.protocol != "holdout" or self.corpus_cv_folds):
            raise ValueError("mode streaming reads the corpus once: set protocol holdout and corpus_cv_folds 0")
        if self.protocol == "holdout" and self.corpus_cv_folds:
            # Said rather than skipped: a corpus CV the user asked for must not vanish from cv.json unnoticed.
            raise ValueError("protocol holdout fits once and runs no corpus CV: set corpus_cv_folds 0")
        return self

    @field_validator("corpus_cv_folds")
    @classmethod
    def _skipped_or_folds(cls, folds: int) -> int:
        if folds == 1:
            raise ValueError("0 to skip the corpus CV, or a whole number of at least 2")
        return folds

    def specs(self) -> dict[str, dict[str, Any]]:
        """Each candidate as params.yaml writes it, for select and MLflow, which must not import this stage."""
        return {name: spec.model_dump() for name, spec in self.candidates.items()}


def candidate(p: TrainParams, name: str) -> tuple[str, dict[str, Any]]:
    """The candidate's kind and constructor options, with a stopword language turned into its list.

    The options are tried on an unfitted model here, so a misspelt one is named with its candidate before any
    corpus is read."""
    if name not in p.candidates:
        raise PipelineError(f"no candidate '{name}' in train.candidates; known: {', '.join(sorted(p.candidates))}")
    spec = p.candidates[name]
    options = copy.deepcopy(spec.model_extra or {})
    features = options.get("features")
    if isinstance(features, dict) and isinstance(features.get("stopwords"), str):
        features["stopwords"] = nltk_data.stopwords(features["stopwords"])
    try:
        create(spec.kind, options)
    except PipelineError as error:
        raise PipelineError(f"train.candidates.{name}: {error}") from None
    return spec.kind, options


@dataclasses.dataclass(frozen=True)
class Fits:
    """Fresh models of one candidate, each fitted on rows of one corpus, which is tokenized once for them all.

    A stage fits its candidate 16 times (5 CV folds, 10 corpus CV folds, the final fit), and the tokenizer was
    most of an n-gram model's fit: fitted on rows of the tokenized corpus, each document goes through it once,
    not ~13 times, and each fit is the one its texts give (tests check). NLTK naive Bayes takes the texts.
    """

    kind: str
    options: dict[str, Any]
    texts: list[str]
    labels: list[str]
    tokenized: TokenizedTexts | None = None

    @classmethod
    def of(cls, kind: str, options: dict[str, Any], texts: list[str], labels: list[str]) -> Fits:
        model = create(kind, options)
        tokenized = TokenizedTexts.of(model.features, texts) if isinstance(model, NgramLinearModel) else None
        return cls(kind, options, texts, labels, tokenized)

    def model(self, rows: np.ndarray) -> SentimentModel:
        """A fresh model fitted on the texts `rows`."""
        model = create(self.kind, self.options)
        labels = [self.labels[i] for i in rows]
        if self.tokenized is not None and isinstance(model, NgramLinearModel):
            return model.fit_tokenized(self.tokenized.subset(rows), labels)
        return model.fit([self.texts[i] for i in rows], labels)

    def held_out(self, fit_rows: np.ndarray, held_rows: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        """One fold: the scores on `held_rows` of a model fitted on `fit_rows`, and their log-odds of positive."""
        model = self.model(fit_rows)
        return validation_scores(model, [self.texts[i] for i in held_rows], [self.labels[i] for i in held_rows])


def validation_scores(model: SentimentModel, texts: list[str], labels: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    """`model`'s scores on texts it was not fitted on, and their log-odds of positive (for calibration)."""
    probabilities = model.predict_proba(texts)
    scores = classification_scores(labels, probabilities)
    if isinstance(model, ScoringModel):  # a linear model's own log-odds: no 0/1 rounding to clip
        return scores, model.scores(texts)
    positive = np.clip([p[LABELS[1]] for p in probabilities], PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return scores, np.log(positive) - np.log1p(-positive)


def held_out_rows(rows: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """Whether each row number is drawn for validation: a splitmix64 hash of (seed, row) below `fraction`, so a row's
    fate depends on its number alone, not on how the corpus is chunked or which mode reads it."""
    with np.errstate(over="ignore"):
        x = rows.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53 < fraction


class Holdout:
    """The validation rows of a corpus read in order: held_out_rows() until `max_documents` are taken."""

    def __init__(self, p: HoldoutParams, seed: int) -> None:
        self.p, self.seed, self.taken = p, seed, 0

    def __call__(self, chunk: Chunk) -> np.ndarray:
        return self.rows(chunk.first, len(chunk.texts))

    def rows(self, first: int, count: int) -> np.ndarray:
        drawn = held_out_rows(np.arange(first, first + count), self.seed, self.p.fraction)
        room = self.p.max_documents - self.taken
        drawn[np.flatnonzero(drawn)[room:]] = False
        self.taken += int(drawn.sum())
        return drawn


def stratified_folds(labels: list[str], folds: int, seed: int, setting: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) of each stratified fold; `setting` names `folds` in errors."""
    smallest = min(labels.count(label) for label in set(labels))
    if not 2 <= folds <= smallest:
        raise PipelineError(f"{setting}={folds} needs 2 <= folds <= {smallest} (the rarest label's count)")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def cross_validated(
    folds: list[tuple[np.ndarray, np.ndarray]], results: list[tuple[dict[str, Any], np.ndarray]], documents: int
) -> tuple[dict[str, float], np.ndarray]:
    """Mean and spread of each score over the folds' held_out() results, and each of the `documents` texts'
    out-of-fold log-odds of positive (for calibration)."""
    per_fold: dict[str, list[float]] = {key: [] for key in CV_KEYS}
    log_odds = np.zeros(documents)
    for number, ((_, held_rows), (fold, fold_log_odds)) in enumerate(zip(folds, results, strict=True), start=1):
        log_odds[held_rows] = fold_log_odds
        for key in CV_KEYS:
            per_fold[key].append(fold[key])
        log.info("fold %d/%d: accuracy %.4f", number, len(folds), fold["accuracy"])
    result: dict[str, float] = {"folds": len(folds)}
    for key, values in per_fold.items():
        result[key] = statistics.fmean(values)
        result[f"{key}_std"] = statistics.pstdev(values)
    return result, log_odds


def score_scale(log_odds: np.ndarray, labels: list[str]) -> float:
    """The factor a minimizing the log loss of sigmoid(a * log_odds) (temperature scaling, Guo et al. 2017).

    One number, so no text changes label; fitted on out-of-fold scores because in-sample margins of a
    model are wider than those it gives unseen text.
    """
    from scipy.optimize import minimize_scalar

    sign = np.where(np.array(labels) == LABELS[1], 1.0, -1.0)
    fitted = minimize_scalar(
        lambda log_a: float(np.mean(np.logaddexp(0.0, -np.exp(log_a) * sign * log_odds))),
        bounds=(-7.0, 7.0),
        method="bounded",
    )
    return float(np.exp(fitted.x))


def cross_fitted_calibration(
    folds: list[tuple[np.ndarray, np.ndarray]], log_odds: np.ndarray, labels: list[str], scaled: bool
) -> dict[str, Any]:
    """Calibration scores of the out-of-fold P(positive), as the served model would give them.

    With `scaled`, each fold's log-odds are multiplied by the factor score_scale() fits on the other folds'
    out-of-fold log-odds, so no figure is scored on the labels its own factor was fitted to (the final model's
    factor is fitted on all of them); "unscaled" keeps the fold models' own scores, to show what scaling buys.
    """
    unscaled = calibration_scores(labels, sigmoid(log_odds))
    if not scaled:
        return unscaled
    served = np.empty_like(log_odds)
    for fit_rows, held_rows in folds:
        factor = score_scale(log_odds[fit_rows], [labels[i] for i in fit_rows])
        served[held_rows] = factor * log_odds[held_rows]
    return calibration_scores(labels, sigmoid(served)) | {"unscaled": unscaled}


def holdout_report(
    model: SentimentModel, texts: list[str], labels: list[str], p: TrainParams, name: str
) -> dict[str, Any]:
    """cv.json of the holdout protocol: the validation scores where k-fold CV puts its means (a spread of 0: one
    split), and calibration cross-fitted over two halves of the validation rows; scales `model` as k-fold does."""
    if len(set(labels)) < len(LABELS) or min(labels.count(label) for label in LABELS) < 2:
        raise PipelineError(
            f"candidate {name}: the {len(labels)} validation rows need 2 of each label; raise train.holdout.fraction"
        )
    scores, log_odds = validation_scores(model, texts, labels)
    cv: dict[str, Any] = {"protocol": "holdout", "documents": len(texts), "folds": 1}
    for key in CV_KEYS:
        cv[key], cv[f"{key}_std"] = scores[key], 0.0
    scaled = p.calibrate_scores and isinstance(model, ScoringModel)
    halves = stratified_folds(labels, 2, p.cv_seed, "validation halves")
    cv["calibration"] = cross_fitted_calibration(halves, log_odds, labels, scaled)
    if scaled and isinstance(model, ScoringModel):
        cv["score_scale"] = score_scale(log_odds, labels)
        model.rescale(cv["score_scale"])
    return cv


def train_holdout(
    p: TrainParams, name: str, kind: str, options: dict[str, Any], corpus: Path
) -> tuple[SentimentModel, dict[str, Any]]:
    """The holdout protocol: one fit on the training rows that are not held out, scored on those that are."""
    holdout = Holdout(p.holdout, p.cv_seed)
    model = create(kind, options)
    if p.mode == "streaming":
        if not isinstance(model, NgramLinearModel):
            raise PipelineError(f"candidate {name}: mode streaming fits n-gram linear kinds only, not {kind}")
        settings = StreamingSettings(**p.streaming.model_dump(), seed=p.cv_seed)
        log.info("candidate %s (%s): streamed from %s, validation rows held out as it is read", name, kind, corpus)
        rows = chunks(corpus, p.streaming.chunk_documents)
        model, texts, labels = fit_streamed(model, rows, settings, corpus_bytes(corpus), holdout)
    else:
        _, every_text, every_label = read_split(corpus)
        held = holdout.rows(0, len(every_text))
        fit_rows, held_rows = np.flatnonzero(~held), np.flatnonzero(held)
        log.info(
            "candidate %s (%s): fit on %d documents, validated on %d held out",
            name,
            kind,
            len(fit_rows),
            len(held_rows),
        )
        check_training_labels([every_label[i] for i in fit_rows])
        model = Fits.of(kind, options, every_text, every_label).model(fit_rows)
        texts, labels = [every_text[i] for i in held_rows], [every_label[i] for i in held_rows]
    return model, holdout_report(model, texts, labels, p, name)


def train(p: TrainParams, name: str, prepared: Path, model_out: Path, cv_out: Path) -> SentimentModel:
    """Fit and save. Returns the model so tests need not load it back."""
    kind, options = candidate(p, name)
    if p.protocol == "holdout":
        model, cv = train_holdout(p, name, kind, options, prepared / "train.jsonl")
        with staged(model_out) as model_folder, staged(cv_out) as cv_file:
            model.save(model_folder)
            write_json(cv_file, cv)
        log.info(
            "candidate %s trained: validation accuracy %.4f on %d held-out rows", name, cv["accuracy"], cv["documents"]
        )
        return model
    _, texts, labels = read_split(prepared / "train.jsonl")
    train_folds = stratified_folds(labels, p.cv_folds, p.cv_seed, "train.cv_folds")
    every_text, every_label, corpus_folds = texts, labels, []
    if p.corpus_cv_folds:
        _, test_texts, test_labels = read_split(prepared / "test.jsonl")
        every_text, every_label = texts + test_texts, labels + test_labels  # train rows first: they index both
        corpus_folds = stratified_folds(every_label, p.corpus_cv_folds, p.cv_seed, "train.corpus_cv_folds")
    log.info(
        "candidate %s (%s): %d-fold CV on %d training documents, %d-fold corpus CV on all %d, then the final fit",
        name, kind, p.cv_folds, len(texts), p.corpus_cv_folds, len(every_text),
    )  # fmt: skip
    fits = Fits.of(kind, options, every_text, every_label)
    train_results = [fits.held_out(*fold) for fold in train_folds]
    scores_cv, log_odds = cross_validated(train_folds, train_results, len(texts))
    cv: dict[str, Any] = dict(scores_cv)  # the selection scores, then corpus_cv and score_scale beside them
    if corpus_folds:
        corpus_results = [fits.held_out(*fold) for fold in corpus_folds]
        corpus_cv, _ = cross_validated(corpus_folds, corpus_results, len(every_text))
        cv["corpus_cv"] = corpus_cv | {"documents": len(every_text)}
    model = fits.model(np.arange(len(texts)))
    scaled = p.calibrate_scores and isinstance(model, ScoringModel)
    cv["calibration"] = cross_fitted_calibration(train_folds, log_odds, labels, scaled)
    if p.calibrate_scores and isinstance(model, ScoringModel):
        cv["score_scale"] = score_scale(log_odds, labels)
        model.rescale(cv["score_scale"])
        log.info(
            "candidate %s: scores scaled by %.3f (temperature scaling on out-of-fold scores)", name, cv["score_scale"]
        )
    with staged(model_out) as model_folder, staged(cv_out) as cv_file:
        model.save(model_folder)
        write_json(cv_file, cv)
    log.info(
        "candidate %s trained: CV accuracy %.4f ± %.4f, Brier %.4f, log loss %.4f, ECE %.4f",
        name, cv["accuracy"], cv["accuracy_std"],
        cv["calibration"]["brier"], cv["calibration"]["log_loss"], cv["calibration"]["ece"],
    )  # fmt: skip
    if "corpus_cv" in cv:
        report = cv["corpus_cv"]
        log.info("candidate %s: corpus CV accuracy %.4f (reported only)", name, report["accuracy"])
    return model
