"""Typed params: the repository's files load, and every mistake a YAML file can hold is one line naming its key."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from pipeline.batch.score import ScoreParams
from pipeline.cli import main
from pipeline.deploy.image import ImageParams
from pipeline.deploy.settings import DeployParams
from pipeline.drift import DriftParams
from pipeline.model import MODELS, create
from pipeline.params import load_section, read_params
from pipeline.stages.baseline import BaselineParams
from pipeline.stages.fetch import FetchParams
from pipeline.stages.package import PackageParams
from pipeline.stages.prepare import PrepareParams
from pipeline.stages.select import SelectParams
from pipeline.stages.train import TrainParams, candidate
from tests.conftest import REPO

STAGE_SECTIONS: dict[str, type[BaseModel]] = {
    "fetch": FetchParams,
    "prepare": PrepareParams,
    "train": TrainParams,
    "select": SelectParams,
    "package": PackageParams,
    "baseline": BaselineParams,
    "score": ScoreParams,
    "drift": DriftParams,
}
DEPLOY_SECTIONS: dict[str, type[BaseModel]] = {"image": ImageParams, "deploy": DeployParams}
GOOD = {
    "prepare": {"test_fraction": 0.2, "seed": 0},
    "train": {"cv_folds": 5, "cv_seed": 42, "candidates": {"nb": {"kind": "nltk_naive_bayes"}}},
    "select": {"metric": "accuracy", "min_value": 0.6},
}


def test_the_repositorys_files_load_into_every_model() -> None:
    """Each file holds exactly its own sections: a stage's params never sit beside settings DVC must not track."""
    for path, sections in ((REPO / "params.yaml", STAGE_SECTIONS), (REPO / "deploy.yaml", DEPLOY_SECTIONS)):
        assert set(read_params(path)) == set(sections), path.name
        for name, model in sections.items():
            assert isinstance(load_section(model, name, path), model)
    baseline = load_section(BaselineParams, "baseline", REPO / "params.yaml")
    assert baseline.vader.positive_threshold == 0.0 and baseline.comprehend.max_documents == 0


def test_every_candidate_builds(nltk_home: Path) -> None:  # noqa: ARG001 (the stopword list it points at)
    train = load_section(TrainParams, "train", REPO / "params.yaml")
    assert len(train.candidates) > 1
    for name in train.candidates:
        kind, options = candidate(train, name)
        assert create(kind, options).kind == kind


def _defaults(kind: str) -> dict[str, Any]:
    """The defaults of `kind`'s hyper-parameters dataclass (none for NLTK's Naive Bayes, which has features only)."""
    params = getattr(MODELS[kind], "Params", None)
    return {field.name: field.default for field in dataclasses.fields(params)} if params else {}


def _feature_defaults(kind: str) -> dict[str, Any]:
    features = create(kind, {}).features
    return {field.name: field.default for field in dataclasses.fields(features)}


def _same(written: Any, default: Any) -> bool:
    """YAML has lists where the code has tuples; neither spelling should repeat a default."""
    as_tuple = tuple(written) if isinstance(written, list) else written
    return as_tuple == default


def test_candidates_state_only_what_differs_from_the_defaults() -> None:
    """So a reader sees at once what makes each candidate itself; docs/experiments.md has why."""
    train = load_section(TrainParams, "train", REPO / "params.yaml")
    repeated = []
    for name, spec in train.candidates.items():
        options = dict(spec.model_extra or {})
        features = options.pop("features", {})
        defaults = _feature_defaults(spec.kind)
        repeated += [f"{name}.features.{key}" for key, value in features.items() if _same(value, defaults[key])]
        for key, value in options.items():
            if key == "members":
                for number, member in enumerate(value):
                    member_defaults = _defaults(member["kind"])
                    repeated += [
                        f"{name}.members[{number}].{option}"
                        for option, setting in member.items()
                        if option != "kind" and _same(setting, member_defaults[option])
                    ]
                if [member["kind"] for member in value] == [m["kind"] for m in _defaults(spec.kind)["members"]]:
                    repeated.append(f"{name}.members")
            elif _same(value, _defaults(spec.kind)[key]):
                repeated.append(f"{name}.{key}")
    assert not repeated, f"params.yaml repeats defaults: {repeated}"


