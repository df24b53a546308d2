"""PSI, binning and log parsing of `sentiment drift` (pipeline/drift.py), without a model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.drift import DriftParams, compare, predictions_in, psi, reference, shares


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    # (0.3 - 0.5) ln(0.3/0.5) + (0.7 - 0.5) ln(0.7/0.5)
    assert psi([0.5, 0.5], [0.3, 0.7]) == pytest.approx(0.2 * math.log(5 / 3) + 0.2 * math.log(7 / 5))
    assert psi([0.5, 0.5], [0.4, 0.6]) < psi([0.5, 0.5], [0.3, 0.7])
    assert math.isfinite(psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))  # an empty bin counts as a small share


def test_bins_come_from_the_reference_and_ties_fall_on_one_side() -> None:
    rows = [{"label": "positive" if i % 4 else "negative", "score": 0.5 + i / 200, "characters": i} for i in range(100)]
    recorded = reference(rows, 4, "test", "m")
    assert recorded["features"]["characters"]["edges"] == pytest.approx([24.75, 49.5, 74.25])
    assert recorded["features"]["characters"]["shares"] == [0.25, 0.25, 0.25, 0.25]
    assert recorded["features"]["label"]["shares"] == [0.25, 0.75]
    assert "oov_share" not in recorded["features"]  # a model without a vocabulary records none
    assert shares([{"x": 1.0}, {"x": 2.0}, {"x": 3.0}], "x", [2.0]) == [2 / 3, 1 / 3]
    report = compare(DriftParams(), recorded, [{**row, "characters": row["characters"] * 3} for row in rows])
    assert report["drifted"] == ["characters"]


def test_prediction_records_are_found_in_plain_prefixed_and_cloudwatch_lines(tmp_path: Path) -> None:
    record = {"event": "prediction", "label": "positive", "score": 0.9, "characters": 10}
    lines = [
        json.dumps(record),
        "2026-12-03T18:00:00Z sentiment/sentiment/abc " + json.dumps(record),
        json.dumps({"timestamp": 1, "message": json.dumps(record)}),
        json.dumps({**record, "label": "neutral"}),  # not a label of this model
        json.dumps({"event": "request", "label": "positive"}),
        "Traceback (most recent call last): {broken",
        "",
    ]
    (tmp_path / "a.log").write_text("\n".join(lines))
    assert list(predictions_in([tmp_path / "a.log"])) == [record, record, record]
