"""MLflow "model from code": a saved SentimentModel behind mlflow.pyfunc, with nothing pickled.

MLflow runs this file when it logs or loads the model; set_model() names the object that serves.
mlflow.pyfunc.load_model("models:/<name>@champion").predict(["a raw review", ...]) returns, per
text, the label and the probability of each label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel
from pydantic import BaseModel

from pipeline.labels import top_label
from pipeline.model import SentimentModel, load


class LabelProbabilities(BaseModel):
    """One text's label and the probability of each label (the keys of pipeline.model.LABELS)."""

    label: str
    negative: float
    positive: float


class SentimentPyfunc(PythonModel):
    model: SentimentModel

    def load_context(self, context: Any) -> None:
        self.model = load(Path(context.artifacts["model"]))

    # MLflow reads this signature's hints to infer the model's input and output schema; its base class says None.
    def predict(  # pyright: ignore[reportIncompatibleMethodOverride]
        self,
        context: Any,  # noqa: ARG002 (pyfunc signature)
        model_input: list[str],
        params: dict | None = None,  # noqa: ARG002
    ) -> list[LabelProbabilities]:
        probabilities = self.model.predict_proba(model_input)
        return [LabelProbabilities(label=top_label(p), **p) for p in probabilities]


set_model(SentimentPyfunc())
