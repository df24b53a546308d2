"""The Lambda handler in-process, with the event shapes API Gateway (v1, v2) and Function URLs send."""

from __future__ import annotations

import base64
import json
import math
import shutil
from pathlib import Path

import pytest

from pipeline.files import read_json
from pipeline.model import create
from pipeline.serving import lambda_handler
from pipeline.serving.lambda_handler import handler
from tests.conftest import train_tiny_champion
from tests.support.card import write_card

ORIGIN = "https://site.example"


@pytest.fixture(autouse=True)
def tiny_champion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    model = create("nltk_naive_bayes", {"features": {"stopwords": ["a", "and", "the"]}})
    model.fit(
        ["a superb and moving film", "wonderful cast", "a dull and boring mess", "awful tedious plot"],
        ["positive", "positive", "negative", "negative"],
    )
    model.save(tmp_path / "model")
    (tmp_path / "model" / "bento.json").write_text('{"model": "movie-reviews-sentiment:abc123"}')
    monkeypatch.setenv("SENTIMENT_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SENTIMENT_CORS_ORIGINS", ORIGIN)
    lambda_handler.champion.cache_clear()
    yield tmp_path / "model"
    lambda_handler.champion.cache_clear()


def rest_v1(path: str, body: str, method: str = "POST", headers: dict | None = None) -> dict:
    """API Gateway REST API, payload format 1.0."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Origin": ORIGIN, **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "prod", "requestId": "r-1"},
        "body": body,
        "isBase64Encoded": False,
    }


def http_v2(path: str, body: str, method: str = "POST", headers: dict | None = None, encoded: bool = False) -> dict:
    """HTTP API, payload format 2.0 (Function URLs send the same shape, routeKey "$default")."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "origin": ORIGIN, **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-1",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": "r-2",
            "stage": "$default",
        },
        "body": base64.b64encode(body.encode()).decode() if encoded else body,
        "isBase64Encoded": encoded,
    }


def function_url(path: str, body: str, **kwargs) -> dict:
    event = http_v2(path, body, **kwargs)
    event["routeKey"] = "$default"
    event["requestContext"]["domainName"] = "xyz.lambda-url.us-east-1.on.aws"
    return event


EVENTS = [rest_v1, http_v2, function_url]


@pytest.mark.parametrize("make", EVENTS)
def test_predict_answers_like_the_service(make) -> None:
    response = handler(make("/predict", json.dumps({"text": "A superb, moving film!"})))
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["label"] == "positive" and 0.5 < answer["score"] <= 1
    assert answer["model"] == "movie-reviews-sentiment:abc123"
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("make", EVENTS)
def test_batch_keeps_order(make) -> None:
    response = handler(make("/predict_batch", json.dumps({"texts": ["dull, boring mess", "wonderful cast"]})))
    assert [a["label"] for a in json.loads(response["body"])] == ["negative", "positive"]


@pytest.mark.parametrize("make", EVENTS)
def test_explain_is_opt_in_and_adds_up(make) -> None:
    """The tiny champion is NLTK's naive Bayes: its explanation splits NLTK's own log-odds by word."""
    plain = json.loads(handler(make("/predict", json.dumps({"text": "A superb, moving film!"})))["body"])
    assert "explanation" not in plain
    body = {"text": "A superb, moving film!", "explain": True, "top": 1}
    answer = json.loads(handler(make("/predict", json.dumps(body)))["body"])
    assert {key: answer[key] for key in plain} == plain
    why = answer["explanation"]
    assert set(why) == {"intercept", "contributions", "other"} and len(why["contributions"]) == 1
    assert why["contributions"][0]["ngram"] in {"superb", "moving", "film"}
    log_odds = why["intercept"] + why["contributions"][0]["contribution"] + why["other"]
    assert log_odds == pytest.approx(math.log(answer["score"] / (1 - answer["score"])), abs=1e-9)
    batch = {"texts": ["dull, boring mess", "wonderful cast"], "explain": True}
    answers = json.loads(handler(make("/predict_batch", json.dumps(batch)))["body"])
    assert [len(a["explanation"]["contributions"]) for a in answers] == [3, 2]  # every word it knows


