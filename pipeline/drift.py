"""Drift of served predictions from the reference distribution. Run: sentiment drift LOGS

The `reference` stage (pipeline/stages/reference.py) scores the held-out test split with the champion and records,
per feature, the bins and shares that split gives: the predicted label, the score (probability of that label),
the review's length in characters and its share of tokens the model has no weight for (out of vocabulary). The
test split stands for the training distribution because the champion never saw it: on its own training reviews
the scores are overconfident and no word is unknown, so served traffic would always look drifted.

`sentiment drift` reads the prediction log the service writes (pipeline/serving/observe.py; JSON lines, or
CloudWatch's export where each line carries one in its message), bins each feature the same way and computes the
population stability index, PSI = sum((observed - expected) * ln(observed / expected)) over the bins. By the
usual reading, under 0.1 is stable, 0.1-0.25 a shift to look at, over 0.25 a shift to act on (drift.psi_alert).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json
from pipeline.labels import LABELS
from pipeline.params import Params

log = logging.getLogger(__name__)

NUMERIC = ("score", "characters", "oov_share")
FEATURES = ("label", *NUMERIC)
EVENT = "prediction"  # pipeline/serving/observe.py PREDICTION_EVENT: serving must not import this module
SMALLEST_SHARE = 1e-4  # an empty bin counts as this share, so PSI stays finite (a common floor)


class DriftParams(Params):
    """params.yaml `drift:`: read by the reference stage (bins) and by `sentiment drift` (the rest)."""

    bins: int = Field(default=10, ge=2, le=100)  # quantile bins of each numeric feature, from the reference
    psi_warn: float = Field(default=0.1, gt=0)  # logged as a shift to look at
    psi_alert: float = Field(default=0.25, gt=0)  # drift: `sentiment drift` exits 2
    min_predictions: int = Field(default=200, ge=1)  # fewer logged predictions give PSI too noisy to act on


def feature_rows(labels: Sequence[str], scores: Sequence[float], features: Sequence[dict[str, Any]]) -> list[dict]:
    return [{"label": label, "score": score, **extra} for label, score, extra in zip(labels, scores, features,
                                                                                    strict=True)]  # fmt: skip


def reference(rows: Sequence[dict[str, Any]], bins: int, source: str, model: str) -> dict[str, Any]:
    """Per feature: the bins' inner edges (quantiles of the reference) and the reference's share in each."""
    features: dict[str, Any] = {
        "label": {"categories": list(LABELS), "shares": shares(rows, "label", None)},
    }
    for name in NUMERIC:
        values = np.array([row[name] for row in rows if row.get(name) is not None], dtype=float)
        if not len(values):
            continue  # a model without a vocabulary records no oov_share
        inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        features[name] = {"edges": inner.tolist(), "shares": shares(rows, name, inner.tolist()),
                          "mean": float(values.mean())}  # fmt: skip
    return {"source": source, "model": model, "predictions": len(rows), "features": features}


def shares(rows: Sequence[dict[str, Any]], name: str, edges: list[float] | None) -> list[float]:
    """The share of rows in each bin: a category each (labels), or between consecutive inner edges (right-closed,
    so a score of exactly 1.0 and every tie at an edge fall in one bin, on both sides alike)."""
    values = [row[name] for row in rows if row.get(name) is not None]
    if edges is None:
        counts = np.array([sum(value == label for value in values) for label in LABELS], dtype=float)
    else:
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1).astype(float)
    return (counts / max(len(values), 1)).tolist()


def psi(expected: Sequence[float], observed: Sequence[float]) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), SMALLEST_SHARE)
    o = np.maximum(np.asarray(observed, dtype=float), SMALLEST_SHARE)
    return float(np.sum((o - e) * np.log(o / e)))


def log_files(logs: Path) -> list[Path]:
    """A file, or every file in a folder (an export is often one file per stream)."""
    if logs.is_dir():
        return sorted(path for path in logs.rglob("*") if path.is_file() and not path.name.startswith("."))
    if logs.is_file():
        return [logs]
    raise PipelineError(f"{logs} is neither a file nor a folder of prediction logs")


def predictions_in(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """The prediction records in log lines: a JSON line itself, a line with a JSON object after a prefix (a
    timestamp, a stream name), or CloudWatch's export whose `message` holds the line. Other lines are skipped."""
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                start = line.find("{")
                if start < 0:
                    continue
                try:
                    record = json.loads(line[start:])
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("message"), str):
                    try:
                        record = json.loads(record["message"][record["message"].find("{") :])
                    except ValueError:
                        continue
                if isinstance(record, dict) and record.get("event") == EVENT and record.get("label") in LABELS:
                    yield record


