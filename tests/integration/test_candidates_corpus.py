"""The n-gram candidates of params.yaml on the full movie_reviews corpus (skipped where absent; CI has it).

The exported numpy model must answer as the scikit-learn estimator it was trained as, on every review of the
seed's test split; its vectorized tokenizer must give tokenize()'s tokens, and its compiled scorer the regex path's
cells, scores and explanations, on all 2,000 reviews.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.model import MODELS, NgramLinearModel, create, load
from pipeline.params import load_section
from pipeline.stages.fetch import FetchParams, fetch
from pipeline.stages.prepare import PrepareParams, prepare
from pipeline.stages.train import TrainParams, candidate
from tests.conftest import REPO
from tests.unit.model.ngrams.test_compiled import cell_counts

pytestmark = [pytest.mark.integration, pytest.mark.corpus]

# Every n-gram candidate must beat the seed project's NLTK Naive Bayes on its own split.
SEED_ACCURACY = 0.7075
LINEAR_KINDS = {kind for kind, cls in MODELS.items() if issubclass(cls, NgramLinearModel)}


def test_exported_candidates_equal_their_estimators(full_corpus: Path, tmp_path: Path) -> None:  # noqa: ARG001
    fetch(FetchParams(source="nltk:movie_reviews"), tmp_path / "raw")
    prepare(PrepareParams(test_fraction=0.2, seed=0), tmp_path / "raw", tmp_path / "prepared")
    _, texts, labels = read_split(tmp_path / "prepared" / "train.jsonl")
    _, test_texts, test_labels = read_split(tmp_path / "prepared" / "test.jsonl")
    params = load_section(TrainParams, "train", REPO / "params.yaml")
    names = [name for name, spec in params.candidates.items() if spec.kind in LINEAR_KINDS]
    assert names, "params.yaml has no n-gram candidate"
    for name in names:
        kind, options = candidate(params, name)
        fitted = create(kind, options).fit(texts, labels)
        fitted.save(tmp_path / name)
        exported = load(tmp_path / name)
        matrix = fitted.estimator_input(test_texts)
        if hasattr(fitted.estimator, "predict_proba"):
            expected = fitted.estimator.predict_proba(matrix)[:, 1]
        else:
            expected = 1.0 / (1.0 + np.exp(-fitted.estimator.decision_function(matrix)))
        answers = exported.predict_proba(test_texts)
        assert np.allclose([answer["positive"] for answer in answers], expected, rtol=1e-9, atol=1e-12), name
        predicted = exported.predict(test_texts)
        assert [int(label == "positive") for label in predicted] == fitted.estimator.predict(matrix).tolist(), name
        accuracy = np.mean([p == a for p, a in zip(predicted, test_labels, strict=True)])
        assert accuracy > SEED_ACCURACY, f"{name}: {accuracy:.4f} on the test split, not above the seed's"

        table = exported.table
        if not table.vectorized:  # stemming or character n-grams: served by the regex path itself
            continue
        every = texts + test_texts
        for batch in (every, [text.upper() for text in test_texts]):
            hashed, regex = table.hashed_ids(batch), table.regex_ids(batch)
            assert np.array_equal(hashed[0], regex[0]) and np.array_equal(hashed[1], regex[1]), name
        if table.compiled is None:
            continue
        # The compiled scorer, on every review: the reference's cells, and its scores within 1e-9.
        assert cell_counts(table.cells(every)) == cell_counts(table.reference_cells(every)), name
        reference = exported.reference_scores(every)
        scores = exported.scores(every)
        assert np.abs(scores - reference).max() <= 1e-9, name
        assert np.array_equal(scores > 0, reference > 0), name
        # Its explanations, on every review: the regex path's top n-grams, adding up to the score within 1e-9.
        explained, expected_top = exported.explain(every, 10), exported.reference_explain(every, 10)
        assert [e.contributions for e in explained] == [e.contributions for e in expected_top], name
        parts = [e.intercept + sum(part for _, part in e.contributions) + e.other for e in explained]
        assert np.abs(np.array(parts) - scores).max() <= 1e-9, name
