"""Fixtures shared by the evaluate and select stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.behaviour import CASES_FILE
from pipeline.stages.evaluate import evaluate
from pipeline.stages.train import train
from tests.conftest import TINY_TRAIN


@pytest.fixture
def evaluated(prepared: Path, tmp_path: Path) -> Path:
    """Both tiny candidates trained and evaluated under tmp_path, laid out as dvc.yaml's outs: select reads them."""
    for name in TINY_TRAIN.candidates:
        train(TINY_TRAIN, name, prepared, tmp_path / "models" / name, tmp_path / "metrics" / name / "cv.json")
        metrics = tmp_path / "metrics" / name
        evaluate(
            tmp_path / "models" / name, prepared, CASES_FILE, metrics / "test.json", metrics / "behaviour.json",
            tmp_path / "plots" / name,
        )  # fmt: skip
    return tmp_path
