"""evaluate on the tiny corpus: the metrics file and the plots DVC shows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pipeline.behaviour import TESTS, load_cases


def test_evaluate_writes_metrics_and_dvc_plots(evaluated: Path) -> None:
    metrics = json.loads((evaluated / "metrics" / "seed_nb" / "test.json").read_text())
    assert {"accuracy", "f1_macro", "roc_auc"} <= set(metrics)
    assert set(metrics["positive"]) == {"precision", "recall", "f1", "support"}
    with (evaluated / "plots" / "seed_nb" / "predictions.csv").open() as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == metrics["documents"] == 4
    assert metrics["accuracy"] == sum(p["actual"] == p["predicted"] for p in predictions) / 4
    roc = (evaluated / "plots" / "seed_nb" / "roc.csv").read_text().splitlines()
    assert roc[0] == "fpr,tpr,threshold" and len(roc) >= 3
    assert (evaluated / "plots" / "seed_nb" / "confusion.png").read_bytes().startswith(b"\x89PNG")


def test_evaluate_writes_calibration_and_its_reliability_plot(evaluated: Path) -> None:
    metrics = json.loads((evaluated / "metrics" / "seed_nb" / "test.json").read_text())
    calibration = metrics["calibration"]
    assert calibration["ece_bins"] == 10 and 0 <= calibration["brier"] <= 1 and 0 <= calibration["ece"] <= 1
    with (evaluated / "plots" / "seed_nb" / "calibration.csv").open() as handle:
        bins = list(csv.DictReader(handle))
    assert sum(int(row["documents"]) for row in bins) == metrics["documents"]
    assert all(float(row["lower"]) <= float(row["predicted"]) <= float(row["upper"]) for row in bins)
    # ECE is the document-weighted gap between the plotted columns, so the plot and the metric agree.
    gap = sum(int(row["documents"]) * abs(float(row["observed"]) - float(row["predicted"])) for row in bins)
    assert abs(gap / metrics["documents"] - calibration["ece"]) < 1e-5
    assert (evaluated / "plots" / "seed_nb" / "reliability.png").read_bytes().startswith(b"\x89PNG")


def test_evaluate_runs_the_behavioural_cases(evaluated: Path) -> None:
    behaviour = json.loads((evaluated / "metrics" / "seed_nb" / "behaviour.json").read_text())
    cases = load_cases()
    assert behaviour["negation"]["cases"] == len(cases.labelled["negation"])
    assert behaviour["direction"]["cases"] == len(cases.bases) * (len(cases.lower) + len(cases.higher))
    for test in TESTS:
        failing = [row for row in behaviour["failing"] if row["test"] == test]
        assert behaviour[test]["failed"] == len(failing)
        assert behaviour[test]["failure_rate"] == len(failing) / behaviour[test]["cases"]
    # The tiny corpus teaches no English: a model that knows only its 16 sentiment words fails some cases.
    assert behaviour["failing"]