def test_base64_body_from_a_function_url() -> None:
    response = handler(function_url("/predict", json.dumps({"text": "wonderful"}), encoded=True))
    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/predict", '{"text": ""}', 400, "text is empty"),
        ("/predict", '{"text": "   "}', 400, "text is empty"),
        ("/predict", '{"text": 5}', 400, "'text' is required and must be a string"),
        ("/predict", '{"review": "x"}', 400, "'text' is required"),
        ("/predict", '{"text": "x"', 400, "invalid JSON"),
        ("/predict", '["x"]', 400, "send a JSON object"),
        ("/predict", json.dumps({"text": "a" * 100_001}), 400, "limit is 100,000"),
        ("/predict_batch", '{"texts": []}', 400, "1 to 1000 reviews"),
        ("/predict_batch", json.dumps({"texts": ["ok"] * 1001}), 400, "1 to 1000 reviews"),
        ("/predict_batch", '{"texts": ["ok", 3]}', 400, "list of strings"),
        ("/other", '{"text": "x"}', 404, "no endpoint /other"),
        ("/predict", '{"text": "x", "explain": "yes"}', 400, "explain: Input should be a valid boolean"),
        ("/predict", '{"text": "x", "explain": 1}', 400, "explain: Input should be a valid boolean"),
        ("/predict", '{"text": "x", "explain": true, "top": 0}', 400, "greater than or equal to 1"),
        ("/predict", '{"text": "x", "explain": true, "top": 101}', 400, "top: Input should be less than"),
        ("/predict", '{"text": "x", "explain": true, "top": "10"}', 400, "top: Input should be a valid integer"),
        ("/predict_batch", '{"texts": ["x"], "explain": true, "top": 2.5}', 400, "top: Input should be a valid"),
        # Python's json raises RecursionError and ValueError (not JSONDecodeError) on these: they escaped, a 502.
        ("/predict", "[" * 100_000 + "]" * 100_000, 400, "unreadable JSON"),
        ("/predict", '{"text": ' + "9" * 5000 + "}", 400, "unreadable JSON"),
    ],
)
@pytest.mark.parametrize("make", EVENTS)
def test_bad_input_gets_a_4xx_with_a_message(make, path: str, body: str, status: int, message: str) -> None:
    response = handler(make(path, body))
    assert response["statusCode"] == status
    assert message in json.loads(response["body"])["error"]
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN  # the page can read the message


def test_method_content_type_and_bad_base64() -> None:
    assert handler(http_v2("/predict", "", method="GET"))["statusCode"] == 405
    response = handler(http_v2("/predict", "text=x", headers={"content-type": "application/x-www-form-urlencoded"}))
    assert response["statusCode"] == 415
    event = http_v2("/predict", "x")
    event.update(body="!!not base64!!", isBase64Encoded=True)
    assert handler(event)["statusCode"] == 400


