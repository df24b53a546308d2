"""select: the CV-score rule that picks the champion, and the stage on the tiny corpus with a real MLflow sqlite
store per test."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import mlflow
import pytest

from pipeline.behaviour import TESTS
from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.params import parse
from pipeline.stages.select import BehaviourFloors, SelectParams, choose, select
from tests.conftest import TINY_TRAIN
from tests.support.processes import free_port


def test_choose_uses_cv_scores_and_breaks_ties_by_params_order() -> None:
    cv = {"a": {"accuracy": 0.8}, "b": {"accuracy": 0.9}, "c": {"accuracy": 0.9}}
    assert choose(cv, "accuracy", 0.5) == "b"
    with pytest.raises(PipelineError, match="no candidate reaches select.min_value 0.95"):
        choose(cv, "accuracy", 0.95)
    with pytest.raises(PipelineError, match="'test_accuracy' is not a CV score"):
        choose(cv, "test_accuracy", 0.5)


def test_select_never_reads_the_corpus_cv() -> None:
    cv = {
        "first": {"accuracy": 0.80, "f1_macro": 0.8, "roc_auc": 0.9, "corpus_cv": {"accuracy": 0.99}},
        "second": {"accuracy": 0.85, "f1_macro": 0.8, "roc_auc": 0.9, "corpus_cv": {"accuracy": 0.70}},
    }
    assert choose(cv, "accuracy", 0.5) == "second"
    with pytest.raises(PipelineError, match="not a CV score"):
        choose(cv, "corpus_cv", 0.5)


def test_select_registers_the_champion_and_logs_every_candidate(evaluated: Path, prepared: Path) -> None:
    params = SelectParams(metric="accuracy", min_value=0.5, experiment="tiny", registered_model="tiny-sentiment")
    out = evaluated / "models" / "champion"
    selected = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared, out,
        evaluated / "selected.json", run_params={"prepare_seed": 0},
    )  # fmt: skip
    assert json.loads((evaluated / "selected.json").read_text()) == selected
    assert (out / "model.json").exists() and selected["champion"] in TINY_TRAIN.candidates

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_id == selected["mlflow"]["parent_run_id"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == sorted(TINY_TRAIN.candidates)
    for child in children:
        assert {"cv_accuracy", "test_accuracy", "test_roc_auc", "test_positive_f1"} <= set(child.data.metrics)
        assert {"cv_calibration_ece", "test_calibration_brier", "test_calibration_log_loss"} <= set(child.data.metrics)
        assert {f"behaviour_{test}_failure_rate" for test in TESTS} <= set(child.data.metrics)
        assert child.data.tags["behaviour_floors"] == "met"  # SelectParams' default floors enforce nothing
        assert child.data.params["kind"] == TINY_TRAIN.candidates[child.info.run_name].kind
        assert {i.dataset.name for i in child.inputs.dataset_inputs} == {"corpus:train", "corpus:test"}
        plots = {a.path for a in client.list_artifacts(child.info.run_id, "plots")}
        assert {"plots/confusion.png", "plots/reliability.png", "plots/calibration.csv"} <= plots
        logged = mlflow.artifacts.load_dict(f"runs:/{child.info.run_id}/behaviour.json")
        assert logged == read_json(evaluated / "metrics" / child.info.run_name / "behaviour.json")
    assert parent.data.params["prepare_seed"] == "0"
    assert "cv_scores.png" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert selected["behaviour"] == {
        test: read_json(evaluated / "metrics" / selected["champion"] / "behaviour.json")[test]["failure_rate"]
        for test in TESTS
    }

    version = client.get_model_version_by_alias("tiny-sentiment", "champion")
    assert version.run_id == selected["mlflow"]["run_id"]
    pyfunc = mlflow.pyfunc.load_model("models:/tiny-sentiment@champion")
    predictions = pyfunc.predict(["A superb, moving, wonderful film!", "Dull, boring, an awful mess."])
    assert [p.label for p in predictions] == ["positive", "negative"]
    assert predictions[0].positive > 0.5 > predictions[1].positive


def test_select_names_missing_candidate_outputs(evaluated: Path, prepared: Path) -> None:
    (evaluated / "metrics" / "seed_nb" / "cv.json").unlink()
    with pytest.raises(PipelineError, match="CV scores of seed_nb is missing"):
        select(
            SelectParams(), TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots",
            prepared, evaluated / "champion", evaluated / "selected.json",
        )  # fmt: skip
    assert not (evaluated / "champion").exists() and not (evaluated / "selected.json").exists()


def test_select_names_a_stale_behaviour_file(evaluated: Path, prepared: Path) -> None:
    path = evaluated / "metrics" / "seed_nb" / "behaviour.json"
    write_json(path, {test: row for test, row in read_json(path).items() if test != "contrast"})
    with pytest.raises(PipelineError, match="behaviour of seed_nb has no contrast: run `dvc repro` to remake it"):
        select(
            SelectParams(), TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots",
            prepared, evaluated / "champion", evaluated / "selected.json",
        )  # fmt: skip


def test_a_closed_tracking_port_fails_in_seconds_and_keeps_the_last_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's own retries take about four minutes to give up on a closed port; the check before any work does not.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:s3cret@127.0.0.1:{free_port()}")
    champion, selected_file = tmp_path / "champion", tmp_path / "selected.json"
    (champion / "model.json").parent.mkdir()
    (champion / "model.json").write_text("{}")
    selected_file.write_text('{"champion": "last"}')
    started = time.monotonic()
    with pytest.raises(PipelineError) as raised:
        select(
            SelectParams(), TINY_TRAIN.specs(), tmp_path / "models", tmp_path / "metrics", tmp_path / "plots",
            tmp_path / "prepared", champion, selected_file,
        )  # fmt: skip
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert "tracking store at http://alice:***@127.0.0.1:" in message and "Connection refused; 2 tries" in message
    assert "s3cret" not in message and "\n" not in message
    assert selected_file.read_text() == '{"champion": "last"}' and (champion / "model.json").read_text() == "{}"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the check's settings were its own


def test_a_killed_runs_fragments_are_removed_by_the_next_run(evaluated: Path, prepared: Path) -> None:
    # What `kill -9` during the write leaves (pipeline/files.py staged()): git and DVC ignore `.*.partial`.
    out, selected_file = evaluated / "champion", evaluated / "selected.json"
    (evaluated / ".champion.partial").mkdir()
    (evaluated / ".champion.partial" / "weights.npz").write_bytes(b"\x00" * 10)
    (evaluated / ".selected.json.partial").write_text('{"champion": "half')
    params = SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny-sentiment")
    selected = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared, out,
        selected_file,
    )  # fmt: skip
    assert not list(evaluated.glob(".*.partial"))
    assert json.loads(selected_file.read_text()) == selected
    assert sorted(path.name for path in out.iterdir()) == sorted(
        path.name for path in (evaluated / "models" / selected["champion"]).iterdir()
    )


def test_floors_name_every_behavioural_test() -> None:
    assert tuple(BehaviourFloors.model_fields) == TESTS


def test_choose_skips_barred_candidates_and_names_the_floors_when_none_is_left() -> None:
    cv = {"a": {"accuracy": 0.8}, "b": {"accuracy": 0.9}}
    assert choose(cv, "accuracy", 0.5, {"a": [], "b": ["negation 0.5000 > 0.35"]}) == "a"
    with pytest.raises(PipelineError, match="no candidate reaches select.min_value 0.85 .*best: a at 0.8000"):
        choose(cv, "accuracy", 0.85, {"b": ["negation 0.5000 > 0.35"]})
    barred = {"a": ["contrast 0.3000 > 0.25"], "b": ["negation 0.5000 > 0.35"]}
    with pytest.raises(PipelineError) as raised:
        choose(cv, "accuracy", 0.5, barred)
    assert str(raised.value) == (
        "no candidate meets the behaviour floors select.behaviour_max_failure_rate: "
        "a: contrast 0.3000 > 0.25; b: negation 0.5000 > 0.35"
    )


def worsen(evaluated: Path, name: str, test: str) -> None:
    """Make `name`'s behaviour.json say it failed every `test` case, as a worse model would."""
    path = evaluated / "metrics" / name / "behaviour.json"
    behaviour = read_json(path)
    behaviour[test] |= {"failed": behaviour[test]["cases"], "failure_rate": 1.0}
    write_json(path, behaviour)


