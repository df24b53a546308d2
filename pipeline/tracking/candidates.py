"""MLflow records of a pipeline run: a parent run, one nested run per candidate, the champion registered.

MLflow is a record for people (`mlflow ui`); stages never read it back. The tracking store is
MLflow's own default (sqlite:///mlflow.db in the working directory, which is the repository root
under `dvc repro`) unless MLFLOW_TRACKING_URI names another, such as a team's `mlflow server`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException

from pipeline.files import read_jsonl
from pipeline.labels import LABELS
from pipeline.serving import REQUIREMENTS
from pipeline.tracking.runs import flatten, tracking_error, use_experiment

log = logging.getLogger(__name__)

PYFUNC_FILE = Path(__file__).with_name("pyfunc.py")


PACKAGE_DIR = Path(__file__).parents[1]  # the pipeline package, which the logged model imports


CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class CandidateRecord:
    name: str
    spec: Mapping[str, Any]  # the candidate's params.yaml entry, as written
    cv: dict[str, float]
    test: dict[str, Any]
    model_dir: Path
    plots_dir: Path
    behaviour: dict[str, Any]  # the candidate's behaviour.json: per test its rate, and the failing cases
    barred_by: list[str]  # the behaviour floors it breaks, worded for people; empty when it may be champion


def _datasets(prepared: Path, source: str) -> dict[str, Any]:
    """MLflow datasets (with digests) of the train and test splits, so each run names its data."""
    result = {}
    for split in ("train", "test"):
        path = prepared / f"{split}.jsonl"
        frame = pd.DataFrame(read_jsonl(path), columns=["id", "text", "label"])
        with warnings.catch_warnings():
            # MLflow registers the local-file source twice and warns that a path is ambiguous.
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted", UserWarning)
            result[split] = from_pandas(frame, source=str(path), name=f"{source}:{split}", targets="label")
    return result


def _log_candidate(
    record: CandidateRecord, datasets: dict[str, Any], champion: str, registered_model: str, run_tags: Mapping[str, str]
) -> Any:
    is_champion = record.name == champion
    tags = {
        **run_tags,
        "role": "candidate",
        CHAMPION_ALIAS: str(is_champion).lower(),
        "behaviour_floors": "; ".join(record.barred_by) or "met",
    }
    with mlflow.start_run(run_name=record.name, nested=True, tags=tags):
        mlflow.log_params(flatten(record.spec))
        rates = {test: row for test, row in record.behaviour.items() if isinstance(row, dict)}
        metrics = {**flatten(record.cv, "cv_"), **flatten(record.test, "test_"), **flatten(rates, "behaviour_")}
        mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
        mlflow.log_dict(record.behaviour, "behaviour.json")  # with the failing cases, which are no metric
        mlflow.log_input(datasets["train"], context="training")
        mlflow.log_input(datasets["test"], context="evaluation")
        mlflow.log_artifacts(str(record.plots_dir), artifact_path="plots")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_FILE),
            artifacts={"model": str(record.model_dir)},
            code_paths=[str(PACKAGE_DIR)],
            input_example=["A gripping, beautifully acted film.", "Dull and far too long."],
            pip_requirements=str(REQUIREMENTS),  # what loading it needs, pinned as the image pins it
            registered_model_name=registered_model if is_champion else None,
        )


def _close(figure: Any) -> None:
    from matplotlib import pyplot

    pyplot.close(figure)


def cv_figure(records: list[CandidateRecord], metric: str, champion: str) -> Any:
    """Each candidate's CV `metric` with its spread over folds (± one standard deviation), for the parent run: how
    far apart the candidates really are. The champion is filled; candidates barred by a behaviour floor are grey."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 0.45 * len(records) + 1.6), dpi=100)
    for row, record in enumerate(reversed(records)):
        colour = "tab:orange" if record.name == champion else "grey" if record.barred_by else "tab:blue"
        axes.errorbar(
            record.cv[metric], row, xerr=record.cv[f"{metric}_std"], fmt="o", color=colour, capsize=3,
            markerfacecolor=colour if record.name == champion else "white",
        )  # fmt: skip
    axes.set_yticks(range(len(records)), [record.name for record in reversed(records)])
    axes.set_xlabel(f"train-split CV {metric}: mean ± standard deviation over folds")
    axes.set_title(f"champion: {champion} (filled)\ngrey: barred by a behaviour floor", fontsize="medium")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def log_pipeline(
    experiment: str,
    registered_model: str,
    records: list[CandidateRecord],
    champion: str,
    prepared: Path,
    run_params: dict[str, Any],
    metric: str = "accuracy",
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Log every candidate and register the champion's model (the pipeline's winner); the parent run gets a figure
    of every candidate's CV `metric` with its spread. `tags` go on every run (runs.provenance). Whether the
    registry's `champion` alias moves to the new version is the promotion gate's call
    (pipeline/tracking/promotion.py), not this function's."""
    tags = dict(tags or {})
    source = str(run_params.get("fetch_source", "corpus"))
    try:
        use_experiment(experiment)
        datasets = _datasets(prepared, source)
        with mlflow.start_run(run_name="pipeline", tags={**tags, "role": "pipeline"}) as parent:
            mlflow.log_params(run_params)
            for split, dataset in datasets.items():
                mlflow.log_input(dataset, context="training" if split == "train" else "evaluation")
            champion_info = None
            for record in records:
                info = _log_candidate(record, datasets, champion, registered_model, tags)
                log.info("logged candidate %s to MLflow", record.name)
                if record.name == champion:
                    champion_info = info
            champion_record = next(r for r in records if r.name == champion)
            mlflow.log_metrics({f"champion_{k}": float(champion_record.cv[k]) for k in ("accuracy", "f1_macro")})
            mlflow.set_tag(CHAMPION_ALIAS, champion)
            figure = cv_figure(records, metric, champion)
            mlflow.log_figure(figure, "cv_scores.png")
            _close(figure)
        assert champion_info is not None
        version = champion_info.registered_model_version
        client = mlflow.MlflowClient()
        client.set_model_version_tag(registered_model, version, "candidate", champion)
        client.set_model_version_tag(registered_model, version, "labels", ",".join(LABELS))
        for key, value in tags.items():
            client.set_model_version_tag(registered_model, version, key, value)
    except MlflowException as error:
        raise tracking_error(error) from None
    return {
        "experiment": experiment,
        "parent_run_id": parent.info.run_id,
        "run_id": champion_info.run_id,
        "registered_model": registered_model,
        "version": int(version),
        "model_uri": f"models:/{registered_model}/{version}",
    }
