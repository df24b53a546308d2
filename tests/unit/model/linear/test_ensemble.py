"""LinearEnsemble: one weight vector that scores as its standardized members summed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import create
from pipeline.model.linear.ensemble import DEFAULT_MEMBERS, MEMBER_KINDS
from tests.unit.model.conftest import LINEAR_KINDS

ALL_MEMBERS = [{"kind": kind} for kind in LINEAR_KINDS if kind != "linear_ensemble"]


def test_member_kinds_are_every_linear_kind_but_the_ensemble() -> None:
    assert set(MEMBER_KINDS) == set(LINEAR_KINDS) - {"linear_ensemble"}


def test_ensemble_is_the_sum_of_its_standardized_members(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    ensemble = create("linear_ensemble", {"members": ALL_MEMBERS}).fit(texts, labels)
    scores = np.zeros(len(texts))
    for spec in ALL_MEMBERS:
        member = create(spec["kind"], {}).fit(texts, labels).scores(texts)
        scores += member / member.std()
    assert np.allclose(ensemble.scores(texts), scores, rtol=1e-9, atol=1e-9)
    assert ensemble.params.members[0] == {"kind": "multinomial_nb", "alpha": 1.0}
    # Its estimator, the oracle tests compare with, is the members' own scikit-learn scores summed the same way.
    assert np.allclose(ensemble.estimator.decision_function(ensemble.estimator_input(texts)), scores, rtol=1e-9)


def test_members_are_saved_with_every_option(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    create("linear_ensemble", {}).fit(texts, labels).save(tmp_path)
    options = json.loads((tmp_path / "model.json").read_text())["options"]
    assert [member["kind"] for member in options["members"]] == [spec["kind"] for spec in DEFAULT_MEMBERS]
    assert options["members"][0] == {
        "kind": "nbsvm", "alpha": 1.0, "inverse_regularization": 1.0, "interpolation": 0.25, "max_iterations": 1000,
    }  # fmt: skip
    assert set(options) == {"features", "members"}


def test_ensemble_members_are_checked() -> None:
    with pytest.raises(PipelineError, match="member kind 'nltk_naive_bayes' is not an n-gram linear model"):
        create("linear_ensemble", {"members": [{"kind": "nltk_naive_bayes"}]})
    with pytest.raises(PipelineError, match="share the ensemble's features"):
        create("linear_ensemble", {"members": [{"kind": "nbsvm", "features": {}}]})
    with pytest.raises(PipelineError, match="cannot be ensembles"):
        create("linear_ensemble", {"members": [{"kind": "linear_ensemble"}]})
    with pytest.raises(PipelineError, match="at least one member"):
        create("linear_ensemble", {"members": []})
    with pytest.raises(PipelineError, match="nbsvm reads presence only"):
        create("linear_ensemble", {"features": {"weighting": "tfidf"}})
    with pytest.raises(PipelineError, match="unexpected keyword argument 'beta'"):
        create("linear_ensemble", {"members": [{"kind": "nbsvm", "beta": 0.25}]})
