"""A real model card for a model trained on the tiny corpus: evaluate, then pipeline.model_card, as select does."""

from __future__ import annotations

from pathlib import Path

from pipeline import model_card
from pipeline.behaviour import CASES_FILE
from pipeline.files import read_json, write_json
from pipeline.stages.evaluate import evaluate


def write_card(root: Path, model_dir: Path, candidate: str) -> dict[str, Path]:
    """The card of `model_dir`, trained by tests.conftest.train_tiny_champion(root, ...) (root/raw, root/prepared and
    root/cv.json are its), written as root/card.json and root/model_card.md, as selected.json names them."""
    evaluate(model_dir, root / "prepared", CASES_FILE, root / "test.json", root / "behaviour.json", root / "plots")
    card = model_card.card(
        name="tiny-sentiment", version=1, candidate=candidate, kind=read_json(model_dir / "model.json")["kind"],
        trained_at="2026-12-03T12:00:00+00:00", metric="accuracy", model_dir=model_dir, raw=root / "raw",
        prepared=root / "prepared", cv=read_json(root / "cv.json"), test=read_json(root / "test.json"),
        behaviour=read_json(root / "behaviour.json"), floors={"negation": 0.35},
        predictions=root / "plots" / "predictions.csv",
    )  # fmt: skip
    write_json(root / "card.json", card)
    (root / "model_card.md").write_text(model_card.markdown(card), encoding="utf-8")
    return {"summary": root / "card.json", "markdown": root / "model_card.md"}
