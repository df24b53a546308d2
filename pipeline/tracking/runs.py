"""MLflow runs from the stages: the store, flat params, a quick check that the store answers, and a run per baseline.

The tracking store is sqlite:///mlflow.db in the project's root unless MLFLOW_TRACKING_URI names another, such as a
team's `mlflow server`. The root is DVC_ROOT when DVC sets it: `dvc exp run --temp` and `dvc queue` run the stages
in a copy under .dvc/tmp/exps that is deleted afterwards, and DVC_ROOT names the project the user ran them from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from pipeline.errors import PipelineError
from pipeline.params import read_params
from pipeline.progress import mask_uri_secrets

log = logging.getLogger(__name__)

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


SQLITE = "sqlite:///"
STORE_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "mlruns"
# Tags on every run, so a run in the MLflow UI leads back to its DVC experiment, commit and params.
EXPERIMENT_TAG = "dvc.experiment"
COMMIT_TAG = "git.commit"
PARAMS_TAG = "params.digest"


def project_root() -> Path:
    """Where the user ran DVC from: DVC_ROOT (set by `dvc repro` and by every `dvc exp run` mode), else here."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def _local_store(uri: str) -> Path | None:
    """The file of a sqlite store URI; a relative one is taken from the project root, not from the working folder
    (a temporary experiment's copy). None for any other kind of store."""
    if not uri.startswith(SQLITE):
        return None
    path = Path(uri.removeprefix(SQLITE).partition("?")[0])
    return path if path.is_absolute() else project_root() / path


def use_project_store() -> str:
    """Point MLflow at the project's store (see the module docstring) and return its URI; call before logging.

    A sqlite store's new experiments keep their artifacts beside it (mlruns/<experiment>), not in the working
    folder MLflow would pick, which a temporary experiment deletes.
    """
    given = os.environ.get("MLFLOW_TRACKING_URI") or f"{SQLITE}{STORE_FILE}"
    store = _local_store(given)
    uri = given if store is None else f"{SQLITE}{store}" + (f"?{given.partition('?')[2]}" if "?" in given else "")
    # Through the variable MLflow reads on every call, not mlflow.set_tracking_uri(), whose process-wide setting
    # would outlive a caller that changes the variable (a test, a notebook); subprocesses see the same store.
    os.environ["MLFLOW_TRACKING_URI"] = uri
    return uri


def use_experiment(name: str) -> None:
    """mlflow.set_experiment, but a new experiment in a sqlite store gets its artifacts beside the store."""
    store = _local_store(mlflow.get_tracking_uri())
    if store is not None and mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=(store.parent / ARTIFACTS_FOLDER / name).as_uri())
    mlflow.set_experiment(name)


def _git_commit() -> str:
    """The commit the run's code and params come from: an experiment's baseline, else HEAD; "" outside git."""
    if baseline := os.environ.get("DVC_EXP_BASELINE_REV"):
        return baseline
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def params_digest(params: Mapping[str, Any]) -> str:
    """The same for equal params however params.yaml is laid out (comments, key order), as `dvc exp` compares."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance(params_path: Path) -> dict[str, str]:
    """The tags that tie a run to what made it: DVC's experiment name ("" under plain `dvc repro`), the git commit
    and a digest of the whole params file (a queued experiment's -S values are in it)."""
    return {
        EXPERIMENT_TAG: os.environ.get("DVC_EXP_NAME", ""),
        COMMIT_TAG: _git_commit(),
        PARAMS_TAG: params_digest(read_params(params_path)),
    }


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
    """Point MLflow at the project's store (use_project_store), then fail in seconds, naming the store, when it does
    not answer a one-row search; call it before any other work.

    A stage that only finds out when it first logs has already spent its time, and MLflow's retries add minutes.
    A store that answers with an error (a refused password, a 404 from a proxy) fails here too, in one try.
    """
    use_project_store()
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


def log_baseline(
    name: str,
    experiment: str,
    settings: dict[str, Any],
    result: dict[str, Any],
    tags: Mapping[str, str] | None = None,
) -> str:
    """A run beside the candidates', with their test metric names, so the MLflow UI compares them."""
    check_tracking_store()
    try:
        use_experiment(experiment)
        with mlflow.start_run(run_name=name, tags={**(tags or {}), "role": "baseline", "baseline": name}) as run:
            mlflow.log_params(flatten(settings))
            mlflow.log_metrics({key: float(value) for key, value in flatten(result, "test_").items()})
    except MlflowException as error:
        raise tracking_error(error) from None
    return run.info.run_id
