"""`dvc repro` on the tiny corpus in a scratch copy of the repository, tracked in sqlite and in a real mlflow server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml

from pipeline.behaviour import TESTS
from tests.conftest import mlflow_server
from tests.support.processes import copy_project, free_port

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# One candidate of each family in params.yaml: the seed, its stemmed variant, and an n-gram linear model.
# All of them would only repeat the same stages (each `dvc repro` here is ~15 s per candidate).
CANDIDATES = ("seed_nb", "stem_binary_nb", "nbsvm_bigram")


def run(command: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def project_env(root: Path, nltk_data: Path) -> dict[str, str]:
    """This environment minus MLflow's and DVC's settings, running the scratch copy's code on the tiny corpus."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        NLTK_DATA=str(nltk_data),
        MLFLOW_LOGGING_LEVEL="WARNING",
        BENTOML_HOME=str(root / ".bentoml"),
        # `sentiment` is an editable install of this checkout; make it import the copy's code.
        PYTHONPATH=str(root),
    )
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_nltk_data: Path) -> tuple[Path, dict[str, str]]:
    """A fresh git + DVC repository holding the project, with params shrunk for the tiny corpus."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["cv_folds"] = 2
    params["train"]["corpus_cv_folds"] = 2
    params["train"]["candidates"] = {name: params["train"]["candidates"][name] for name in CANDIDATES}
    params["select"]["min_value"] = 0.5
    # The tiny corpus teaches 16 sentiment words and no English: no model of it could meet a behaviour floor.
    params["select"]["behaviour_max_failure_rate"] = dict.fromkeys(TESTS, 1.0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = project_env(root, tiny_nltk_data)
    run(["git", "init", "-q"], root, env)
    run([BIN / "dvc", "init", "-q"], root, env)
    return root, env


@pytest.fixture(scope="module")
def reproduced(project: tuple[Path, dict[str, str]]) -> tuple[Path, dict[str, str], str]:
    root, env = project
    done = run([BIN / "dvc", "repro"], root, env)
    return root, env, done.stdout + done.stderr


def test_repro_makes_every_output(reproduced) -> None:
    root, _, log = reproduced
    for name in CANDIDATES:
        assert (root / "models" / "candidates" / name / "model.json").exists()
        assert (root / "plots" / name / "confusion.png").exists()
        assert (root / "plots" / name / "reliability.png").exists() and (
            root / "plots" / name / "calibration.csv"
        ).exists()
    selected = json.loads((root / "models" / "selected.json").read_text())
    assert selected["champion"] in CANDIDATES and (root / "models" / "champion" / "model.json").exists()
    assert selected["promotion"]["promoted"] and selected["promotion"]["reason"] == "no version had the champion alias"
    card = json.loads((root / "models" / "card.json").read_text())
    assert card["candidate"] == selected["champion"] and card["version"] == selected["mlflow"]["version"]
    assert (root / "models" / "model_card.md").read_text().startswith("# Model card: movie-reviews-sentiment version")
    serving = json.loads((root / "models" / "bento.json").read_text())
    assert (
        serving["model"].startswith("movie-reviews-sentiment:") and (root / "bento" / "sentiment.bento").stat().st_size
    )
    reference = json.loads((root / "models" / "reference.json").read_text())  # for `sentiment drift`
    assert reference["source"] == "test split" and {"label", "score", "characters"} <= set(reference["features"])
    assert "documents featurized" in log and "fold 2/2" in log  # progress lines reach the user


def test_default_tracking_store_is_sqlite_in_the_repository(reproduced) -> None:
    root, _, _ = reproduced
    assert (root / "mlflow.db").exists()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    version = client.get_model_version_by_alias("movie-reviews-sentiment", "champion")
    assert version.run_id == json.loads((root / "models" / "selected.json").read_text())["mlflow"]["run_id"]


def test_metrics_show_lists_each_candidate(reproduced) -> None:
    root, env, _ = reproduced
    shown = json.loads(run([BIN / "dvc", "metrics", "show", "--json"], root, env).stdout)
    files = shown[""]["data"]
    for name in CANDIDATES:
        assert "accuracy" in files[f"metrics/candidates/{name}/test.json"]["data"]
        assert "accuracy" in files[f"metrics/candidates/{name}/cv.json"]["data"]
        assert "accuracy" in files[f"metrics/candidates/{name}/cv.json"]["data"]["corpus_cv"]
        for split in ("cv", "test"):
            assert {"brier", "log_loss", "ece"} <= set(
                files[f"metrics/candidates/{name}/{split}.json"]["data"]["calibration"]
            )
        behaviour = files[f"metrics/candidates/{name}/behaviour.json"]["data"]
        assert set(behaviour) == set(TESTS) and all("failure_rate" in behaviour[test] for test in TESTS)
    assert "accuracy" in files["metrics/baselines/vader.json"]["data"]


def test_second_repro_is_a_no_op(reproduced) -> None:
    root, env, _ = reproduced
    done = run([BIN / "dvc", "repro"], root, env)
    assert "Data and pipelines are up to date" in done.stdout
    assert "Running stage" not in done.stdout


def test_a_killed_stages_fragments_are_never_tracked(reproduced) -> None:
    # What `kill -9` of train@seed_nb mid-write leaves (pipeline/files.py staged()), inside select's dependencies.
    root, env, _ = reproduced
    lock = (root / "dvc.lock").read_text()
    fragments = [root / "models" / "candidates" / ".seed_nb.partial", root / "metrics" / "candidates" / "seed_nb"]
    (fragments[0] / "weights.npz").parent.mkdir()
    (fragments[0] / "weights.npz").write_bytes(b"\x00" * 64)
    (fragments[1] / ".cv.json.partial").write_text('{"accuracy": 0.')
    try:
        assert json.loads(run([BIN / "dvc", "status", "--json"], root, env).stdout) == {}
        assert "Data and pipelines are up to date" in run([BIN / "dvc", "repro"], root, env).stdout
        assert (root / "dvc.lock").read_text() == lock
    finally:
        shutil.rmtree(fragments[0])
        (fragments[1] / ".cv.json.partial").unlink()


def test_select_with_the_tracking_server_down_fails_fast_and_keeps_its_outputs(reproduced) -> None:
    root, env, _ = reproduced
    kept = {
        path: path.read_bytes()
        for path in (root / "models" / "selected.json", root / "models" / "champion" / "model.json")
    }
    down = {**env, "MLFLOW_TRACKING_URI": f"http://alice:s3cret@127.0.0.1:{free_port()}"}
    started = time.monotonic()
    done = run([BIN / "dvc", "repro", "--force", "--single-item", "select"], root, down, check=False)
    assert done.returncode != 0 and time.monotonic() - started < 30
    assert "alice:***@127.0.0.1" in done.stderr and "s3cret" not in done.stdout + done.stderr
    assert {path: path.read_bytes() for path in kept} == kept  # persist: DVC did not delete them first


def test_experiment_with_a_changed_prepare_param(reproduced) -> None:
    root, env, _ = reproduced
    run(["git", "add", "-A"], root, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], root, env)
    run([BIN / "dvc", "exp", "run", "-S", "prepare.seed=1", "--name", "seed-1"], root, env)
    shown = json.loads(run([BIN / "dvc", "exp", "show", "--json"], root, env).stdout)
    experiments = [e for row in shown for e in (row.get("experiments") or [])]
    names = [run_["name"] for e in experiments for run_ in e["revs"]]
    assert "seed-1" in names
    metrics = next(r for e in experiments for r in e["revs"] if r["name"] == "seed-1")["data"]["metrics"]
    assert "accuracy" in metrics["metrics/candidates/seed_nb/test.json"]["data"]


def test_unknown_candidate_kind_fails_in_one_line_and_caches_nothing(project, tmp_path: Path) -> None:
    root, env = project
    bad = copy_project(tmp_path)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["candidates"]["seed_nb"]["kind"] = "svm"
    (bad / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], bad, env)
    run([BIN / "dvc", "init", "-q"], bad, env)
    done = run([BIN / "dvc", "repro", "train@seed_nb"], bad, env, check=False)
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if "pipeline: sentiment train" in line]
    assert len(ours) == 1 and "train.candidates.seed_nb.kind: got 'svm' (str); needs a model kind: one of " in ours[0]
    assert "Traceback" not in done.stderr
    assert not (bad / "models" / "candidates" / "seed_nb").exists()
    lock = bad / "dvc.lock"
    assert not lock.exists() or "train@seed_nb" not in lock.read_text()


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """A real `mlflow server`, as a team would share one."""
    with mlflow_server(tmp_path, str(tmp_path / "artifacts")) as url:
        yield url


def test_same_pipeline_logs_to_a_tracking_server(reproduced, tracking_server: str) -> None:
    root, env, _ = reproduced
    run([BIN / "dvc", "repro", "--force", "select"], root, {**env, "MLFLOW_TRACKING_URI": tracking_server})
    client = mlflow.MlflowClient(tracking_uri=tracking_server)
    experiment = client.get_experiment_by_name("movie-reviews-sentiment")
    runs = client.search_runs([experiment.experiment_id])
    roles = {r.info.run_name: r.data.tags["role"] for r in runs}
    assert roles == {"pipeline": "pipeline", "promotion": "promotion"} | dict.fromkeys(CANDIDATES, "candidate")
    assert all("test_accuracy" in r.data.metrics for r in runs if r.info.run_name in CANDIDATES)
    promotion = next(r for r in runs if r.info.run_name == "promotion")
    assert promotion.data.tags["decision"] == "promoted" and "challenger_score" in promotion.data.metrics
    version = client.get_model_version_by_alias("movie-reviews-sentiment", "champion")
    mlflow.set_tracking_uri(tracking_server)
    try:
        model = mlflow.pyfunc.load_model("models:/movie-reviews-sentiment@champion")
    finally:
        mlflow.set_tracking_uri(None)
    assert version.version == "1"
    assert model.predict(["Superb, moving and wonderful."])[0].label == "positive"