def test_preflight_allows_the_configured_origin_only() -> None:
    allowed = handler(http_v2("/predict", "", method="OPTIONS"))
    assert allowed["statusCode"] == 204 and allowed["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    denied = handler(http_v2("/predict", "", method="OPTIONS", headers={"origin": "https://evil.example"}))
    assert denied["statusCode"] == 403 and "Access-Control-Allow-Origin" not in denied["headers"]
    response = handler(http_v2("/predict", '{"text": "good"}', headers={"origin": "https://evil.example"}))
    assert response["statusCode"] == 200 and "Access-Control-Allow-Origin" not in response["headers"]


def test_model_loads_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real_load = lambda_handler.load
    monkeypatch.setattr(lambda_handler, "load", lambda directory: loads.append(directory) or real_load(directory))
    for _ in range(3):
        handler(http_v2("/predict", '{"text": "wonderful"}'))
    assert len(loads) == 1


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_BODY_BYTES", "1000")
    body = json.dumps({"texts": ["a " * 300] * 3})
    response = handler(http_v2("/predict_batch", body))
    assert response["statusCode"] == 413 and "SENTIMENT_MAX_BODY_BYTES" in json.loads(response["body"])["error"]
    encoded = http_v2("/predict_batch", body, encoded=True)
    assert handler(encoded)["statusCode"] == 413
    assert handler(http_v2("/predict", json.dumps({"text": "é" * 600})))["statusCode"] == 413  # 1,200 bytes


@pytest.mark.parametrize(
    "event",
    [None, [], "text", {"body": 5, "httpMethod": "POST"}, {"headers": ["x"], "httpMethod": "POST"},
     {"requestContext": "x", "rawPath": "/predict", "body": "{}"}, {"httpMethod": 7}],
)  # fmt: skip
def test_a_malformed_event_is_a_4xx_never_an_exception(event: object) -> None:
    response = handler(event)
    assert 400 <= response["statusCode"] < 500
    assert json.loads(response["body"])["error"]


def test_a_fault_inside_is_a_500_with_a_message_never_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(directory: Path) -> None:
        raise RuntimeError(f"weights vanished from {directory}")

    monkeypatch.setattr(lambda_handler, "load", broken)
    response = handler(http_v2("/predict", '{"text": "fine"}'))
    assert response["statusCode"] == 500 and "log" in json.loads(response["body"])["error"]


def test_a_batch_over_the_character_limit_is_a_400_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_BATCH_CHARACTERS", "20")
    response = handler(http_v2("/predict_batch", json.dumps({"texts": ["a superb film", "a dull mess!"]})))
    assert response["statusCode"] == 400 and "SENTIMENT_MAX_BATCH_CHARACTERS" in json.loads(response["body"])["error"]


def test_a_bad_setting_or_a_model_answering_nan_is_a_500_never_a_null_score(
    monkeypatch: pytest.MonkeyPatch, tiny_champion: Path
) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_TEXT_BYTES", "100kB")
    assert handler(http_v2("/predict", '{"text": "fine"}'))["statusCode"] == 500
    monkeypatch.delenv("SENTIMENT_MAX_TEXT_BYTES")
    model = lambda_handler.load(tiny_champion)
    monkeypatch.setattr(
        model, "predict_proba", lambda texts: [{"negative": math.nan, "positive": math.nan}] * len(texts)
    )
    monkeypatch.setattr(lambda_handler, "load", lambda directory: model)  # noqa: ARG005
    lambda_handler.champion.cache_clear()
    response = handler(http_v2("/predict", '{"text": "fine"}'))
    assert response["statusCode"] == 500 and "null" not in response["body"]


def test_get_model_answers_the_cards_summary(tiny_champion: Path, tmp_path: Path) -> None:
    assert handler(http_v2("/model", "", method="GET"))["statusCode"] == 404  # packaged before cards
    trained = tmp_path / "trained"
    card = write_card(trained, train_tiny_champion(trained, trained / "champion"), "seed_nb")["summary"]
    shutil.copyfile(card, tiny_champion / "card.json")
    for event in (http_v2("/model", "", method="GET"), rest_v1("/model", "", method="GET")):
        answer = handler(event)
        assert answer["statusCode"] == 200, answer
        summary = json.loads(answer["body"])
        assert summary["model"] == "movie-reviews-sentiment:abc123"  # the tag /predict answers with
        assert summary["candidate"] == "seed_nb" and summary["data"]["sha256"] == read_json(card)["data"]["sha256"]
        assert answer["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    (tiny_champion / "card.json").write_text("{not json")
    assert handler(http_v2("/model", "", method="GET"))["statusCode"] == 500  # a broken package, logged
