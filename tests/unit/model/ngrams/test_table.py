"""NgramTable: a saved vocabulary read back, the path it serves by, and models that serve as they were trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import NgramFeatures, create, load
from pipeline.model.ngrams.table import NgramTable
from tests.unit.model.conftest import LINEAR_KINDS, TRICKY, predicted_positive

ALL_MEMBERS = [{"kind": kind} for kind in LINEAR_KINDS if kind != "linear_ensemble"]


def test_parse_reads_back_what_vocabulary_wrote(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    features = NgramFeatures(ngram_range=(1, 3), mark_negation=True)
    table = create("multinomial_nb", {"features": features}).fit(texts, labels).table
    parsed = NgramTable.parse(features, table.vocabulary())
    assert parsed.vocabulary() == table.vocabulary()
    for mine, theirs in zip(parsed.cells(texts + TRICKY), table.cells(texts + TRICKY), strict=True):
        assert np.array_equal(mine, theirs)


def test_a_vocabulary_must_list_each_ngram_once_and_within_its_range() -> None:
    with pytest.raises(ValueError, match="lists an n-gram twice"):
        NgramTable.parse(NgramFeatures(), ["good", "good film", "good"])
    with pytest.raises(ValueError, match=r"outside ngram_range \[1, 2\]"):
        NgramTable.parse(NgramFeatures(), ["a good film"])


def test_case_kept_negation_marking_takes_the_regex_path(prepared: Path) -> None:
    """A cue is matched lower-cased, so a model that keeps case and marks negation must not hash."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    features = {"lowercase": False, "mark_negation": True}
    fitted = create("multinomial_nb", {"features": features}).fit(texts, labels)
    assert not fitted.table.vectorized
    with pytest.raises(ValueError, match="regex path"):
        fitted.table.hashed_ids(["NOT good"])
    shouted = ["NOT good at all", "Never boring. Not once"]
    served = [p["positive"] for p in fitted.predict_proba(shouted)]
    assert np.allclose(served, predicted_positive(fitted, shouted), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("features", [{"tail_sentences": 2, "mark_negation": True}, {"char_ngram_range": [3, 5]}])
def test_tail_and_character_ngram_models_serve_as_trained(features: dict, prepared: Path, tmp_path: Path) -> None:
    """A tail model serves by the vectorized path, a character n-gram one by the regex path; both score as trained."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    _, test_texts, _ = read_split(prepared / "test.jsonl")
    fitted = create("linear_ensemble", {"features": features, "members": ALL_MEMBERS}).fit(texts, labels)
    fitted.save(tmp_path / "model")
    exported = load(tmp_path / "model")
    prefix = "»" if "tail_sentences" in features else "¤"
    assert exported.table.vectorized == (prefix == "»")
    streams = [{part.startswith(prefix) for part in ngram.split(" ")} for ngram in exported.table.vocabulary()]
    assert {True} in streams  # the prefixed columns exist...
    assert {True, False} not in streams  # ...and no n-gram spans the stream break
    if prefix == "¤":  # character n-grams are never joined into word n-grams
        assert all(" " not in ngram for ngram in exported.table.vocabulary() if ngram.startswith(prefix))
    everything = [*texts, *test_texts, *TRICKY]
    expected = predicted_positive(fitted, everything)
    served = [p["positive"] for p in exported.predict_proba(everything)]
    assert np.allclose(served, expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(PipelineError, match="tail_sentences"):
        NgramFeatures(tail_sentences=-1)
    with pytest.raises(PipelineError, match="char_ngram_range"):
        NgramFeatures(char_ngram_range=(4, 2))
