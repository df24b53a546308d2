"""MLflow runs from the stages: flat params, and a run per baseline beside the candidates' runs.

The tracking store is MLflow's own default (sqlite:///mlflow.db in the working directory, the repository root
under `dvc repro`) unless MLFLOW_TRACKING_URI names another, such as a team's `mlflow server`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from pipeline.errors import PipelineError


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a_b": 1}, MLflow's flat key space."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def log_baseline(name: str, experiment: str, settings: dict[str, Any], result: dict[str, Any]) -> str:
    """A run beside the candidates', with their test metric names, so the MLflow UI compares them."""
    try:
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=name, tags={"role": "baseline", "baseline": name}) as run:
            mlflow.log_params(flatten(settings))
            mlflow.log_metrics({key: float(value) for key, value in flatten(result, "test_").items()})
    except MlflowException as error:
        raise PipelineError(f"MLflow at {mlflow.get_tracking_uri()}: {error.message.splitlines()[0]}") from None
    return run.info.run_id
