"""The full movie_reviews corpus (skipped where absent; CI has it): the seed's 70.75 %, no train/serve skew."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.behaviour import CASES_FILE
from pipeline.corpus import nltk_data
from pipeline.model import tokenize
from pipeline.stages.evaluate import evaluate
from pipeline.stages.fetch import FetchParams, fetch
from pipeline.stages.prepare import PrepareParams, prepare
from pipeline.stages.train import TrainParams, train

pytestmark = [pytest.mark.integration, pytest.mark.corpus]

SEED_NB = {"kind": "nltk_naive_bayes", "features": {"stopwords": "english"}}


def test_seed_protocol_reproduces_70_75_percent(full_corpus: Path, tmp_path: Path) -> None:  # noqa: ARG001
    fetch(FetchParams(source="nltk:movie_reviews"), tmp_path / "raw")
    summary = prepare(PrepareParams(test_fraction=0.2, seed=0), tmp_path / "raw", tmp_path / "prepared")
    assert summary["train"] == {"negative": 800, "positive": 800}
    params = TrainParams(cv_folds=2, cv_seed=42, candidates={"seed_nb": SEED_NB})
    model = train(params, "seed_nb", tmp_path / "prepared", tmp_path / "model", tmp_path / "cv.json")
    metrics = evaluate(
        tmp_path / "model", tmp_path / "prepared", CASES_FILE, tmp_path / "test.json", tmp_path / "behaviour.json",
        tmp_path / "plots",
    )  # fmt: skip
    assert metrics["accuracy"] == 0.7075
    assert json.loads((tmp_path / "test.json").read_text())["accuracy"] == 0.7075

    # Train/serve skew: movie_reviews is stored tokenized and lower-cased, users send raw text.
    reader = nltk_data.corpus("movie_reviews")
    fileids = reader.fileids()
    assert all(tokenize(reader.raw(fileid)) == list(reader.words(fileid)) for fileid in fileids)
    sample = fileids[::50]
    rejoined = [" ".join(reader.words(fileid)) for fileid in sample]
    assert model.predict_proba(rejoined) == model.predict_proba([reader.raw(fileid) for fileid in sample])
    # A user's capitalised text gets the same answer as its lower-cased corpus form.
    assert model.predict([text.upper() for text in rejoined]) == model.predict(rejoined)