def test_a_candidate_over_a_behaviour_floor_cannot_be_champion(evaluated: Path, prepared: Path, caplog) -> None:
    floors = {"behaviour_max_failure_rate": {"negation": 0.9}}
    params = SelectParams.model_validate({"min_value": 0.5, "experiment": "tiny", "registered_model": "tiny"} | floors)
    first = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared,
        evaluated / "champion", evaluated / "selected.json",
    )  # fmt: skip
    assert first["barred"] == {}
    best = first["champion"]
    worsen(evaluated, best, "negation")
    caplog.set_level("INFO", logger="pipeline.stages.select")
    second = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared,
        evaluated / "champion", evaluated / "selected.json",
    )  # fmt: skip
    assert second["champion"] != best and second["barred"] == {best: ["negation 1.0000 > 0.9"]}
    assert f"{best} cannot be champion: behavioural failure rate above its floor (negation 1.0000 > 0.9)" in caplog.text
    runs = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name("tiny").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{second['mlflow']['parent_run_id']}'",
    )
    assert {r.info.run_name: r.data.tags["behaviour_floors"] for r in runs}[best] == "negation 1.0000 > 0.9"

    for name in TINY_TRAIN.candidates:
        worsen(evaluated, name, "negation")
    with pytest.raises(PipelineError, match="no candidate meets the behaviour floors .*negation 1.0000 > 0.9"):
        select(
            params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared,
            evaluated / "champion", evaluated / "selected.json",
        )  # fmt: skip
    assert read_json(evaluated / "selected.json")["champion"] == second["champion"]  # the last one stays


def test_a_misspelt_floor_is_named() -> None:
    with pytest.raises(PipelineError, match="select.behaviour_max_failure_rate.negations: got an unknown key"):
        parse(SelectParams, {"behaviour_max_failure_rate": {"negations": 0.1}}, "select")
    with pytest.raises(PipelineError, match="select.behaviour_max_failure_rate.negation: got 1.5"):
        parse(SelectParams, {"behaviour_max_failure_rate": {"negation": 1.5}}, "select")


def test_names_follow_the_data_and_every_run_carries_its_provenance(evaluated: Path, prepared: Path) -> None:
    tags = {"dvc.experiment": "brisk-lark", "git.commit": "c0ffee", "params.digest": "0123456789abcdef"}
    selected = select(
        SelectParams(min_value=0.5), TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics",
        evaluated / "plots", prepared, evaluated / "champion", evaluated / "selected.json",
        source="data/sources/imdb.csv", tags=tags,
    )  # fmt: skip
    assert selected["mlflow"]["experiment"] == selected["mlflow"]["registered_model"] == "imdb-sentiment"
    client = mlflow.MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    assert len(runs) == 1 + len(TINY_TRAIN.candidates)
    assert all(tags.items() <= run.data.tags.items() for run in runs)
    assert tags.items() <= client.get_model_version_by_alias("imdb-sentiment", "champion").tags.items()
