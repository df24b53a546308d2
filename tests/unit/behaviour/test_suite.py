"""The behavioural suite: the shipped cases load and cover the issue's examples, a malformed case is named, and
each kind of case is judged as CheckList judges it, on a model whose every answer can be worked by hand."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

import pytest

from pipeline.behaviour import CASES_FILE, TESTS, Cases, load_cases, run_suite
from pipeline.behaviour.suite import PERTURBATIONS
from pipeline.errors import PipelineError
from pipeline.labels import LABELS, Label, top_label


class Lexicon:
    """A SentimentModel that counts words: P(positive) = sigmoid(#good words - #bad words), lower-case words only
    and no notion of negation, so its failures are known in advance."""

    kind: ClassVar[str] = "lexicon"
    labels: tuple[Label, ...] = LABELS
    GOOD: ClassVar[set[str]] = {"good", "wonderful"}
    BAD: ClassVar[set[str]] = {"bad", "terrible", "dull"}

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self:  # noqa: ARG002 (nothing to learn)
        return self

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        answers = []
        for text in texts:
            words = re.findall(r"[a-z]+", text)
            score = sum(word in self.GOOD for word in words) - sum(word in self.BAD for word in words)
            positive = 1 / (1 + math.exp(-score))
            answers.append({"negative": 1 - positive, "positive": positive})
        return answers

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [top_label(p) for p in self.predict_proba(texts)]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)


def test_the_shipped_cases_load_and_hold_the_issues_examples() -> None:
    cases = load_cases()
    assert list(cases.labelled) == ["minimum_functionality", "negation", "contrast"]
    texts = {test: {text for _, text in rows} for test, rows in cases.labelled.items()}
    assert {"Not good.", "Not bad at all.", "I didn't hate it."} <= texts["negation"]
    assert "Great cast, but a terrible script." in texts["contrast"]
    for test, rows in cases.labelled.items():  # both labels, so a constant answer cannot pass
        assert {label for label, _ in rows} == set(LABELS), test
    assert {kind for kind, _, _ in cases.invariance} == set(PERTURBATIONS)
    assert all(original != perturbed for _, original, perturbed in cases.invariance)
    assert any("terrible" in phrase for phrase in cases.lower) and any("wonderful" in phrase for phrase in cases.higher)


def test_each_kind_of_case_is_judged_by_hand() -> None:
    cases = Cases(
        labelled={
            "minimum_functionality": [
                ("positive", "A good film."),
                ("negative", "A dull film."),
                ("positive", "A film."),
            ],
            "negation": [("negative", "Not good.")],
            "contrast": [("negative", "Good cast, but a terrible, dull script.")],
        },
        invariance=[("casing", "A good film.", "A GOOD FILM."), ("names", "Tom is good.", "Ann is good.")],
        bases=["A film.", "A good film."],
        lower=["terrible.", "not good."],
        higher=["wonderful."],
    )
    report = run_suite(Lexicon(), cases)
    metrics = report.metrics()
    assert list(metrics) == list(TESTS)
    assert {test: (row["failed"], row["cases"]) for test, row in metrics.items()} == {
        "minimum_functionality": (1, 3),  # "A film." scores 0.5: the tie goes to negative
        "negation": (1, 1),  # negation ignored: "Not good." is positive
        "contrast": (0, 1),  # one good word, two bad
        "invariance": (1, 2),  # upper case hides "good": positive became negative
        "direction": (2, 6),  # "not good." raises both bases' positive score
    }
    assert metrics["invariance"]["failure_rate"] == 0.5
    failing = {row["test"]: row for row in report.failing}
    assert failing["negation"] == {
        "test": "negation", "text": "Not good.", "expected": "negative", "got": "positive",
        "positive": pytest.approx(1 / (1 + math.exp(-1))),
    }  # fmt: skip
    assert failing["invariance"]["perturbation"] == "casing" and failing["invariance"]["got"] == "negative"
    directions = [row for row in report.failing if row["test"] == "direction"]
    assert [row["text"] for row in directions] == ["A film. not good.", "A good film. not good."]
    assert all(row["positive"] > row["positive_before"] for row in directions)


def test_an_unmoved_score_is_no_failure_of_direction() -> None:
    # Neither phrase has a word the lexicon knows: the positive score stays exactly where it was.
    cases = Cases({test: [("positive", "good")] for test in TESTS[:3]}, [("names", "good", "good")], ["A film."],
                  ["Terrible."], ["Wonderful."])  # fmt: skip
    assert run_suite(Lexicon(), cases).metrics()["direction"] == {"cases": 2, "failed": 0, "failure_rate": 0.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda text: text.replace("[negative, \"Not good.\"]", "[bad, \"Not good.\"]"),
         r"negation\[0\]: label 'bad' is not one of negative, positive"),
        (lambda text: text.replace("[names, ", "[nicknames, ", 1), r"invariance\[0\]: 'nicknames' is not one of names"),
        (lambda text: text.replace("contrast:", "contrasts:"), r"needs exactly the sections minimum_functionality, "),
        (lambda text: text.replace("  - [positive, \"A masterpiece.\"]", "  - [positive]"),
         r"minimum_functionality\[7\]: got \['positive'\]; needs a list of 2 non-empty strings"),
        (lambda text: text.replace("  lower:", "  lower: []\n  unused:"), r"direction needs exactly the keys"),
    ],
)  # fmt: skip
def test_a_malformed_case_is_named_before_any_model_runs(tmp_path: Path, change, message: str) -> None:
    broken = tmp_path / "cases.yaml"
    broken.write_text(change(CASES_FILE.read_text()))
    with pytest.raises(PipelineError, match=message):
        load_cases(broken)
