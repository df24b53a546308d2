"""The BentoML service over real HTTP: endpoints, CORS, limits and every bad input, against `bentoml serve`."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import bentoml
import pytest

from tests.conftest import REPO
from tests.e2e.conftest import BIN, HEADER_TIMEOUT_S, bentoml_serve
from tests.support.processes import ServerNotReady
from tests.support.raw_http import LAST_CHUNK, chunk, send_until_answered

pytestmark = pytest.mark.e2e


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def preflight(url: str, origin: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="OPTIONS")
    request.add_header("Origin", origin)
    request.add_header("Access-Control-Request-Method", "POST")
    request.add_header("Access-Control-Request-Headers", "content-type")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def test_predict_and_batch_through_bentomls_client(service: str, packaged: dict[str, str]) -> None:
    with bentoml.SyncHTTPClient(service) as client:
        single = client.predict(text="A wonderful, superb and moving film!")
        batch = client.predict_batch(texts=["Dull, boring, an awful mess.", "Brilliant and delightful."])
    assert single["label"] == "positive" and 0.5 < single["score"] <= 1
    assert single["model"] == packaged["SENTIMENT_MODEL"]
    assert [p["label"] for p in batch] == ["negative", "positive"]


def test_explain_is_opt_in_and_adds_up_to_the_score(service: str) -> None:
    """The champion is of the real one's kind and features, so this is the compiled scorer's explanation."""
    review = "A wonderful, superb film. Not boring at all, not dull."
    _, _, plain = post(service + "/predict", json.dumps({"text": review}).encode())
    assert "explanation" not in plain
    status, _, answer = post(service + "/predict", json.dumps({"text": review, "explain": True, "top": 3}).encode())
    assert status == 200 and {key: answer[key] for key in plain} == plain
    why = answer["explanation"]
    assert set(why) == {"intercept", "contributions", "other"} and len(why["contributions"]) == 3
    parts = [c["contribution"] for c in why["contributions"]]
    assert [abs(part) for part in parts] == sorted(map(abs, parts), reverse=True)
    assert adds_up(answer)
    mild = ["The plot, the music and the cast.", "A story.", review, "Dull."]  # not all scored 0 or 1 to 16 digits
    status, _, answers = post(service + "/predict_batch", json.dumps({"texts": mild, "explain": True}).encode())
    assert status == 200 and [a["label"] for a in answers][2:] == [answer["label"], "negative"]
    assert answers[2]["explanation"]["contributions"][:3] == why["contributions"]
    for each in answers:
        assert len(each["explanation"]["contributions"]) <= 10 and adds_up(each)


def adds_up(answer: dict) -> bool:
    """Whether intercept + contributions + other is the log-odds behind the answer's score: to 1e-9 where the score
    keeps enough digits to say (the tiny corpus's champion scores many texts 1.0), else as the score itself."""
    why = answer["explanation"]
    total = why["intercept"] + sum(c["contribution"] for c in why["contributions"]) + why["other"]
    towards_label = total if answer["label"] == "positive" else -total
    if answer["score"] < 1 - 1e-6:
        return abs(towards_label - math.log(answer["score"] / (1 - answer["score"]))) <= 1e-9
    return answer["score"] == pytest.approx(1 / (1 + math.exp(-towards_label)), rel=1e-12)


def test_the_openapi_schema_documents_explanations(service: str) -> None:
    with urllib.request.urlopen(service + "/docs.json", timeout=10) as response:
        spec = json.loads(response.read())
    for path in ("/predict", "/predict_batch"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        body = resolve(spec, body)
        assert body["properties"]["explain"]["type"] == "boolean", path
        assert body["properties"]["top"]["maximum"] == 100 and body["properties"]["top"]["minimum"] == 1, path
    schemas = spec["components"]["schemas"]
    assert set(schemas["Explanation"]["properties"]) == {"intercept", "contributions", "other"}
    assert set(schemas["Contribution"]["properties"]) == {"ngram", "contribution"}
    assert "explanation" in schemas["Prediction"]["properties"]


def resolve(spec: dict, schema: dict) -> dict:
    """A schema with its $ref followed."""
    while "$ref" in schema:
        *_, section, name = schema["$ref"].split("/")
        schema = spec["components"][section][name]
    return schema


def test_health_and_metrics(service: str) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/docs.json", "/ui/", "/"):
        with urllib.request.urlopen(service + path, timeout=10) as response:
            assert response.status == 200, path
    with urllib.request.urlopen(service + "/docs.json", timeout=10) as response:
        paths = json.loads(response.read())["paths"]
    assert {"/predict", "/predict_batch"} <= set(paths)


def test_get_model_answers_the_cards_summary(service: str, packaged: dict[str, str], allowed_origin: str) -> None:
    request = urllib.request.Request(service + "/model", headers={"Origin": allowed_origin})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == allowed_origin
        summary = json.loads(response.read())
    _, _, prediction = post(service + "/predict", b'{"text": "A superb film."}')
    # The card belongs to the model that answers: the same tag as /predict's, and the card package put beside it.
    assert summary["model"] == prediction["model"] == packaged["SENTIMENT_MODEL"]
    assert (summary["name"], summary["version"], summary["candidate"]) == (
        "tiny-sentiment",
        1,
        "ensemble_negation_tail",
    )
    assert summary["kind"] == "linear_ensemble" and summary["trained_at"] == "2026-12-03T12:00:00+00:00"
    assert set(summary["data"]) == {"source", "documents", "sha256", "train_sha256", "test_sha256"}
    assert len(summary["data"]["train_sha256"]) == 64
    accuracy = summary["metrics"]["test_accuracy"]
    assert accuracy["interval_95"][0] <= accuracy["accuracy"] <= accuracy["interval_95"][1]
    assert summary["limits"] == ["English only", "Movie reviews only", "Very short texts", "Sarcasm and irony"]
    status, _, answer = post(service + "/model", b"{}")
    assert status == 405 and answer == {"error": "POST is not allowed on /model; use GET"}


def test_cors_allows_the_configured_origin_only(service: str, allowed_origin: str) -> None:
    status, headers = preflight(service + "/predict", allowed_origin)
    assert status == 200 and headers["access-control-allow-origin"] == allowed_origin
    _, headers, _ = post(service + "/predict", b'{"text": "good"}', {"Origin": allowed_origin})
    assert headers.get("access-control-allow-origin") == allowed_origin

    status, headers = preflight(service + "/predict", "http://evil.example")
    assert status == 400 and "access-control-allow-origin" not in headers
    _, headers, _ = post(service + "/predict", b'{"text": "good"}', {"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


BAD_INPUTS = [
    ("/predict", b'{"text": ""}', 400, "text is empty"),
    ("/predict", b'{"text": "  \\n\\t "}', 400, "text is empty"),
    ("/predict", b'{"text": 42}', 400, "valid string"),
    ("/predict", b'{"review": "good"}', 400, "Field required"),
    ("/predict", b'{"text": "good"', 400, "Invalid JSON"),
    ("/predict", b'{"text": "\xff\xfe bad bytes"}', 400, "Invalid JSON"),
    ("/predict", json.dumps({"text": "a" * 100_001}).encode(), 400, "limit is 100,000"),
    ("/predict_batch", b'{"texts": []}', 400, "at least 1 item"),
    ("/predict_batch", json.dumps({"texts": ["ok"] * 1001}).encode(), 400, "at most 1000 items"),
    ("/predict_batch", b'{"texts": ["fine", ""]}', 400, "text is empty"),
    ("/predict_batch", b'{"texts": "not a list"}', 400, "valid array"),
    ("/predict_batch", json.dumps({"texts": ["a " * 50_000] * 41}).encode(), 400, "SENTIMENT_MAX_BATCH_CHARACTERS"),
    ("/predict", b'{"text": "good", "explain": "yes"}', 400, "valid boolean"),
    ("/predict", b'{"text": "good", "explain": 1}', 400, "valid boolean"),
    ("/predict", b'{"text": "good", "explain": true, "top": 0}', 400, "greater than or equal to 1"),
    ("/predict", b'{"text": "good", "explain": true, "top": 101}', 400, "less than or equal to 100"),
    ("/predict", b'{"text": "good", "explain": true, "top": "10"}', 400, "valid integer"),
    ("/predict_batch", b'{"texts": ["good"], "explain": true, "top": 2.5}', 400, "valid integer"),
    ("/predict_batch", b'{"texts": ["good", ""], "explain": true}', 400, "text is empty"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD_INPUTS)
def test_bad_input_gets_a_4xx_with_a_message(service: str, path: str, body: bytes, status: int, message: str) -> None:
    code, _, answer = post(service + path, body)
    assert code == status
    assert message in json.dumps(answer)
    with urllib.request.urlopen(service + "/readyz", timeout=10) as response:
        assert response.status == 200


def test_body_over_the_cap_is_refused_before_it_is_read(service: str) -> None:
    """Announce 17 MiB, send 1 KiB, and get the 413 at once: the server never waits for the rest."""
    host, port = service.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {17 * 1024 * 1024}\r\n\r\n".encode()
            + b" " * 1024
        )
        reply = b""
        while b"SENTIMENT_MAX_BODY_BYTES" not in reply and (chunk := connection.recv(65536)):
            reply += chunk
    reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "SENTIMENT_MAX_BODY_BYTES" in reply


def raw_exchange(service: str, pieces: list[bytes], wait_s: float = 0.1) -> str:
    host, port = service.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        return send_until_answered(connection, pieces, wait_s).decode(errors="replace")


CHUNKED_POST = (
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)


def test_a_chunked_body_over_the_cap_gets_413_not_500(service: str, service_log: Path) -> None:
    """Sent without Content-Length, 16.2 MiB got a 500 and an ERROR traceback (issue: hardening, finding 4)."""
    # 16 MiB, the cap, then one byte more and nothing after: bytes the server never reads would reset the connection.
    reply = raw_exchange(service, [CHUNKED_POST, *[chunk(b"a" * 1024 * 1024)] * 16, chunk(b"a")])
    assert reply.startswith("HTTP/1.1 413") and "SENTIMENT_MAX_BODY_BYTES" in reply
    assert "Traceback" not in service_log.read_text()


def test_a_chunked_body_within_the_cap_is_answered(service: str) -> None:
    body = json.dumps({"text": "A wonderful, superb and moving film!"}).encode()
    reply = raw_exchange(service, [CHUNKED_POST + chunk(body[:10]) + chunk(body[10:]) + LAST_CHUNK])
    assert reply.startswith("HTTP/1.1 200") and '"label":"positive"' in reply


def test_an_oversized_head_gets_431(service: str) -> None:
    head = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 17_000 + b"\r\n\r\n"
    reply = raw_exchange(service, [head])
    assert reply.startswith("HTTP/1.1 431") and "SENTIMENT_MAX_HEADER_BYTES" in reply


def test_a_slow_head_is_cut_off_after_the_header_timeout(service: str) -> None:
    """Slowloris: a header line every 0.2 s held a connection open for as long as the client liked."""
    lines = [b"GET /readyz HTTP/1.1\r\n"] + [f"X-Slow-{n}: y\r\n".encode() for n in range(10 * HEADER_TIMEOUT_S)]
    started = time.monotonic()
    reply = raw_exchange(service, lines, wait_s=0.2)
    assert reply.startswith("HTTP/1.1 408") and "SENTIMENT_HEADER_TIMEOUT_S" in reply
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 1


@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_gets_415(service: str, content_type: str) -> None:
    code, _, answer = post(service + "/predict", b'{"text": "good"}', {"Content-Type": content_type})
    assert code == 415 and "application/json" in answer["error"]


def test_client_errors_are_not_logged_as_server_errors(service: str, service_log: Path) -> None:
    post(service + "/predict", b'{"text": ""}')
    log = service_log.read_text()
    assert "client error on /predict [POST]" in log
    assert "Traceback" not in log and "[ERROR]" not in log


def test_no_training_packages_are_imported_to_serve(packaged: dict[str, str]) -> None:
    script = (
        "import sys, pipeline.serving.service; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'dvc', 'sklearn', 'scipy', 'pandas'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], env=packaged, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_missing_model_fails_at_start_with_one_clear_line(packaged: dict[str, str], tmp_path: Path) -> None:
    env = {**packaged, "SENTIMENT_MODEL": "tiny-sentiment:doesnotexist"}
    with pytest.raises(ServerNotReady, match="bentoml serve did not become ready") as failure:
        with bentoml_serve(env, tmp_path / "serve.log", timeout_s=60):
            pass
    assert "tiny-sentiment:doesnotexist" in str(failure.value)


def test_schemathesis_finds_no_server_errors(service: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [BIN / "st", "run", f"{service}/docs.json", "--checks", "not_a_server_error", "--max-examples", "40",
         "--workers", "2"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    summary = [line for line in done.stdout.splitlines() if "passed" in line or "failed" in line]
    assert summary, done.stdout[-2000:]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
