"""The promotion gate's rule, case by case (the MLflow side is tested with the select stage, on a real store)."""

from __future__ import annotations

import pytest

from pipeline.tracking.promotion import Contender, decide, evaluation

SAME = evaluation("accuracy", 5, 42, "ab" * 32)


def contender(version: int, score: float, digest: str, on: str = SAME) -> Contender:
    return Contender(version=version, candidate=f"model{version}", score=score, evaluation=on, digest=digest)


CHAMPION = contender(1, 0.85, "aaaa")


@pytest.mark.parametrize(
    ("challenger", "options", "promote", "reason"),
    [
        (contender(2, 0.90, "bbbb"), {}, True, "beats the champion, version 1, by +0.0500 > margin 0.01"),
        (
            contender(2, 0.855, "bbbb"),
            {},
            False,
            "beats the champion, version 1, by +0.0050, not more than margin 0.01",
        ),
        (contender(2, 0.86, "bbbb"), {}, False, "not more than margin 0.01"),  # a gain equal to the margin is no win
        (contender(2, 0.80, "bbbb"), {}, False, "by -0.0500, not more than margin 0.01"),
        (contender(2, 0.80, "bbbb"), {"force": True}, True, "forced by select.force_promotion"),
        (contender(2, 0.99, "aaaa"), {}, False, "the same files as the champion, version 1"),
        (contender(2, 0.99, "bbbb"), {"rolled_back": frozenset({"bbbb"})}, False, "`sentiment rollback` demoted"),
        (
            contender(2, 0.80, "bbbb"),
            {"champion_barred": ("negation 0.5000 > 0.35",)},
            True,
            "breaks a behaviour floor",
        ),
        (
            contender(2, 0.99, "bbbb", evaluation("accuracy", 5, 42, "cd" * 32)),
            {},
            False,
            "not the same evaluation, so the scores are not comparable",
        ),
        (contender(2, 0.99, "bbbb", evaluation("accuracy", 10, 42, "ab" * 32)), {}, False, "not the same evaluation"),
        (contender(2, 0.99, "bbbb", evaluation("roc_auc", 5, 42, "ab" * 32)), {}, False, "not the same evaluation"),
    ],
)
def test_decide(challenger: Contender, options: dict, promote: bool, reason: str) -> None:
    decision = decide(challenger, CHAMPION, **{"margin": 0.01, "force": False} | options)
    assert decision.promote is promote and reason in decision.reason


def test_without_a_comparable_champion_the_winner_is_promoted() -> None:
    assert (
        decide(contender(1, 0.7, "aaaa"), None, margin=0.01, force=False).reason == "no version had the champion alias"
    )
    legacy = decide(contender(9, 0.7, "aaaa"), None, margin=0.01, force=False, champion_version=8)
    assert legacy.promote and "version 8, was registered before the gate" in legacy.reason


def test_the_evaluation_names_everything_a_score_depends_on() -> None:
    assert evaluation("accuracy", 5, 42, "ff") == "accuracy of 5-fold CV (seed 42) on the train split sha256:ff"
