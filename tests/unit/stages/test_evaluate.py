"""evaluate on the tiny corpus: the metrics file and the plots DVC shows."""

from __future__ import annotations

import csv
import json
from pathlib import Path


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
