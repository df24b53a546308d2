"""MLflow runs from the stages: flat params, a quick check that the store answers, and a run per baseline.

The tracking store is MLflow's own default (sqlite:///mlflow.db in the working directory, the repository root
under `dvc repro`) unless MLFLOW_TRACKING_URI names another, such as a team's `mlflow server`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from pipeline.errors import PipelineError
from pipeline.progress import mask_uri_secrets

# MLflow's own HTTP defaults (7 retries, backoff doubling up to 120 s) take about four minutes to give up on a
# closed port. The check asks once more after a failure (a server restarting, a dropped packet) and waits at most
# CHECK_TIMEOUT_S for each answer: a healthy server answers a one-row search in milliseconds.
CHECK_TIMEOUT_S = 4
CHECK_TRIES = 2
CHECK_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(CHECK_TRIES - 1),
    "MLFLOW_HTTP_REQUEST_TIMEOUT": str(CHECK_TIMEOUT_S),
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
}
# "[Errno 111] Connection refused" deep in requests' message names the cause better than its first line does.
SOCKET_ERROR = re.compile(r"\[Errno -?\d+\] ([^\"')]+)|(timed out)")


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


def tracking_uri() -> str:
    """The store MLflow logs to, fit to print: a password in it is masked."""
    return mask_uri_secrets(mlflow.get_tracking_uri())


def tracking_error(error: MlflowException) -> PipelineError:
    """One line naming the store and MLflow's reason, with any credentials in either masked."""
    return PipelineError(f"MLflow at {tracking_uri()}: {mask_uri_secrets(error.message.splitlines()[0])}")


@contextmanager
def _checking() -> Iterator[None]:
    """MLflow's HTTP settings for one quick question, and the user's own back afterwards.

    urllib3's "Retrying ..." warning is held back meanwhile: the check's own message says how often it tried.
    """
    saved = {name: os.environ.get(name) for name in CHECK_SETTINGS}
    retries = logging.getLogger("urllib3.connectionpool")
    level = retries.level
    os.environ.update(CHECK_SETTINGS)
    retries.setLevel(logging.ERROR)
    try:
        yield
    finally:
        retries.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_tracking_store() -> None:
    """Fail in seconds, naming the store, when it does not answer a one-row search; call it before any other work.

    A stage that only finds out when it first logs has already spent its time, and MLflow's retries add minutes.
    A store that answers with an error (a refused password, a 404 from a proxy) fails here too, in one try.
    """
    try:
        with _checking():
            mlflow.MlflowClient().search_experiments(max_results=1)
    except MlflowException as error:
        found = SOCKET_ERROR.search(str(error.__context__ or ""))
        if found is None:
            raise tracking_error(error) from None
        reason = found[1] or f"no answer within {CHECK_TIMEOUT_S} s"
        raise PipelineError(
            f"the MLflow tracking store at {tracking_uri()} does not answer ({reason}; {CHECK_TRIES} tries): "
            "start it, or unset MLFLOW_TRACKING_URI to log to ./mlflow.db"
        ) from None


def log_baseline(name: str, experiment: str, settings: dict[str, Any], result: dict[str, Any]) -> str:
    """A run beside the candidates', with their test metric names, so the MLflow UI compares them."""
    check_tracking_store()
    try:
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=name, tags={"role": "baseline", "baseline": name}) as run:
            mlflow.log_params(flatten(settings))
            mlflow.log_metrics({key: float(value) for key, value in flatten(result, "test_").items()})
    except MlflowException as error:
        raise tracking_error(error) from None
    return run.info.run_id
