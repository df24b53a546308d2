"""A user's own files through `dvc repro`, a temporary and two queued experiments, in a scratch git + DVC project.

The IMDB-shaped CSV (`review`, `sentiment`) is the default data; a Parquet file of star ratings with a movie column
is a queued experiment's. Every MLflow run must land in the project's own store, named after its data and tagged with
its DVC experiment.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
import yaml

from pipeline.behaviour import TESTS
from tests.conftest import NEGATIVE, POSITIVE, make_review
from tests.integration.test_repro import BIN, project_env, run
from tests.support.processes import copy_project

pytestmark = pytest.mark.integration

REVIEWS_PER_LABEL = 12
QUEUE_TIMEOUT_S = 900


def write_imdb_csv(path: Path, seed: int = 3) -> None:
    rng = random.Random(seed)
    rows = [(make_review(rng, words).replace(" \n", " "), label) for _ in range(REVIEWS_PER_LABEL)
            for words, label in ((POSITIVE, "positive"), (NEGATIVE, "negative"))]  # fmt: skip
    rows.append(("", "positive"))  # an empty review: prepare drops and counts it
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        writer.writerows(rows)


def write_ratings_parquet(path: Path) -> None:
    """Numeric stars (1-10) and a movie id: 8 movies, 4 reviews each, both labels within a movie."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(5)
    text, stars, movie = [], [], []
    for number in range(32):
        positive = number % 2 == 0
        text.append(make_review(rng, POSITIVE if positive else NEGATIVE))
        stars.append(rng.choice([8, 9, 10]) if positive else rng.choice([1, 2, 3]))
        movie.append(f"tt{number // 4:04d}")
    text.append("an average film")
    stars.append(5)  # between the thresholds: dropped as neither
    movie.append("tt0000")
    pq.write_table(pa.table({"text": text, "stars": stars, "movie": movie}), path)


@pytest.fixture(scope="module")
def own_project(tmp_path_factory: pytest.TempPathFactory, tiny_nltk_data: Path) -> tuple[Path, dict[str, str]]:
    """The project with the IMDB-shaped CSV `dvc add`ed under data/sources, one candidate, committed to git."""
    root = copy_project(tmp_path_factory.mktemp("own"))
    env = project_env(root, tiny_nltk_data)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["fetch"].update(source="data/sources/imdb.csv", text_column="review", label_column="sentiment")
    params["train"].update(cv_folds=2, corpus_cv_folds=0)
    params["train"]["candidates"] = {"seed_nb": params["train"]["candidates"]["seed_nb"]}
    params["select"]["min_value"] = 0.5
    params["select"]["behaviour_max_failure_rate"] = dict.fromkeys(TESTS, 1.0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data" / "sources").mkdir(parents=True, exist_ok=True)
    write_imdb_csv(root / "data" / "sources" / "imdb.csv")
    write_ratings_parquet(root / "data" / "sources" / "ratings.parquet")
    run(["git", "init", "-q"], root, env)
    run([BIN / "dvc", "init", "-q"], root, env)
    run([BIN / "dvc", "add", "-q", "data/sources/imdb.csv", "data/sources/ratings.parquet"], root, env)
    run([BIN / "dvc", "repro"], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], root, env)
    return root, env


