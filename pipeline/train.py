"""Train stage: cross-validate one candidate on the train split, then fit it on all of it.

dvc.yaml: sentiment train NAME data/prepared models/candidates/NAME metrics/candidates/NAME/cv.json
"""

from __future__ import annotations

import copy
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.model_selection import StratifiedKFold

from pipeline import nltk_data
from pipeline.errors import PipelineError
from pipeline.files import staged, write_json
from pipeline.metrics import scores
from pipeline.model import SentimentModel, create
from pipeline.prepare import read_split

log = logging.getLogger(__name__)

CV_KEYS = ("accuracy", "f1_macro", "roc_auc")


@dataclass(frozen=True)
class TrainParams:
    # Selection data: k-fold CV on the train split, so choosing a winner never sees the test split.
    cv_folds: int = 5
    cv_seed: int = 42
    # For comparison with published results only: stratified k-fold CV over the whole corpus (train +
    # test splits), written under "corpus_cv" in cv.json. It sees the test split, so select never
    # reads it (select.metric must be a top-level CV score). 0 skips it.
    corpus_cv_folds: int = 0
    # name -> {kind: a key of pipeline.model.MODELS, ...that class's options}
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)


def candidate(p: TrainParams, name: str) -> tuple[str, dict[str, Any]]:
    """The candidate's kind and constructor options, with a stopword language turned into its list."""
    if name not in p.candidates:
        raise PipelineError(f"no candidate '{name}' in train.candidates; known: {', '.join(sorted(p.candidates))}")
    spec = copy.deepcopy(p.candidates[name])
    if not isinstance(spec, dict) or "kind" not in spec:
        raise PipelineError(f"train.candidates.{name} needs a 'kind'")
    kind = spec.pop("kind")
    features = spec.get("features") or {}
    if isinstance(features.get("stopwords"), str):
        features["stopwords"] = nltk_data.stopwords(features["stopwords"])
    return kind, spec


def cross_validate(
    kind: str,
    options: dict[str, Any],
    texts: list[str],
    labels: list[str],
    folds: int,
    seed: int,
    setting: str = "train.cv_folds",
) -> dict[str, float]:
    """Mean and spread of each score over stratified folds of `texts`; `setting` names `folds` in errors."""
    smallest = min(labels.count(label) for label in set(labels))
    if not 2 <= folds <= smallest:
        raise PipelineError(f"{setting}={folds} needs 2 <= folds <= {smallest} (the rarest label's count)")
    per_fold: dict[str, list[float]] = {key: [] for key in CV_KEYS}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for number, (fit_rows, held_rows) in enumerate(splitter.split(texts, labels), start=1):
        model = create(kind, options).fit([texts[i] for i in fit_rows], [labels[i] for i in fit_rows])
        fold = scores([labels[i] for i in held_rows], model.predict_proba([texts[i] for i in held_rows]))
        for key in CV_KEYS:
            per_fold[key].append(fold[key])
        log.info("fold %d/%d: accuracy %.4f", number, folds, fold["accuracy"])
    result: dict[str, float] = {"folds": folds}
    for key, values in per_fold.items():
        result[key] = statistics.fmean(values)
        result[f"{key}_std"] = statistics.pstdev(values)
    return result


def train(p: TrainParams, name: str, prepared: Path, model_out: Path, cv_out: Path) -> SentimentModel:
    """Fit and save. Returns the model so tests need not load it back."""
    kind, options = candidate(p, name)
    _, texts, labels = read_split(prepared / "train.jsonl")
    log.info("candidate %s (%s): %d-fold CV on %d training documents", name, kind, p.cv_folds, len(texts))
    cv: dict[str, Any] = cross_validate(kind, options, texts, labels, p.cv_folds, p.cv_seed)
    if p.corpus_cv_folds:
        _, test_texts, test_labels = read_split(prepared / "test.jsonl")
        everything, every_label = texts + test_texts, labels + test_labels
        log.info(
            "candidate %s: %d-fold CV on all %d documents, for reporting", name, p.corpus_cv_folds, len(everything)
        )
        cv["corpus_cv"] = cross_validate(
            kind, options, everything, every_label, p.corpus_cv_folds, p.cv_seed, "train.corpus_cv_folds"
        ) | {"documents": len(everything)}
    model = create(kind, options).fit(texts, labels)
    with staged(model_out) as model_folder, staged(cv_out) as cv_file:
        model.save(model_folder)
        write_json(cv_file, cv)
    log.info("candidate %s trained: CV accuracy %.4f ± %.4f", name, cv["accuracy"], cv["accuracy_std"])
    if "corpus_cv" in cv:
        report = cv["corpus_cv"]
        log.info("candidate %s: corpus CV accuracy %.4f (reported only)", name, report["accuracy"])
    return model
