"""Summary stage: the run's answer in five numbers, for `dvc metrics show` and `dvc exp show` in one screen.

dvc.yaml: sentiment summary models/selected.json metrics/candidates/seed_nb/test.json metrics/summary.json
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json

log = logging.getLogger(__name__)


def summary(selected_path: Path, reference_path: Path, out: Path) -> dict[str, Any]:
    """Which candidate won, its selection score (train-split CV) and test accuracy, its margin over the best other
    eligible candidate (null when a behaviour floor bars all the others), and the reference candidate's test
    accuracy (the seed project's model): "did this change help?" without 11 columns."""
    try:
        selected, reference = read_json(selected_path), read_json(reference_path)
    except FileNotFoundError as error:
        raise PipelineError(f"{error.filename} is missing: run `dvc repro` to make it") from None
    scores = selected["candidates"]
    eligible = sorted((score, name) for name, score in scores.items() if name not in selected.get("barred", {}))
    runner_up = max((score for score, name in eligible if name != selected["champion"]), default=None)
    score = selected["cv"][selected["metric"]]
    result = {
        "champion": selected["champion"],
        "metric": selected["metric"],
        "selection_score": round(score, 4),
        "margin": round(score - runner_up, 4) if runner_up is not None else None,
        "test_accuracy": round(selected["test"]["accuracy"], 4),
        "reference_test_accuracy": round(reference["accuracy"], 4),
    }
    with staged(out) as file:
        write_json(file, result)
    log.info(
        "champion %s: CV %s %.4f (%s ahead of the next eligible), test accuracy %.4f; reference %.4f",
        result["champion"], result["metric"], score, result["margin"], result["test_accuracy"],
        result["reference_test_accuracy"],
    )  # fmt: skip
    return result
