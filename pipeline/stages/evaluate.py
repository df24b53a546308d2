"""Evaluate stage: score one candidate on the test split, with DVC plots.

dvc.yaml: sentiment evaluate models/candidates/NAME data/prepared metrics/candidates/NAME/test.json plots/NAME
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, roc_curve

from pipeline.corpus.splits import read_split
from pipeline.files import staged, write_json
from pipeline.labels import LABELS
from pipeline.metrics import classification_scores, positive_scores, predicted_labels
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


def evaluate(model_dir: Path, prepared: Path, metrics_out: Path, plots_out: Path) -> dict:
    model = load(model_dir)
    ids, texts, actual = read_split(prepared / "test.jsonl")
    probabilities = model.predict_proba(texts)
    result = classification_scores(actual, probabilities)
    predicted = predicted_labels(probabilities)
    positive = positive_scores(probabilities)
    fpr, tpr, thresholds = roc_curve([a == LABELS[1] for a in actual], positive)
    with staged(metrics_out) as metrics_file, staged(plots_out) as plots:
        write_json(metrics_file, result)
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
        confusion_figure(
            actual, predicted, plots / "confusion.png", f"{model_dir.name}\ntest accuracy {result['accuracy']:.4f}"
        )
    log.info("%s on the test split: accuracy %.4f, ROC AUC %.4f", model_dir.name, result["accuracy"], result["roc_auc"])
    return result
