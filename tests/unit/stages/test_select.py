"""select: the CV-score rule that picks the champion, and the stage on the tiny corpus with a real MLflow sqlite
store per test."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest

from pipeline.behaviour import TESTS
from pipeline.cli import main
from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.params import parse
from pipeline.stages.select import BehaviourFloors, SelectParams, choose, select
from pipeline.tracking.promotion import rollback
from tests.conftest import NEGATIVE, POSITIVE, TINY_TRAIN
from tests.support.processes import free_port


def run_select(
    params: SelectParams, root: Path, prepared: Path, champion: Path | None = None, **options: Any
) -> dict[str, Any]:
    """select() on the tiny candidates under `root`, its outputs where dvc.yaml puts them (relative to `root`)."""
    return select(
        params, TINY_TRAIN.specs(), root / "models", root / "metrics", root / "plots", prepared.parent / "raw",
        prepared, champion or root / "champion", root / "selected.json", root / "model_card.md", root / "card.json",
        cv_seed=TINY_TRAIN.cv_seed, **options,
    )  # fmt: skip


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
    selected = run_select(params, evaluated, prepared, out, run_params={"prepare_seed": 0})
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
        run_select(SelectParams(), evaluated, prepared)
    assert not (evaluated / "champion").exists() and not (evaluated / "selected.json").exists()


def test_select_names_a_stale_behaviour_file(evaluated: Path, prepared: Path) -> None:
    path = evaluated / "metrics" / "seed_nb" / "behaviour.json"
    write_json(path, {test: row for test, row in read_json(path).items() if test != "contrast"})
    with pytest.raises(PipelineError, match="behaviour of seed_nb has no contrast: run `dvc repro` to remake it"):
        run_select(SelectParams(), evaluated, prepared)


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
        run_select(SelectParams(), tmp_path, tmp_path / "prepared", champion)
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
    selected = run_select(params, evaluated, prepared, out)
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
    first = run_select(params, evaluated, prepared)
    assert first["barred"] == {}
    best = first["champion"]
    worsen(evaluated, best, "negation")
    caplog.set_level("INFO", logger="pipeline.stages.select")
    second = run_select(params, evaluated, prepared)
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
        run_select(params, evaluated, prepared)
    assert read_json(evaluated / "selected.json")["champion"] == second["champion"]  # the last one stays


def test_a_misspelt_floor_is_named() -> None:
    with pytest.raises(PipelineError, match="select.behaviour_max_failure_rate.negations: got an unknown key"):
        parse(SelectParams, {"behaviour_max_failure_rate": {"negations": 0.1}}, "select")
    with pytest.raises(PipelineError, match="select.behaviour_max_failure_rate.negation: got 1.5"):
        parse(SelectParams, {"behaviour_max_failure_rate": {"negation": 1.5}}, "select")


def aliases(name: str) -> dict[str, int]:
    """The registry's aliases of `name`: alias -> version."""
    return {alias: int(version) for alias, version in mlflow.MlflowClient().get_registered_model(name).aliases.items()}


