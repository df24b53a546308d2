"""Log lines: progress with the time left, and credentials in URIs masked in every record, whichever logger made it
and whoever handles it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from pipeline import progress
from pipeline.progress import Progress, duration, mask_uri_secrets, mask_uri_secrets_in_logs


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("MLflow at http://alice:s3cret@127.0.0.1:5000/api", "MLflow at http://alice:***@127.0.0.1:5000/api"),
        ("https://ghp_token@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("a raw @ in it: http://bob:p@ss@host:1/x", "a raw @ in it: http://bob:***@host:1/x"),
        ("an empty one: http://bob:@host", "an empty one: http://bob:***@host"),
        ("'s3://k:v@bucket/key' and pg://u:pw@db/x", "'s3://k:***@bucket/key' and pg://u:***@db/x"),
        # No credentials: unchanged, including an "@" after the host and a scp-like git address.
        ("http://127.0.0.1:5000/a@b models:/m@champion git@github.com:o/r", None),
        ("sqlite:////tmp/mlflow.db", None),
    ],
)
def test_uri_credentials_are_masked_and_nothing_else(text: str, shown: str | None) -> None:
    assert mask_uri_secrets(text) == (shown or text)


@pytest.fixture
def masking() -> Iterator[None]:
    """The process-wide record factory, put back as it was afterwards."""
    before = logging.getLogRecordFactory()
    mask_uri_secrets_in_logs()
    mask_uri_secrets_in_logs()  # twice wraps once
    try:
        yield
    finally:
        logging.setLogRecordFactory(before)


def test_records_are_masked_on_a_handler_that_is_not_ours(masking: None) -> None:  # noqa: ARG001
    # As MLflow configures its loggers: a handler of its own, not propagating to the root logger.
    stream = io.StringIO()
    logger = logging.getLogger("tests.progress.like_mlflow")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("retrying %s", "http://alice:s3cret@127.0.0.1:1/api")
        try:
            raise ConnectionError("API request to http://alice:s3cret@127.0.0.1:1/api failed")
        except ConnectionError:
            logger.exception("failed", stack_info=True)
        logger.warning("%d%%, no URI", 50)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "s3cret" not in text
    assert "retrying http://alice:***@127.0.0.1:1/api" in text and "50%, no URI" in text
    assert "ConnectionError: API request to http://alice:***@127.0.0.1:1/api failed" in text  # the traceback


def test_a_malformed_call_is_left_for_logging_to_report(masking: None) -> None:  # noqa: ARG001
    logger = logging.getLogger("tests.progress.malformed")
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "%d items", ("many",), None)
    assert (record.msg, record.args) == ("%d items", ("many",))  # the handler's handleError reports it, as before


def test_progress_says_what_is_done_and_how_long_the_rest_should_take(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = iter([0.0, 5.0, 30.0, 31.0, 100.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    logger = logging.getLogger("tests.progress.eta")
    meter = Progress("counting", 1_000, logger, every_s=10.0)  # started at 0 s
    with caplog.at_level(logging.INFO, logger="tests.progress.eta"):
        meter.update(100, "100 documents")  # at 5 s: too soon after the start, no line
        meter.update(250, "250 documents, 2 chunks")  # at 30 s: a quarter in 30 s, so 90 s left
        meter.update(260, "260 documents")  # at 31 s: too soon after the last line
        meter.update(1_000, "1,000 documents", final=True)  # the last line always
    assert [record.getMessage() for record in caplog.records] == [
        "counting: 250 documents, 2 chunks, 25% in 30s, about 1m30s left",
        "counting: 1,000 documents, 100% in 1m40s, about 0s left",
    ]
    assert duration(float("nan")) == "?" and duration(7_300) == "2h01m"
