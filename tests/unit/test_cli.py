"""The console script: whatever fails, a password in a URI is never printed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from pipeline import cli
from pipeline.errors import PipelineError


def failing(error: Exception) -> Callable[[argparse.Namespace], None]:
    def handler(args: argparse.Namespace) -> None:  # noqa: ARG001 (a subcommand's signature)
        raise error

    return handler


@pytest.mark.parametrize(
    ("error", "traceback"),
    [
        (PipelineError("cannot read https://alice:s3cret@example.org/reviews.csv: 404"), False),
        (ConnectionError("API request to http://alice:s3cret@127.0.0.1:1/api failed"), True),  # a bug's own
    ],
)
def test_a_failure_names_the_uri_without_its_password(
    error: Exception, traceback: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cli, "_fetch", failing(error))
    assert cli.main(["fetch", "sources", "out"]) == 1
    assert "s3cret" not in caplog.text and "alice:***@" in caplog.text
    assert ("Traceback" in caplog.text) == traceback


def test_rollback_with_nothing_to_roll_back_is_one_line(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """Against the real sqlite store each test gets (tests/conftest.py), empty: exit 1 and the reason, one line."""
    params = tmp_path / "params.yaml"
    params.write_text("fetch: {}\nselect:\n  registered_model: nothing-here\n  experiment: nothing-here\n")
    assert cli.main(["--params", str(params), "rollback"]) == 1
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert errors == [
        "sentiment rollback: no registered model 'nothing-here' in this MLflow store: nothing to roll back"
    ]
