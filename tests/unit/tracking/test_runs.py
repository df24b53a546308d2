from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml

from pipeline.tracking.runs import (
    COMMIT_TAG,
    EXPERIMENT_TAG,
    PARAMS_TAG,
    provenance,
    use_experiment,
    use_project_store,
)


@pytest.fixture
def temporary_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where `dvc exp run --temp` runs the stages: a copy under the project's .dvc/tmp/exps, DVC_ROOT naming the
    project. Returns the project's root."""
    root = tmp_path / "project"
    copy = root / ".dvc" / "tmp" / "exps" / "standalone" / "tmpabc"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("DVC_ROOT", str(root))
    return root


def test_a_temporary_experiment_logs_to_the_projects_store(temporary_copy: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert use_project_store() == f"sqlite:///{temporary_copy / 'mlflow.db'}"
    use_experiment("imdb-sentiment")
    with mlflow.start_run():
        mlflow.log_dict({"a": 1}, "a.json")
    assert (temporary_copy / "mlflow.db").exists()
    # Artifacts beside the store, not in the copy DVC deletes.
    assert list((temporary_copy / "mlruns" / "imdb-sentiment").rglob("a.json"))
    assert not (Path.cwd() / "mlruns").exists() and not (Path.cwd() / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///team/mlflow.db", "sqlite:///{root}/team/mlflow.db"),
        ("sqlite:////srv/mlflow.db?timeout=20", "sqlite:////srv/mlflow.db?timeout=20"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_a_relative_sqlite_uri_is_the_projects(temporary_copy: Path, monkeypatch, given: str, expected: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", given)
    assert use_project_store() == expected.format(root=temporary_copy)


def test_provenance_names_the_experiment_commit_and_params(tmp_path: Path, monkeypatch) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("prepare:\n  seed: 1  # a comment\n  test_fraction: 0.2\n")
    monkeypatch.setenv("DVC_EXP_NAME", "brisk-lark")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0123abcd" * 5)
    tags = provenance(params)
    assert tags[EXPERIMENT_TAG] == "brisk-lark" and tags[COMMIT_TAG] == "0123abcd" * 5
    # Layout and comments do not change the digest; a value does.
    params.write_text(yaml.safe_dump({"prepare": {"test_fraction": 0.2, "seed": 1}}))
    assert provenance(params)[PARAMS_TAG] == tags[PARAMS_TAG]
    params.write_text(yaml.safe_dump({"prepare": {"test_fraction": 0.2, "seed": 2}}))
    assert provenance(params)[PARAMS_TAG] != tags[PARAMS_TAG]


def test_provenance_outside_dvc_and_git(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "params.yaml").write_text("prepare: {seed: 1}\n")
    for name in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    tags = provenance(tmp_path / "params.yaml")
    assert tags[EXPERIMENT_TAG] == "" and tags[COMMIT_TAG] == ""