def run_bad(tmp_path: Path, caplog: pytest.LogCaptureFixture, section: str, changes: dict[str, Any]) -> str:
    """`sentiment prepare|train` on a params file with one section changed; its one error line, path removed."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({**GOOD, section: {**GOOD[section], **changes}}))
    command = {
        "prepare": ["prepare", "raw", "out", "data.json", "lengths.png"],
        "train": ["train", "nb", "prepared", "model", "cv.json"],
        "select": "select candidates metrics plots raw prepared champion selected.json card.md card.json".split(),
    }[section]
    caplog.set_level(logging.INFO, logger="pipeline")
    assert main(["--params", str(path), *command]) == 1
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.exc_info is None and "\n" not in error.getMessage()
    return error.getMessage().replace(f"{path}: ", "")


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("prepare", {"test_fraction": "0.2"}, "prepare.test_fraction: got '0.2' (str); needs a number between 0 and 1"),
        ("prepare", {"test_fraction": 1.5}, "prepare.test_fraction: got 1.5 (float); needs a number between 0 and 1"),
        ("prepare", {"test_fraction": 0}, "prepare.test_fraction: got 0 (int); needs a number between 0 and 1"),
        ("prepare", {"seed": None}, "prepare.seed: got null; needs a whole number"),
        ("prepare", {"seed": True}, "prepare.seed: got True (bool); needs a whole number"),
        (
            "prepare",
            {"sed": 1},
            "prepare.sed: got an unknown key; needs one of the known keys: "
            "test_fraction, seed, min_documents_per_label",
        ),
        ("train", {"cv_folds": 5.5}, "train.cv_folds: got 5.5 (float); needs a whole number of at least 2"),
        ("train", {"cv_folds": 1}, "train.cv_folds: got 1 (int); needs a whole number of at least 2"),
        ("train", {"calibrate_scores": "false"}, "train.calibrate_scores: got 'false' (str); needs true or false"),
        (
            "train",
            {"corpus_cv_folds": 1},
            "train.corpus_cv_folds: got 1 (int); needs 0 to skip the corpus CV, or a whole number of at least 2",
        ),
        (
            "train",
            {"candidates": {"nb": {"kind": "svm"}}},
            "train.candidates.nb.kind: got 'svm' (str); needs a model kind: one of bernoulli_nb, linear_ensemble, "
            "logistic_regression, multinomial_nb, nb_logistic_regression, nbsvm, nltk_naive_bayes",
        ),
        ("train", {"candidates": {"nb": {"alpha": 1}}}, "train.candidates.nb.kind: got nothing; needs a string"),
        ("select", {"min_value": 1.2}, "select.min_value: got 1.2 (float); needs a number from 0 to 1"),
        (
            "select",
            {"metric": "test_accuracy"},
            "select.metric: got 'test_accuracy' (str); needs a CV score of the train split: one of accuracy, "
            "f1_macro, roc_auc",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_its_key(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    section: str,
    changes: dict[str, Any],
    message: str,
) -> None:
    assert run_bad(tmp_path, caplog, section, changes) == f"sentiment {section}: {message}"
    assert "Traceback" not in capsys.readouterr().err


def test_all_bad_values_are_named_on_the_same_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert run_bad(tmp_path, caplog, "prepare", {"test_fraction": "0.2", "seed": 1.0}) == (
        "sentiment prepare: prepare.test_fraction: got '0.2' (str); needs a number between 0 and 1; "
        "prepare.seed: got 1.0 (float); needs a whole number"
    )


def test_a_nested_key_and_a_model_wide_rule_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"deploy": {"cpu_units": 512, "memory_mb": 512, "regoin": "eu-west-1"}}))
    caplog.set_level(logging.INFO, logger="pipeline")
    assert main(["--deploy-settings", str(path), "deploy", "storage", "--dry-run"]) == 1
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage().startswith(f"sentiment deploy: {path}: deploy.regoin: got an unknown key; needs one of")
    path.write_text(yaml.safe_dump({"deploy": {"cpu_units": 512, "memory_mb": 512}}))
    caplog.clear()
    assert main(["--deploy-settings", str(path), "deploy", "storage", "--dry-run"]) == 1
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage().startswith(f"sentiment deploy: {path}: deploy: Fargate has no task size of 512 CPU")


def test_deploy_commands_read_deploy_settings_not_params(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pipeline")
    missing = tmp_path / "nowhere.yaml"
    assert main(["--params", str(REPO / "params.yaml"), "--deploy-settings", str(missing), "image", "build"]) == 1
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage() == f"sentiment image: {missing} not found: run from the repository root"


def test_built_in_code_a_wrong_type_is_refused_not_coerced() -> None:
    with pytest.raises(ValidationError):
        PrepareParams(test_fraction="0.2")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TrainParams(calibrate_scores="false")  # type: ignore[arg-type]
    assert PrepareParams(test_fraction=1 / 4, seed=3).seed == 3
    assert SelectParams(min_value=1).min_value == 1.0  # a YAML int where a float belongs means the same
    with pytest.raises(ValidationError, match="frozen"):
        PrepareParams().seed = 1  # type: ignore[misc]
