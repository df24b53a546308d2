"""The API's rules: bounded work and memory per request, settings and models checked before serving."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import NgramLinearModel, create
from pipeline.model.ngrams.compiled import SWITCH
from pipeline.serving.rules import (
    MAX_EXPLAIN_TOP,
    SCORE_CHUNK_CHARACTERS,
    ExplanationUnavailable,
    check_batch,
    check_model,
    check_settings,
    chunks,
    header_timeout_s,
    max_batch_characters,
    predictions,
)
from tests.conftest import REPO


def test_chunks_keep_order_and_stay_under_the_size_unless_one_text_is_bigger() -> None:
    texts = ["a" * 40, "b" * 40, "c" * 30, "d" * 200, "e" * 10]
    parts = list(chunks(texts, characters=100))
    assert [list(part) for part in parts] == [texts[:2], [texts[2]], [texts[3]], [texts[4]]]
    assert list(chunks([], characters=100)) == []


def test_predictions_in_chunks_equal_one_call(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    model = create("nbsvm", {}).fit(texts, labels)
    many = texts * 3
    calls: list[int] = []
    whole = model.predict_proba(many)
    original = model.predict_proba

    def counted(batch: list[str]) -> list[dict[str, float]]:
        calls.append(sum(map(len, batch)))
        return original(batch)

    model.predict_proba = counted  # type: ignore[method-assign]
    answers = predictions(model, many, "v")
    assert [(a.label, a.score) for a in answers] == [(max(p, key=p.__getitem__), max(p.values())) for p in whole]
    assert calls == [sum(map(len, many))]  # small: one call
    calls.clear()
    huge = ["a " * 50_000] * 40  # 4 MB of one-letter words, what the byte limits allow in one batch
    predictions(model, huge, "v")
    assert len(calls) > 1 and max(calls) <= SCORE_CHUNK_CHARACTERS + 100_000


def test_explained_predictions_score_as_plain_ones_and_add_up(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    model = create("linear_ensemble", {"features": {"mark_negation": True, "tail_sentences": 3}}).fit(texts, labels)
    assert isinstance(model, NgramLinearModel)
    model.rescale(2.0)
    plain, explained = predictions(model, texts, "v"), predictions(model, texts, "v", MAX_EXPLAIN_TOP)
    assert [p.model_dump() for p in plain] == [p.model_dump(exclude={"explanation"}) for p in explained]
    assert all("explanation" not in json.loads(p.model_dump_json()) for p in plain)
    for answer, score in zip(explained, model.scores(texts).tolist(), strict=True):
        why = answer.explanation
        assert why is not None and len(why.contributions) <= MAX_EXPLAIN_TOP
        parts = why.intercept + sum(c.contribution for c in why.contributions) + why.other
        assert abs(parts - score) <= 1e-9


def test_a_model_that_cannot_explain_is_named() -> None:
    class Plain:
        kind, labels = "plain", ("negative", "positive")

        def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
            return [{"negative": 0.5, "positive": 0.5} for _ in texts]

    assert predictions(Plain(), ["fine"], "v")[0].score == 0.5  # type: ignore[arg-type]
    with pytest.raises(ExplanationUnavailable, match=r"served model \(plain\) gives no explanations"):
        predictions(Plain(), ["fine"], "v", 3)  # type: ignore[arg-type]


PEAK = """
import json, re, sys
from pathlib import Path
from pipeline.model import load
from pipeline.serving import rules

def status(key):
    return int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))

rules.SCORE_CHUNK_CHARACTERS = int(sys.argv[2])
model = load(Path(sys.argv[1]))
rules.predictions(model, ["a fine film, not a bad one. Truly."] * 10, "v")  # tables built once per process
idle = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak, to now
rules.predictions(model, ["a " * 49_999] * 160, "v")  # 16 MB: the worst body SENTIMENT_MAX_BODY_BYTES lets in
print(json.dumps({"idle_kib": idle, "peak_kib": status("VmHWM")}))
"""


def peak_memory(model: Path, chunk_characters: int, compiled: bool = True) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(model), str(chunk_characters)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, SWITCH: "1" if compiled else "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_worst_batch_the_limits_allow_stays_within_twice_idle_memory(prepared: Path, tmp_path: Path) -> None:
    """Scored in one call, this request took a worker from 475 MB to 2.66 GB (issue: hardening, finding 1)."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    features = {"mark_negation": True, "tail_sentences": 3}  # the champion's path: scopes and tails vectorized
    create("linear_ensemble", {"features": features}).fit(texts, labels).save(tmp_path / "model")
    for compiled in (True, False):  # the compiled scorer allocates no per-n-gram arrays; numpy's path does
        chunked = peak_memory(tmp_path / "model", SCORE_CHUNK_CHARACTERS, compiled)
        assert chunked["peak_kib"] <= 2 * chunked["idle_kib"], (compiled, chunked)
    whole = peak_memory(tmp_path / "model", 10**9, compiled=False)  # numpy, one call: the check above would fail
    assert whole["peak_kib"] > 2 * whole["idle_kib"], whole


