"""The model's own metrics on /metrics and the sampled prediction log, from a real `bentoml serve`."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import bentoml_serve
from tests.e2e.test_service import post

pytestmark = pytest.mark.e2e

POSITIVE = ["A wonderful, superb and moving film!", "Brilliant and delightful.", "A touching masterpiece."]
NEGATIVE = ["Dull, boring, an awful mess.", "The worst, most tedious film."]


@pytest.fixture(scope="module")
def logged(packaged: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server that logs every prediction (rate 1), so the test can count the lines."""
    log = tmp_path_factory.mktemp("observe") / "serve.log"
    with bentoml_serve({**packaged, "SENTIMENT_PREDICTION_LOG_RATE": "1"}, log) as url:
        yield url, log


def samples(text: str, name: str) -> dict[str, float]:
    """`name{labels} value` lines of a Prometheus exposition, keyed by their labels."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            found[key[len(name) :]] = float(value)
    return found


def test_metrics_count_labels_scores_lengths_and_explanations(logged: tuple[str, Path]) -> None:
    url, _ = logged
    for text in POSITIVE + NEGATIVE:
        assert post(url + "/predict", json.dumps({"text": text}).encode())[0] == 200
    assert post(url + "/predict_batch", json.dumps({"texts": NEGATIVE}).encode())[0] == 200
    assert post(url + "/predict", json.dumps({"text": POSITIVE[0], "explain": True}).encode())[0] == 200
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        exposition = response.read().decode()

    counts = {re.search(r'label="(\w+)"', key)[1]: value  # pyright: ignore[reportOptionalSubscript]
              for key, value in samples(exposition, "sentiment_predictions_total").items()}  # fmt: skip
    assert counts == {"positive": 4.0, "negative": 4.0}
    scores = samples(exposition, "sentiment_prediction_score_bucket")
    assert scores['{label="positive",le="+Inf"}'] == 4.0 and scores['{label="negative",le="+Inf"}'] == 4.0
    assert scores['{label="positive",le="0.55"}'] <= scores['{label="positive",le="0.99"}'] <= 4.0
    score_sum = samples(exposition, "sentiment_prediction_score_sum")
    assert 4 * 0.5 <= score_sum['{label="positive"}'] <= 4.0
    lengths = samples(exposition, "sentiment_review_characters_bucket")
    assert lengths['{le="+Inf"}'] == 8.0 and lengths['{le="100.0"}'] == 8.0  # every review here is short
    assert samples(exposition, "sentiment_review_characters_sum")[""] == sum(map(len, POSITIVE + NEGATIVE * 2)) + len(
        POSITIVE[0]
    )
    assert samples(exposition, "sentiment_explanations_total")[""] == 1.0


def test_every_prediction_is_one_json_line_at_rate_1(logged: tuple[str, Path]) -> None:
    url, log = logged
    assert post(url + "/predict", json.dumps({"text": "A superb film, simply wonderful."}).encode())[0] == 200
    deadline = time.monotonic() + 10
    while True:  # the worker's stdout reaches the file through bentoml's pipe: wait for the line, bounded
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"event":"prediction"')]
        if any(line["characters"] == len("A superb film, simply wonderful.") for line in lines):
            break
        assert time.monotonic() < deadline, f"no prediction line in {log}"
        time.sleep(0.2)
    line = next(line for line in lines if line["characters"] == len("A superb film, simply wonderful."))
    assert set(line) == {"event", "time", "model", "label", "score", "characters", "tokens", "oov_share"}
    assert line["label"] == "positive" and 0.5 < line["score"] <= 1
    assert line["tokens"] >= 5 and 0 <= line["oov_share"] < 1  # "simply" is not in the tiny corpus
    assert "text" not in line