def client(root: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def test_a_csv_with_its_own_columns_runs_end_to_end(own_project) -> None:
    root, _ = own_project
    manifest = json.loads((root / "data" / "raw" / "manifest.json").read_text())
    assert manifest["source"] == "data/sources/imdb.csv" and manifest["rows_read"] == 2 * REVIEWS_PER_LABEL + 1
    assert manifest["files"][0]["sha256"] and manifest["files"][0]["bytes"] > 0
    report = json.loads((root / "metrics" / "data.json").read_text())
    assert report["dropped"]["empty"] == 1 and report["documents"] == 2 * REVIEWS_PER_LABEL
    assert (root / "plots" / "data" / "lengths.png").exists()
    # Names follow the data.
    assert json.loads((root / "models" / "bento.json").read_text())["model"].startswith("imdb-sentiment:")
    version = client(root).get_model_version_by_alias("imdb-sentiment", "champion")
    assert version.tags["dvc.experiment"] == "" and version.tags["git.commit"] == ""  # plain repro, before any commit
    summary = json.loads((root / "metrics" / "summary.json").read_text())
    assert summary["champion"] == "seed_nb" and summary["reference_test_accuracy"] == summary["test_accuracy"]


def test_editing_the_file_reruns_fetch(own_project) -> None:
    root, env = own_project
    source = root / "data" / "sources" / "imdb.csv"
    original = source.read_bytes()
    try:
        source.write_bytes(original.replace(b"positive", b"Positive", 1))
        status = json.loads(run([BIN / "dvc", "status", "--json"], root, env).stdout)
        assert "fetch" in status
        done = run([BIN / "dvc", "repro", "fetch"], root, env)
        assert "Running stage 'fetch'" in done.stdout
    finally:
        source.write_bytes(original)
        run([BIN / "dvc", "repro", "fetch"], root, env)
    assert "fetch" not in json.loads(run([BIN / "dvc", "status", "--json"], root, env).stdout)


def experiment_runs(root: Path, name: str) -> dict[str, list]:
    """The main store's runs tagged with DVC experiment `name`, by MLflow experiment."""
    store = client(root)
    found: dict[str, list] = {}
    for experiment in store.search_experiments():
        runs = store.search_runs([experiment.experiment_id], filter_string=f"tags.`dvc.experiment` = '{name}'")
        if runs:
            found[experiment.name] = runs
    return found


def test_temporary_and_queued_experiments_reach_package_and_the_projects_store(own_project) -> None:
    root, env = own_project
    run([BIN / "dvc", "exp", "run", "--temp", "-S", "prepare.seed=1", "--name", "temp-seed-1"], root, env)
    ratings = [
        "-S", "fetch.source=data/sources/ratings.parquet", "-S", "fetch.text_column=text",
        "-S", "fetch.label_column=stars", "-S", "fetch.ratings={negative_at_most: 4, positive_at_least: 7}",
        "-S", "fetch.group_column=movie",
    ]  # fmt: skip
    run([BIN / "dvc", "exp", "run", "--queue", *ratings, "--name", "queued-ratings"], root, env)
    run([BIN / "dvc", "exp", "run", "--queue", "-S", "select.metric=f1_macro", "--name", "queued-f1"], root, env)
    # To a file, not a pipe: the queue's workers inherit `dvc queue start`'s output, and reading a pipe to its end
    # would wait for them all to finish (a 600 s timeout once, under CI's load).
    with (root.parent / "queue-start.log").open("w") as started:
        subprocess.run([BIN / "dvc", "queue", "start", "-j", "2"], cwd=root, env=env, stdout=started,
                       stderr=subprocess.STDOUT, timeout=120, check=True)  # fmt: skip
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    names = {"temp-seed-1": "imdb-sentiment", "queued-ratings": "ratings-sentiment", "queued-f1": "imdb-sentiment"}
    while time.monotonic() < deadline:
        # Done when each task's own line says so (a moment with nothing Running can come between two tasks) and its
        # runs are in the store.
        status = run([BIN / "dvc", "queue", "status"], root, env).stdout
        lines = [line for line in status.splitlines() if "queued-" in line]
        finished = len(lines) == 2 and all("Success" in line or "Failed" in line for line in lines)
        if "Failed" in status or (finished and all(experiment_runs(root, name) for name in names)):
            break
        time.sleep(5)
    shown = json.loads(run([BIN / "dvc", "exp", "show", "--json"], root, env).stdout)
    revs = {r["name"]: r for row in shown for e in (row.get("experiments") or []) for r in e["revs"]}
    for name, expected in names.items():
        # Every stage ran (one failing fails the experiment); the runs are in the project's store, named by the data.
        assert revs[name]["data"]["metrics"]["metrics/summary.json"]["data"]["champion"] == "seed_nb"
        runs = experiment_runs(root, name)
        store = client(root)
        seen = {
            e.name: sorted({r.data.tags.get("dvc.experiment", "?") for r in store.search_runs([e.experiment_id])})
            for e in store.search_experiments()
        }
        assert list(runs) == [expected], (name, seen, run([BIN / "dvc", "queue", "logs", name], root, env, check=False))
        # baseline re-ran only where the data changed (not for another selection metric); every select ends with the
        # promotion gate's run.
        roles = {"pipeline", "candidate", "promotion"} | ({"baseline"} if name != "queued-f1" else set())
        assert {r.data.tags["role"] for r in runs[expected]} == roles
        assert all(len(r.data.tags["git.commit"]) == 40 for r in runs[expected])
    ratings_data = revs["queued-ratings"]["data"]["metrics"]["metrics/data.json"]["data"]
    assert ratings_data["documents"] == 32 and ratings_data["test"]["negative"] + ratings_data["test"]["positive"] == 8
    # Two datasets, two registered models: the ratings champion took nothing from the IMDB one.
    store = client(root)
    assert store.get_model_version_by_alias("ratings-sentiment", "champion").tags["dvc.experiment"] == "queued-ratings"
    # The IMDB experiments were registered but not promoted: another split (prepare.seed) or another metric is not
    # the same evaluation as the workspace's champion, so the promotion gate keeps it (docs/models.md#promotion).
    imdb = {v.tags.get("dvc.experiment") for v in store.search_model_versions("name = 'imdb-sentiment'")}
    assert {"temp-seed-1", "queued-f1"} <= imdb
    assert store.get_model_version_by_alias("imdb-sentiment", "champion").tags["dvc.experiment"] == ""