def test_select_writes_the_model_card_beside_the_model_and_into_mlflow(evaluated: Path, prepared: Path) -> None:
    params = SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny-sentiment")
    selected = run_select(params, evaluated, prepared)
    card = read_json(evaluated / "card.json")
    markdown = (evaluated / "model_card.md").read_text()
    assert selected["card"] == {"markdown": str(evaluated / "model_card.md"), "summary": str(evaluated / "card.json")}
    winner = selected["champion"]
    assert (card["name"], card["version"], card["candidate"]) == ("tiny-sentiment", 1, winner)
    assert card["data"]["sha256"] == read_json(prepared.parent / "raw" / "manifest.json")["sha256"]
    assert card["data"]["train"]["documents"] == 20 and card["data"]["test"]["documents"] == 4
    test = read_json(evaluated / "metrics" / winner / "test.json")
    overall = card["metrics"]["test"]["accuracy"]
    assert overall["accuracy"] == test["accuracy"] and overall["documents"] == 4
    low, high = overall["interval_95"]
    assert 0 <= low <= overall["accuracy"] <= high <= 1 and high - low > 0.3  # 4 documents: a wide interval
    # The tiny reviews are 3 sentences of ~11 tokens: every one is in the 31-300 band, and the source is the corpus's.
    assert {band: row["documents"] for band, row in card["metrics"]["test_by_length"].items()} == {
        "<=30": 0, "31-300": 4, ">300": 0,
    }  # fmt: skip
    assert card["metrics"]["test_by_source"]["nltk:movie_reviews"]["documents"] == 4
    cv = read_json(evaluated / "metrics" / winner / "cv.json")
    assert (
        card["selection"]["cv"]["mean"] == cv["accuracy"]
        and card["calibration"]["cv"]["ece"] == cv["calibration"]["ece"]
    )
    assert set(card["behaviour"]) == set(TESTS)
    assert [row["limit"] for row in card["limits"]] == [
        "English only", "Movie reviews only", "Very short texts", "Sarcasm and irony",
    ]  # fmt: skip
    assert "no test document has 30 tokens or fewer" in card["limits"][2]["evidence"]
    ngrams = card["top_ngrams"]
    assert ngrams["positive"] and all(row["weight"] > 0 for row in ngrams["positive"])
    assert ngrams["negative"] and all(row["weight"] < 0 for row in ngrams["negative"])
    # The tiny corpus's words of one label never lean towards the other.
    leaning = {label: {row["ngram"].split("=")[0] for row in ngrams[label]} for label in ("positive", "negative")}
    assert not leaning["positive"] & set(NEGATIVE) and not leaning["negative"] & set(POSITIVE)
    assert [abs(row["weight"]) for row in ngrams["positive"]] == sorted(
        (abs(row["weight"]) for row in ngrams["positive"]), reverse=True
    )
    for heading in ("## Intended use", "## Training data", "## Metrics", "## Calibration", "## Behavioural tests",
                    "## Known limits", "## Top-weighted n-grams"):  # fmt: skip
        assert heading in markdown
    assert card["data"]["train"]["sha256"] in markdown

    client = mlflow.MlflowClient()
    version = client.get_model_version("tiny-sentiment", "1")
    assert version.description == markdown
    assert version.tags["model_digest"] and version.tags["evaluation"].startswith("accuracy of 2-fold CV (seed 1)")
    logged = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/card/card.json")
    assert logged == card


def test_the_gate_keeps_the_champion_unless_the_winner_is_better_by_the_margin(evaluated: Path, prepared: Path) -> None:
    params = SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny", promotion_margin=0.05)
    first = run_select(params, evaluated, prepared)
    assert first["promotion"]["promoted"] and first["promotion"]["reason"] == "no version had the champion alias"
    assert aliases("tiny") == {"champion": 1}

    # The same files again: registered as version 2, recorded, not promoted; the outputs still serve version 1.
    again = run_select(params, evaluated, prepared)
    assert (
        not again["promotion"]["promoted"]
        and again["promotion"]["reason"] == "the same files as the champion, version 1"
    )
    assert again["mlflow"]["version"] == 1 and again["promotion"]["challenger"]["version"] == 2
    assert aliases("tiny") == {"champion": 1}
    assert read_json(evaluated / "card.json")["version"] == 1

    # Other files, better by less than the margin: kept; by more: promoted, and the old champion is `previous`.
    winner = first["champion"]
    (evaluated / "models" / winner / "notes.txt").write_text("a retrained model's files differ\n")
    cv_path = evaluated / "metrics" / winner / "cv.json"
    cv = read_json(cv_path)
    write_json(cv_path, cv | {"accuracy": cv["accuracy"] + 0.04})
    close = run_select(params, evaluated, prepared)
    assert not close["promotion"]["promoted"] and close["promotion"]["comparable"]
    assert (
        close["promotion"]["gain"] == pytest.approx(0.04)
        and "not more than margin 0.05" in close["promotion"]["reason"]
    )
    assert close["mlflow"]["version"] == 1 and aliases("tiny") == {"champion": 1}
    write_json(cv_path, cv | {"accuracy": cv["accuracy"] + 0.06})
    better = run_select(params, evaluated, prepared)
    assert better["promotion"]["promoted"] and better["mlflow"]["version"] == 4
    assert aliases("tiny") == {"champion": 4, "previous": 1}
    assert read_json(evaluated / "card.json")["version"] == 4 and (evaluated / "champion" / "notes.txt").exists()

    runs = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name("tiny").experiment_id], filter_string="tags.role = 'promotion'"
    )
    assert sorted(r.data.tags["decision"] for r in runs) == ["kept", "kept", "promoted", "promoted"]
    last = next(r for r in runs if r.info.run_id == better["promotion"]["run_id"])
    assert last.data.metrics["gain"] == pytest.approx(0.06) and last.data.params["margin"] == "0.05"
    assert last.data.tags["champion_version"] == "1" and last.data.tags["challenger_version"] == "4"


