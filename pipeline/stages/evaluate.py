"""Evaluate stage: score one candidate on the test split and on the behavioural cases, with DVC plots.

dvc.yaml: sentiment evaluate models/candidates/NAME data/prepared pipeline/behaviour/cases.yaml
          metrics/candidates/NAME/test.json metrics/candidates/NAME/behaviour.json plots/NAME
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, roc_curve

from pipeline.behaviour import load_cases, run_suite
from pipeline.corpus.splits import read_split
from pipeline.files import staged, write_json
from pipeline.labels import LABELS
from pipeline.metrics import (
    CALIBRATION_BINS,
    classification_scores,
    positive_scores,
    predicted_labels,
    reliability_bins,
)
from pipeline.model import load

log = logging.getLogger(__name__)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def confusion_figure(actual: list[str], predicted: list[str], path: Path, title: str) -> None:
    """A PNG of the confusion matrix, for people: MLflow shows it beside the run."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    counts = confusion_matrix(actual, predicted, labels=list(LABELS))
    figure, axes = pyplot.subplots(figsize=(4, 3.6), dpi=100)
    axes.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        axes.text(j, i, str(value), ha="center", va="center", color="white" if value > counts.max() / 2 else "black")
    axes.set(xticks=range(len(LABELS)), yticks=range(len(LABELS)), xticklabels=LABELS, yticklabels=LABELS)
    axes.set(xlabel="predicted", ylabel="actual")
    axes.set_title(title, fontsize="medium")  # two lines: a long candidate name would be cut off in one
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def reliability_figure(bins: list[dict[str, float]], path: Path, title: str) -> None:
    """A PNG reliability diagram, for people: each bin's observed fraction positive against its mean P(positive),
    the diagonal a calibrated model would follow, and how many reviews each bin holds (few: read with care)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (curve, counts) = pyplot.subplots(
        2, 1, figsize=(4, 4.8), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    curve.plot([0, 1], [0, 1], linestyle=":", color="grey", label="calibrated")
    curve.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o", label="model")
    curve.set(ylabel="fraction positive", xlim=(0, 1), ylim=(0, 1))
    curve.legend(loc="upper left", fontsize="small")
    curve.set_title(title, fontsize="medium")
    counts.bar([b["lower"] for b in bins], [b["documents"] for b in bins], width=1 / CALIBRATION_BINS, align="edge")
    counts.set(xlabel=f"P(positive), {CALIBRATION_BINS} equal-width bins", ylabel="reviews")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def evaluate(
    model_dir: Path, prepared: Path, cases: Path, metrics_out: Path, behaviour_out: Path, plots_out: Path
) -> dict:
    """Test-split scores and plots, and the behavioural suite's failure rates with every failing case.

    Behaviour goes in a file of its own so `select` can hold candidates to floors on it; DVC shows its rates
    and ignores the list of failing cases, which is there for people (and MLflow)."""
    model = load(model_dir)
    suite = load_cases(cases)  # before any scoring: a malformed case is named at once
    ids, texts, actual = read_split(prepared / "test.jsonl")
    probabilities = model.predict_proba(texts)
    result = classification_scores(actual, probabilities)
    predicted = predicted_labels(probabilities)
    positive = positive_scores(probabilities)
    truth = np.array([a == LABELS[1] for a in actual])
    fpr, tpr, thresholds = roc_curve(truth, positive)
    bins = reliability_bins(truth, positive)
    report = run_suite(model, suite)
    behaviour = {**report.metrics(), "failing": report.failing}
    with staged(metrics_out) as metrics_file, staged(behaviour_out) as behaviour_file, staged(plots_out) as plots:
        write_json(metrics_file, result)
        write_json(behaviour_file, behaviour)
        plots.mkdir()
        _write_csv(
            plots / "predictions.csv",
            ["id", "actual", "predicted", "score_positive"],
            [[i, a, p, f"{s:.6f}"] for i, a, p, s in zip(ids, actual, predicted, positive, strict=True)],
        )
        _write_csv(
            plots / "roc.csv",
            ["fpr", "tpr", "threshold"],
            [[f"{f:.6f}", f"{t:.6f}", f"{min(h, 1.0):.6f}"] for f, t, h in zip(fpr, tpr, thresholds, strict=True)],
        )
        _write_csv(
            plots / "calibration.csv",
            ["predicted", "observed", "documents", "lower", "upper"],
            [[f"{b['predicted']:.6f}", f"{b['observed']:.6f}", b["documents"], b["lower"], b["upper"]] for b in bins],
        )
        confusion_figure(
            actual, predicted, plots / "confusion.png", f"{model_dir.name}\ntest accuracy {result['accuracy']:.4f}"
        )
        calibration = result["calibration"]
        reliability_figure(
            bins,
            plots / "reliability.png",
            f"{model_dir.name}\ntest ECE {calibration['ece']:.4f}, Brier {calibration['brier']:.4f}",
        )
    log.info(
        "%s on the test split: accuracy %.4f, ROC AUC %.4f, Brier %.4f, log loss %.4f, ECE %.4f",
        model_dir.name, result["accuracy"], result["roc_auc"],
        calibration["brier"], calibration["log_loss"], calibration["ece"],
    )  # fmt: skip
    rates = ", ".join(f"{test} {row['failed']}/{row['cases']}" for test, row in report.metrics().items())
    log.info("%s behavioural cases failed: %s", model_dir.name, rates)
    return result
