"""Serving's requirements have one home, pinned to uv.lock, and every installer of serving reads that home."""

from __future__ import annotations

import yaml

from pipeline.serving import REQUIREMENTS
from tests.support.requirements import REPO, pinned, render


def test_requirements_file_is_uv_lock_s_closure_of_serving_packages() -> None:
    expected = render(pinned())
    assert REQUIREMENTS.read_text(encoding="utf-8") == expected, (
        "pipeline/serving/requirements.txt is stale: run `uv run python -m tests.support.requirements`"
    )


def test_every_line_is_an_exact_pin() -> None:
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all(line.count("==") == 1 for line in lines)
    assert {"nltk", "numpy", "pydantic"} <= {line.split("==")[0] for line in lines}


def test_bentofile_installs_that_file_and_nothing_else() -> None:
    python = yaml.safe_load((REPO / "bentofile.yaml").read_text())["python"]
    assert python["requirements_txt"] == str(REQUIREMENTS.relative_to(REPO))
    assert "packages" not in python
