"""The Comprehend baseline against local stand-ins for AWS: no network, no real credentials.

moto 5.2.5's server answers DetectSentiment (always NEUTRAL) but not BatchDetectSentiment, so a small
HTTP server here speaks Comprehend's JSON protocol for batches, throttles on request, checks each
request's shape, and forwards every other call to a real ThreadedMotoServer.
"""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import pytest
from moto.server import ThreadedMotoServer

from pipeline.baselines import comprehend as aws
from pipeline.errors import PipelineError
from pipeline.files import read_json, write_jsonl
from pipeline.stages.baseline import BaselineParams, baseline
from tests.conftest import NEGATIVE, POSITIVE
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

SENTIMENT = Path(sys.executable).with_name("sentiment")
BATCH_TARGET = "Comprehend_20171127.BatchDetectSentiment"
# A document holding this is put in the batch's ErrorList, so the client must send it alone.
FAIL_IN_BATCH = "fail-in-batch"
# moto's canned DetectSentiment answer (moto/comprehend/models.py: CANNED_SENTIMENT_RESPONSE).
MOTO_NEUTRAL = {"Positive": 0.008101312443614006, "Negative": 0.0002824589901138097}


@dataclass
class FakeComprehend:
    moto_url: str
    url: str = ""
    throttles: int = 1  # how many batch calls answer ThrottlingException before any succeeds
    batches: list[list[str]] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    bad_requests: list[str] = field(default_factory=list)


