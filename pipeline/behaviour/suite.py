"""Run the behavioural cases of cases.yaml on any SentimentModel: failure rates per test, and the failing cases.

Accuracy on held-out reviews says how often a model is right on text like its training data; these cases say
whether it is right for the reasons a reader would give (CheckList, Ribeiro et al. 2020): minimum functionality
(MFT), invariance to changes that say nothing about the film (INV), and directional expectations (DIR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import PipelineError
from pipeline.labels import LABELS, top_label
from pipeline.model.contract import SentimentModel

CASES_FILE = Path(__file__).with_name("cases.yaml")

# The tests, in report order; the first three are MFTs of [label, text] rows.
LABELLED = ("minimum_functionality", "negation", "contrast")
TESTS = (*LABELLED, "invariance", "direction")
PERTURBATIONS = ("names", "numbers", "punctuation", "casing", "typo")
# A positive score within this of the base's counts as unmoved: float noise is no change of direction.
DIRECTION_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Cases:
    labelled: dict[str, list[tuple[str, str]]]  # test -> (label, text)
    invariance: list[tuple[str, str, str]]  # (perturbation, original, perturbed)
    bases: list[str]
    lower: list[str]  # phrases that must not raise a base's positive score when appended
    higher: list[str]  # phrases that must not lower it

    def texts(self) -> list[str]:
        """Every text the suite scores, each once."""
        texts = [text for rows in self.labelled.values() for _, text in rows]
        texts += [text for _, original, perturbed in self.invariance for text in (original, perturbed)]
        texts += self.bases + [appended(base, phrase) for base in self.bases for phrase in self.lower + self.higher]
        return list(dict.fromkeys(texts))


@dataclass(frozen=True)
class Report:
    cases: dict[str, int]  # test -> number of cases
    failing: list[dict[str, Any]] = field(default_factory=list)  # one row per failed case, its "test" named

    def failed(self) -> dict[str, int]:
        counts = dict.fromkeys(self.cases, 0)
        for row in self.failing:
            counts[row["test"]] += 1
        return counts

    def metrics(self) -> dict[str, dict[str, float | int]]:
        """What behaviour.json holds per test: DVC metrics, and the failure rate select's floors compare."""
        failed = self.failed()
        return {
            test: {"cases": cases, "failed": failed[test], "failure_rate": failed[test] / cases}
            for test, cases in self.cases.items()
        }


def appended(base: str, phrase: str) -> str:
    return f"{base} {phrase}"


def _rows(section: Any, width: int, where: str) -> list[tuple[str, ...]]:
    if not isinstance(section, list) or not section:
        raise PipelineError(f"{where}: needs a non-empty list")
    for number, row in enumerate(section):
        if not (isinstance(row, list) and len(row) == width and all(isinstance(item, str) and item for item in row)):
            raise PipelineError(f"{where}[{number}]: got {row!r}; needs a list of {width} non-empty strings")
    return [tuple(row) for row in section]


def _texts(section: Any, where: str) -> list[str]:
    if not isinstance(section, list) or not section or not all(isinstance(text, str) and text for text in section):
        raise PipelineError(f"{where}: needs a non-empty list of non-empty strings")
    return section


def load_cases(path: Path = CASES_FILE) -> Cases:
    """The cases in `path`, checked, so a malformed case is named before any model runs."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PipelineError(f"behavioural cases at {path}: {error}".replace("\n", " ")) from None
    if not isinstance(data, dict) or set(data) != set(TESTS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise PipelineError(f"{path}: needs exactly the sections {', '.join(TESTS)}; got {found}")
    labelled = {}
    for test in LABELLED:
        rows = _rows(data[test], 2, f"{path}: {test}")
        for number, (label, _) in enumerate(rows):
            if label not in LABELS:
                raise PipelineError(f"{path}: {test}[{number}]: label {label!r} is not one of {', '.join(LABELS)}")
        labelled[test] = [(label, text) for label, text in rows]
    invariance = [
        (kind, original, perturbed) for kind, original, perturbed in _rows(data["invariance"], 3, f"{path}: invariance")
    ]
    for number, (kind, _, _) in enumerate(invariance):
        if kind not in PERTURBATIONS:
            raise PipelineError(f"{path}: invariance[{number}]: {kind!r} is not one of {', '.join(PERTURBATIONS)}")
    direction = data["direction"]
    if not isinstance(direction, dict) or set(direction) != {"bases", "lower", "higher"}:
        raise PipelineError(f"{path}: direction needs exactly the keys bases, lower and higher")
    bases, lower, higher = (_texts(direction[key], f"{path}: direction.{key}") for key in ("bases", "lower", "higher"))
    return Cases(labelled, invariance, bases, lower, higher)


def run_suite(model: SentimentModel, cases: Cases) -> Report:
    """Score every text once, then judge each case. An invariance case fails when the label changes, right or
    wrong; a direction case when the positive score moves the wrong way by more than float noise."""
    texts = cases.texts()
    scored = dict(zip(texts, model.predict_proba(texts), strict=True))
    label = {text: top_label(probabilities) for text, probabilities in scored.items()}
    positive = {text: probabilities[LABELS[1]] for text, probabilities in scored.items()}
    counts: dict[str, int] = {}
    failing: list[dict[str, Any]] = []
    for test, rows in cases.labelled.items():
        counts[test] = len(rows)
        failing += [
            {"test": test, "text": text, "expected": expected, "got": label[text], "positive": positive[text]}
            for expected, text in rows
            if label[text] != expected
        ]
    counts["invariance"] = len(cases.invariance)
    failing += [
        {"test": "invariance", "perturbation": kind, "original": original, "text": perturbed,
         "expected": label[original], "got": label[perturbed]}
        for kind, original, perturbed in cases.invariance
        if label[perturbed] != label[original]
    ]  # fmt: skip
    counts["direction"] = len(cases.bases) * (len(cases.lower) + len(cases.higher))
    for base in cases.bases:
        for phrase, sign in [(phrase, -1) for phrase in cases.lower] + [(phrase, 1) for phrase in cases.higher]:
            text = appended(base, phrase)
            if sign * (positive[text] - positive[base]) < -DIRECTION_TOLERANCE:
                failing.append(
                    {"test": "direction", "original": base, "text": text,
                     "expected": "positive score no higher" if sign < 0 else "positive score no lower",
                     "positive_before": positive[base], "positive": positive[text]}
                )  # fmt: skip
    return Report(cases=counts, failing=failing)