def compare(p: DriftParams, expected: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """PSI per feature the reference has, and the features past psi_alert."""
    features = {}
    for name, recorded in expected["features"].items():
        observed = shares(rows, name, recorded.get("edges"))
        value = psi(recorded["shares"], observed)
        status = "drift" if value > p.psi_alert else "shift" if value > p.psi_warn else "stable"
        features[name] = {"psi": round(value, 6), "status": status, "expected": recorded["shares"],
                          "observed": observed, "edges": recorded.get("edges")}  # fmt: skip
    drifted = sorted(name for name, figure in features.items() if figure["status"] == "drift")
    return {
        "predictions": len(rows),
        "reference": {key: expected[key] for key in ("source", "model", "predictions")},
        "psi_warn": p.psi_warn,
        "psi_alert": p.psi_alert,
        "features": features,
        "drifted": drifted,
    }


def drift(p: DriftParams, logs: Path, reference_path: Path, out: Path) -> dict[str, Any]:
    """Write out/report.json and out/drift.png; return the report (its `drifted` names the features past psi_alert)."""
    try:
        expected = read_json(reference_path)
    except FileNotFoundError:
        raise PipelineError(f"{reference_path} not found: `dvc repro reference` records it") from None
    rows = list(predictions_in(log_files(logs)))
    if len(rows) < p.min_predictions:
        raise PipelineError(
            f"{logs} holds {len(rows)} prediction records; PSI needs at least {p.min_predictions} "
            "(drift.min_predictions) to mean anything: log more (SENTIMENT_PREDICTION_LOG_RATE) or for longer"
        )
    report = compare(p, expected, rows)
    for name, figure in report["features"].items():
        log.info("%s: PSI %.3f (%s)", name, figure["psi"], figure["status"])
    out.mkdir(parents=True, exist_ok=True)
    with staged(out / "drift.png") as path:
        figure_of(report, path)
    with staged(out / "report.json") as path:
        write_json(path, report)
    log.info("wrote %s and %s from %d predictions", out / "report.json", out / "drift.png", len(rows))
    return report


def figure_of(report: dict[str, Any], path: Path) -> None:
    """One panel per feature: the reference's share of each bin beside the log's, titled with the PSI."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    features = report["features"]
    figure, axes = pyplot.subplots(1, len(features), figsize=(4 * len(features), 3.4), dpi=100, squeeze=False)
    for axis, (name, figure_data) in zip(axes[0], features.items(), strict=True):
        positions = np.arange(len(figure_data["expected"]))
        axis.bar(positions - 0.2, figure_data["expected"], width=0.4, label="reference (test split)")
        axis.bar(positions + 0.2, figure_data["observed"], width=0.4, label="logged")
        edges = figure_data["edges"]
        names = list(LABELS) if edges is None else [f"≤{edges[0]:.3g}"] + [f">{e:.3g}" for e in edges]
        axis.set_xticks(positions, names, rotation=60 if edges is not None else 0, fontsize="x-small")
        axis.set_title(f"{name}: PSI {figure_data['psi']:.3f} ({figure_data['status']})", fontsize="medium")
        axis.set_ylabel("share")
    axes[0][0].legend(fontsize="x-small")
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)
