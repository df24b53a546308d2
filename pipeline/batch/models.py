"""Which model scores: a registry URI resolved to one pinned version, or a folder; downloaded once by the driver.

The alias is resolved before any executor starts, so a `champion` that moves while a long job runs cannot mix two
models in one output: every row names the version that scored it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError

MODEL_FILE = "model.json"  # what pipeline.model.load reads
MLMODEL_FILE = "MLmodel"
REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ResolvedModel:
    uri: str  # as the user gave it
    mlflow_dir: Path | None  # the MLflow model (MLmodel, code, artifacts): what mlflow.pyfunc.spark_udf needs
    model_dir: Path  # the project's saved model (model.json and its weights): what pipeline.model.load reads
    name: str  # the output's `model` column: "registered-name/version", or the folder's name
    run_id: str | None  # the MLflow run that logged it, when known


def _read_mlflow_model(mlflow_dir: Path) -> tuple[Path, str | None]:
    """The saved SentimentModel inside an MLflow model logged by pipeline.tracking (its artifact `model`), and the
    run that logged it, from one read of MLmodel."""
    from mlflow.models import Model

    logged = Model.load(str(mlflow_dir / MLMODEL_FILE))
    artifact = logged.flavors.get("python_function", {}).get("artifacts", {}).get("model", {}).get("path")
    if not artifact or not (mlflow_dir / artifact / MODEL_FILE).is_file():
        raise PipelineError(f"{mlflow_dir} is an MLflow model but not one of this project's (no artifact `model`)")
    return mlflow_dir / artifact, logged.run_id


def resolve_model(uri: str, download_to: Path) -> ResolvedModel:
    """`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `runs:/RUN_ID/PATH`, an MLflow model folder or a folder with
    model.json -> a ResolvedModel whose files are local. A URI that does not resolve is one PipelineError."""
    folder = Path(uri)
    if "://" not in uri and ":/" not in uri:
        if (folder / MLMODEL_FILE).is_file():
            model_dir, run_id = _read_mlflow_model(folder)
            return ResolvedModel(uri, folder, model_dir, folder.resolve().name, run_id)
        if (folder / MODEL_FILE).is_file():
            return ResolvedModel(uri, None, folder, folder.resolve().name, None)
        raise PipelineError(f"model {uri}: no such folder with {MLMODEL_FILE} or {MODEL_FILE}")
    return _download(uri, download_to)


def _download(uri: str, download_to: Path) -> ResolvedModel:
    import mlflow
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from pipeline.progress import mask_uri_secrets

    store = mask_uri_secrets(mlflow.get_tracking_uri())
    try:
        match = REGISTRY_URI.match(uri)
        if match:
            client = mlflow.MlflowClient()
            if match["alias"]:
                version = client.get_model_version_by_alias(match["name"], match["alias"])
            else:
                version = client.get_model_version(match["name"], match["version"])
            pinned = f"models:/{version.name}/{version.version}"
            name, run_id = f"{version.name}/{version.version}", version.run_id
        elif uri.startswith("runs:/") or uri.startswith("models:/"):
            pinned, name, run_id = uri, uri, uri.split("/")[1] if uri.startswith("runs:/") else None
        else:
            raise PipelineError(f"model {uri}: expected models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ or a folder")
        download_to.mkdir(parents=True, exist_ok=True)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=pinned, dst_path=str(download_to)))
    except MlflowException as error:
        reason = error.message.strip().splitlines()[0]
        raise PipelineError(f"model {uri} does not resolve in the tracking store {store}: {reason}") from None
    model_dir, logged_run = _read_mlflow_model(local)
    return ResolvedModel(uri, local, model_dir, name, run_id or logged_run)