def test_odd_texts_get_a_prediction_from_the_compiled_scorer(prepared: Path) -> None:
    """What the API lets through reaches the compiled scorer as is: each gets a label and a finite score."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    model = create("linear_ensemble", {"features": {"mark_negation": True, "tail_sentences": 3}}).fit(texts, labels)
    assert isinstance(model, NgramLinearModel)
    if model.table.compiled is None:
        pytest.skip("the compiled scorer is not built here")
    odd = [
        "", "   \t\n", "x" * 100_000, "a\x00b \x00 not\x00good", "\ud800 lone \udfff surrogates",
        "😀🎬🍿 great 👍", "\u05d6\u05d4 \u05e1\u05e8\u05d8 \u05de\u05e6\u05d5\u05d9\u05df. not bad!", "¬¬ »» ¤",
    ]  # fmt: skip
    answers = predictions(model, odd, "v")
    assert len(answers) == len(odd)
    assert all(answer.label in ("negative", "positive") and 0.5 <= answer.score <= 1.0 for answer in answers)


class Probabilities:
    """A stand-in model answering fixed probabilities: a broken one without breaking real weights."""

    labels = ("negative", "positive")

    def __init__(self, answer: dict[str, float]) -> None:
        self.answer = answer

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        return [dict(self.answer) for _ in texts]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SENTIMENT_MAX_TEXT_BYTES", "100kB", "SENTIMENT_MAX_TEXT_BYTES must be a whole number of bytes above 0"),
        ("SENTIMENT_MAX_BODY_BYTES", "0", "SENTIMENT_MAX_BODY_BYTES must be a whole number of bytes above 0"),
        ("SENTIMENT_MAX_BATCH_CHARACTERS", "-5", "SENTIMENT_MAX_BATCH_CHARACTERS must be a whole number of characters"),
        ("SENTIMENT_MAX_QUEUED_REQUESTS", "many", "SENTIMENT_MAX_QUEUED_REQUESTS must be a whole number of requests"),
        ("SENTIMENT_MAX_HEADER_BYTES", "1.5", "SENTIMENT_MAX_HEADER_BYTES must be a whole number of bytes"),
        ("SENTIMENT_HEADER_TIMEOUT_S", "nan", "SENTIMENT_HEADER_TIMEOUT_S must be a number of seconds above 0"),
        ("SENTIMENT_HEADER_TIMEOUT_S", "0", "SENTIMENT_HEADER_TIMEOUT_S must be a number of seconds above 0"),
        ("SENTIMENT_CORS_ORIGINS", "*", "SENTIMENT_CORS_ORIGINS must list origins"),
        ("SENTIMENT_PREDICTION_LOG_RATE", "1%", "SENTIMENT_PREDICTION_LOG_RATE must be a share from 0 to 1"),
        ("SENTIMENT_PREDICTION_LOG_RATE", "2", "SENTIMENT_PREDICTION_LOG_RATE must be a share from 0 to 1"),
        ("SENTIMENT_PREDICTION_LOG_RATE", "nan", "SENTIMENT_PREDICTION_LOG_RATE must be a share from 0 to 1"),
    ],
)
def test_a_bad_setting_is_named_at_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """ "100kB" passed start-up and health checks, then answered 400 to every request (issue: hardening, finding 2)."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(PipelineError, match=message) as failure:
        check_settings()
    assert repr(value) in str(failure.value) or value == "*"


def test_every_bad_setting_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_TEXT_BYTES", "100kB")
    monkeypatch.setenv("SENTIMENT_HEADER_TIMEOUT_S", "soon")
    with pytest.raises(PipelineError, match="SENTIMENT_MAX_TEXT_BYTES.*; SENTIMENT_HEADER_TIMEOUT_S"):
        check_settings()


def test_good_settings_pass_and_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_BATCH_CHARACTERS", " 500 ")
    monkeypatch.setenv("SENTIMENT_HEADER_TIMEOUT_S", "2.5")
    check_settings()
    assert max_batch_characters() == 500 and header_timeout_s() == 2.5


def test_a_batch_over_the_character_limit_is_refused_before_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_BATCH_CHARACTERS", "10")
    assert check_batch(["abcde", "fghij"]) == ["abcde", "fghij"]
    with pytest.raises(
        ValueError, match=r"11 characters; the limit is 10 per request \(SENTIMENT_MAX_BATCH_CHARACTERS"
    ):
        check_batch(["abcde", "fghijk"])


def test_a_model_that_answers_anything_but_probabilities_is_refused() -> None:
    check_model(Probabilities({"negative": 0.25, "positive": 0.75}))  # type: ignore[arg-type]
    for broken in ({"negative": math.nan, "positive": math.nan}, {"negative": 0.9, "positive": 0.9}, {"positive": 1.0}):
        with pytest.raises(PipelineError, match="weights are broken"):
            check_model(Probabilities(broken))  # type: ignore[arg-type]


def test_a_prediction_is_never_null() -> None:
    """NaN weights answered every request {"score": null} (issue: hardening, finding 2): now it is an error, a 500."""
    with pytest.raises(PipelineError, match="scored a text nan"):
        predictions(Probabilities({"negative": math.nan, "positive": math.nan}), ["fine"], "v")  # type: ignore[arg-type]