def score_for(text: str) -> dict[str, float]:
    """Scores that follow the tiny corpus's word lists, so a correct client scores it perfectly."""
    words = text.lower().split()
    balance = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    if balance > 0:
        return {"Positive": 0.85, "Negative": 0.05, "Neutral": 0.05, "Mixed": 0.05}
    if balance < 0:
        return {"Positive": 0.05, "Negative": 0.8, "Neutral": 0.1, "Mixed": 0.05}
    return {"Positive": 0.2, "Negative": 0.1, "Neutral": 0.6, "Mixed": 0.1}


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        fake: FakeComprehend = self.server.fake  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("X-Amz-Target") != BATCH_TARGET:
            self._forward(fake, body)
            return
        request = json.loads(body)
        texts = request["TextList"]
        fake.batches.append(texts)
        if len(fake.batches) <= fake.throttles:
            self._reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            return
        problems = [f"{len(texts)} documents"] if not 1 <= len(texts) <= aws.BATCH_SIZE else []
        problems += [f"document {i} has {len(t.encode())} bytes" for i, t in enumerate(texts) if len(t.encode()) > 5000]
        problems += [f"language {request['LanguageCode']}"] if request["LanguageCode"] != "en" else []
        if problems:
            fake.bad_requests += problems
            self._reply(400, {"__type": "InvalidRequestException", "message": "; ".join(problems)})
            return
        results, errors = [], []
        for index, text in enumerate(texts):
            if FAIL_IN_BATCH in text:
                errors.append({"Index": index, "ErrorCode": "INTERNAL_SERVER_ERROR", "ErrorMessage": "try again"})
            else:
                scores = score_for(text)
                results.append(
                    {"Index": index, "Sentiment": max(scores, key=scores.get).upper(), "SentimentScore": scores}
                )
        self._reply(200, {"ResultList": results, "ErrorList": errors})

    def _forward(self, fake: FakeComprehend, body: bytes) -> None:
        """Everything but batches goes to moto, as AWS would answer it (its signature is not checked)."""
        fake.forwarded.append(self.headers.get("X-Amz-Target", ""))
        target = urlsplit(fake.moto_url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
        connection.request("POST", self.path, body, headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        self.send_response(response.status)
        self.send_header("Content-Type", response.getheader("Content-Type", "application/x-amz-json-1.1"))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        """Quiet: pytest shows failures, not every request line."""


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials from the environment; no profile, config file or instance metadata is read."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def moto_url(aws_env: None) -> Iterator[str]:  # noqa: ARG001 (the credentials it needs)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def fake(moto_url: str) -> Iterator[FakeComprehend]:
    state = FakeComprehend(moto_url=moto_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.fake = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def params(fake: FakeComprehend, **overrides: object) -> aws.ComprehendParams:
    values = {"max_documents": 1000, "endpoint_url": fake.url, "region": "us-east-1", "backoff_s": 0.001}
    return aws.ComprehendParams(**{**values, **overrides})


def test_batches_of_25_and_a_throttled_first_call(fake: FakeComprehend, caplog: pytest.LogCaptureFixture) -> None:
    texts = [f"review {i}: a superb film" if i % 2 else f"review {i}: an awful film" for i in range(60)]
    waits: list[float] = []
    p = params(fake, backoff_s=0.5)
    results = aws.detect(aws.client(p), texts, p, sleep=waits.append)
    # The throttled first batch is sent again, then the rest: 25, 25, 10.
    assert [len(batch) for batch in fake.batches] == [25, 25, 25, 10]
    assert fake.batches[0] == fake.batches[1] == texts[:25]
    assert waits == [0.5] and "ThrottlingException on documents 1-25 (attempt 1 of 6)" in caplog.text
    assert [r["Positive"] > r["Negative"] for r in results] == [i % 2 == 1 for i in range(60)]
    assert not fake.bad_requests and not fake.forwarded


def test_throttling_backs_off_exponentially_then_gives_up(fake: FakeComprehend) -> None:
    fake.throttles = 100
    waits: list[float] = []
    p = params(fake, max_attempts=4, backoff_s=0.25)
    with pytest.raises(PipelineError, match="Comprehend documents 1-1: ThrottlingException: Rate exceeded"):
        aws.detect(aws.client(p), ["fine"], p, sleep=waits.append)
    assert waits == [0.25, 0.5, 1.0] and len(fake.batches) == 4


def test_single_document_path_through_moto(fake: FakeComprehend) -> None:
    """moto's DetectSentiment is the real single-document protocol; a batch's failed item goes there."""
    direct = aws.client(params(fake, endpoint_url=fake.moto_url))
    answer = direct.detect_sentiment(Text="Just a film.", LanguageCode="en")
    assert answer["Sentiment"] == "NEUTRAL"

    fake.throttles = 0
    p = params(fake)
    texts = ["a superb film", f"{FAIL_IN_BATCH}: an awful film", "an awful film"]
    results = aws.detect(aws.client(p), texts, p, sleep=lambda _: None)
    assert fake.forwarded == ["Comprehend_20171127.DetectSentiment"]
    assert {key: results[1][key] for key in MOTO_NEUTRAL} == MOTO_NEUTRAL
    assert results[0]["Positive"] > 0.5 and results[2]["Negative"] > 0.5
    # NEUTRAL's mapping is a param: moto's NEUTRAL answer lands on whichever label it names.
    assert aws.probabilities(results[1], "positive", "split")["positive"] > 0.99
    assert aws.probabilities(results[1], "negative", "split")["positive"] < 0.01


def test_long_multibyte_documents_are_cut_between_characters(fake: FakeComprehend, tmp_path: Path) -> None:
    originals = {
        "positive": ["superb " + "€" * 2000, "wonderful " + "🎬" * 1300],
        "negative": ["an awful " + "é" * 2600, "dull " + "ü" * 10],
    }
    rows = [
        {"id": f"{label}-{i}", "text": text, "label": label}
        for label, texts in originals.items()
        for i, text in enumerate(texts)
    ]
    write_jsonl(tmp_path / "prepared" / "test.jsonl", rows)
    p = BaselineParams(comprehend=params(fake))
    result = baseline(p, "comprehend", tmp_path / "prepared", tmp_path / "out.json", "tiny", confirmed=True)
    sent = fake.batches[-1]
    assert len(sent) == 4 and not fake.bad_requests
    for text, row in zip(sent, rows, strict=True):
        assert row["text"].startswith(text) and "\ufffd" not in text
        assert len(text.encode()) <= 5000
    assert [len(text.encode()) for text in sent[:3]] == [4999, 4998, 4999]  # 7+3n, 10+4n, 9+2n bytes
    assert sent[3] == rows[3]["text"]
    assert result["accuracy"] == 1.0


def test_capped_run_logs_the_cost_first_and_records_a_baseline_run(
    fake: FakeComprehend, prepared: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls_at_estimate: list[int] = []

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Comprehend bills" in record.getMessage():
                calls_at_estimate.append(len(fake.batches))

    watch = Watch()
    logging.getLogger("pipeline").addHandler(watch)
    caplog.set_level(logging.INFO, logger="pipeline")
    try:
        p = BaselineParams(comprehend=params(fake, max_documents=3))
        out = tmp_path / "metrics" / "comprehend" / "test.json"
        result = baseline(p, "comprehend", prepared, out, "tiny", confirmed=True)
    finally:
        logging.getLogger("pipeline").removeHandler(watch)
    assert calls_at_estimate == [0]
    assert "Comprehend bills 9 units for 3 documents" in caplog.text and "about $0.0009" in caplog.text
    assert "sending 3 of 4 test documents" in caplog.text
    assert sum(len(batch) for batch in fake.batches[1:]) == 3 and result["documents"] == 3
    assert result["positive"]["support"] + result["negative"]["support"] == 3
    assert read_json(out) == result and result["accuracy"] == 1.0

    client = mlflow.MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.role = 'baseline'")
    assert run.info.run_name == "comprehend" and run.data.metrics["test_accuracy"] == 1.0
    assert run.data.params["max_documents"] == "3" and run.data.params["neutral"] == "split"


def test_no_opt_in_sends_nothing(fake: FakeComprehend, prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="runs only on request: pass --yes or set baseline.comprehend.enabled"):
        baseline(BaselineParams(comprehend=params(fake)), "comprehend", prepared, tmp_path / "out.json", "tiny")
    assert fake.batches == [] and not (tmp_path / "out.json").exists()


def test_cli_yes_runs_and_cli_without_it_refuses(fake: FakeComprehend, prepared: Path, tmp_path: Path) -> None:
    settings = tmp_path / "params.yaml"
    settings.write_text(
        "fetch: {}\nselect: {experiment: tiny}\n"
        f"baseline:\n  comprehend: {{max_documents: 4, endpoint_url: '{fake.url}', backoff_s: 0.001}}\n"
    )
    out = tmp_path / "metrics" / "comprehend" / "test.json"
    command = [SENTIMENT, "--params", str(settings), "baseline", "comprehend", str(prepared), str(out)]

    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    errors = [line for line in refused.stderr.splitlines() if "ERROR" in line]
    assert refused.returncode == 1 and len(errors) == 1 and "pass --yes" in errors[0]
    assert "Traceback" not in refused.stderr and fake.batches == [] and not out.exists()

    done = subprocess.run([*command, "--yes"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_json(out)["documents"] == 4 and "Comprehend bills 12 units for 4 documents" in done.stderr