def test_scores_of_another_evaluation_are_not_compared(evaluated: Path, prepared: Path) -> None:
    params = SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny")
    run_select(params, evaluated, prepared)
    winner = read_json(evaluated / "selected.json")["champion"]
    (evaluated / "models" / winner / "notes.txt").write_text("other files\n")
    other = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots",
        prepared.parent / "raw", prepared, evaluated / "champion", evaluated / "selected.json",
        evaluated / "model_card.md", evaluated / "card.json", cv_seed=TINY_TRAIN.cv_seed + 1,
    )  # fmt: skip
    assert not other["promotion"]["promoted"] and not other["promotion"]["comparable"]
    assert other["promotion"]["reason"].startswith("not the same evaluation")
    assert aliases("tiny") == {"champion": 1}
    forced = run_select(params.model_copy(update={"force_promotion": True}), evaluated, prepared)
    assert forced["promotion"]["promoted"] and forced["promotion"]["reason"] == "forced by select.force_promotion"
    assert aliases("tiny") == {"champion": 3, "previous": 1}


def test_a_champion_that_breaks_a_floor_now_is_replaced(evaluated: Path, prepared: Path) -> None:
    floors = {"behaviour_max_failure_rate": {"negation": 0.9}}
    params = SelectParams.model_validate({"min_value": 0.5, "experiment": "tiny", "registered_model": "tiny"} | floors)
    first = run_select(params, evaluated, prepared)
    worsen(evaluated, first["champion"], "negation")
    second = run_select(params, evaluated, prepared)
    assert (
        second["promotion"]["promoted"]
        and "breaks a behaviour floor now: negation 1.0000 > 0.9" in (second["promotion"]["reason"])
    )


def test_rollback_swaps_champion_and_previous_and_select_then_serves_the_old_one(
    evaluated: Path, prepared: Path
) -> None:
    params = SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny", force_promotion=True)
    run_select(params, evaluated, prepared)
    winner = read_json(evaluated / "selected.json")["champion"]
    (evaluated / "models" / winner / "notes.txt").write_text("version 2's files\n")
    run_select(params, evaluated, prepared)
    assert aliases("tiny") == {"champion": 2, "previous": 1}

    done = rollback("tiny", "tiny")
    assert done["champion"] == 1 and done["previous"] == 2
    assert aliases("tiny") == {"champion": 1, "previous": 2}
    client = mlflow.MlflowClient()
    assert client.get_model_version("tiny", "2").tags["rolled_back"] == "true"

    # select's outputs still hold version 2: the next run keeps version 1 (version 2's files were rolled back) and
    # serves it, taking its files and card from MLflow.
    after = run_select(params.model_copy(update={"force_promotion": False}), evaluated, prepared)
    assert not after["promotion"]["promoted"] and "rollback" in after["promotion"]["reason"]
    assert after["mlflow"]["version"] == 1 and read_json(evaluated / "card.json")["version"] == 1
    assert not (evaluated / "champion" / "notes.txt").exists() and (evaluated / "champion" / "model.json").exists()
    assert "version 1" in (evaluated / "model_card.md").read_text().splitlines()[0]

    # Rolling back again, by the command this time, is rolling forward: version 2 is champion again, unmarked.
    (evaluated / "params.yaml").write_text("fetch: {}\nselect:\n  registered_model: tiny\n  experiment: tiny\n")
    assert main(["--params", str(evaluated / "params.yaml"), "rollback"]) == 0
    assert aliases("tiny") == {"champion": 2, "previous": 1}
    assert "rolled_back" not in client.get_model_version("tiny", "2").tags


def test_rollback_names_what_is_missing_in_one_line(evaluated: Path, prepared: Path) -> None:
    with pytest.raises(PipelineError, match="^no registered model 'tiny' in this MLflow store: nothing to roll back$"):
        rollback("tiny", "tiny")
    run_select(SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny"), evaluated, prepared)
    with pytest.raises(PipelineError) as raised:
        rollback("tiny", "tiny")
    assert str(raised.value).startswith("tiny has no version with the alias previous: nothing to roll back to")
    assert "\n" not in str(raised.value) and aliases("tiny") == {"champion": 1}


def test_names_follow_the_data_and_every_run_carries_its_provenance(evaluated: Path, prepared: Path) -> None:
    tags = {"dvc.experiment": "brisk-lark", "git.commit": "c0ffee", "params.digest": "0123456789abcdef"}
    selected = run_select(SelectParams(min_value=0.5), evaluated, prepared, source="data/sources/imdb.csv", tags=tags)
    assert selected["mlflow"]["experiment"] == selected["mlflow"]["registered_model"] == "imdb-sentiment"
    client = mlflow.MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    assert len(runs) == 1 + len(TINY_TRAIN.candidates) + 1  # the pipeline, each candidate, the promotion gate
    assert all(tags.items() <= run.data.tags.items() for run in runs)
    assert tags.items() <= client.get_model_version_by_alias("imdb-sentiment", "champion").tags.items()
