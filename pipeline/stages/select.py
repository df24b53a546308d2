"""Select stage: pick the champion by cross-validation on the train split, copy it, register it in MLflow.

dvc.yaml: sentiment select models/candidates metrics plots data/prepared models/champion models/selected.json
Never run this file by its path: `pipeline/` would land on sys.path and shadow the stdlib `select`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from pipeline.behaviour import TESTS
from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json
from pipeline.metrics import CV_KEYS
from pipeline.names import from_data
from pipeline.params import Params
from pipeline.tracking.candidates import CandidateRecord, log_pipeline
from pipeline.tracking.runs import check_tracking_store

log = logging.getLogger(__name__)


class BehaviourFloors(Params):
    """The most of each behavioural test (pipeline/behaviour/cases.yaml) a champion may fail, as a rate of its cases.
    1.0 enforces nothing. The field names are pipeline.behaviour.TESTS (a test checks)."""

    minimum_functionality: float = Field(default=1.0, ge=0, le=1)
    negation: float = Field(default=1.0, ge=0, le=1)
    contrast: float = Field(default=1.0, ge=0, le=1)
    invariance: float = Field(default=1.0, ge=0, le=1)
    direction: float = Field(default=1.0, ge=0, le=1)

    def broken_by(self, behaviour: Mapping[str, Any]) -> list[str]:
        """Each floor a candidate's behaviour.json breaks, worded for a log line: "negation 0.4375 > 0.35"."""
        return [
            f"{test} {behaviour[test]['failure_rate']:.4f} > {floor}"
            for test, floor in self.model_dump().items()
            if behaviour[test]["failure_rate"] > floor
        ]


class SelectParams(Params):
    # A key of each candidate's cv.json: scored by k-fold CV on the train split, never on test.
    metric: str = "accuracy"
    # Fail the run rather than ship a model worse than this (chance is 0.5).
    min_value: float = Field(default=0.6, ge=0, le=1)
    # A candidate whose behavioural failure rate is above any of these cannot be champion, whatever its CV score.
    behaviour_max_failure_rate: BehaviourFloors = Field(default_factory=BehaviourFloors)
    # null: "<data>-sentiment" from fetch.source (pipeline/names.py), so two datasets never share a champion.
    experiment: str | None = None
    registered_model: str | None = None

    @field_validator("metric")
    @classmethod
    def _a_cv_score(cls, metric: str) -> str:
        """On loading too, not only in choose(), so the message names the file and the key as for any other value."""
        if metric not in CV_KEYS:
            raise ValueError(f"a CV score of the train split: one of {', '.join(CV_KEYS)}")
        return metric


def choose(
    cv: dict[str, dict[str, float]], metric: str, min_value: float, barred: Mapping[str, list[str]] | None = None
) -> str:
    """The best CV score among candidates not `barred` (name -> the floors it breaks) wins; a tie goes to the
    candidate listed first in params.yaml."""
    if metric not in CV_KEYS:
        raise PipelineError(f"select.metric '{metric}' is not a CV score; choose one of {', '.join(CV_KEYS)}")
    barred = barred or {}
    eligible = [name for name in cv if not barred.get(name)]
    if not eligible:
        reasons = "; ".join(f"{name}: {', '.join(barred[name])}" for name in cv)
        raise PipelineError(f"no candidate meets the behaviour floors select.behaviour_max_failure_rate: {reasons}")
    best = max(eligible, key=lambda name: cv[name][metric])
    if cv[best][metric] < min_value:
        raise PipelineError(
            f"no candidate reaches select.min_value {min_value} on CV {metric} (best: {best} at {cv[best][metric]:.4f})"
        )
    return best


def _read(path: Path, what: str) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise PipelineError(f"{what} is missing at {path}: run `dvc repro` to make it") from None


def select(
    p: SelectParams,
    candidate_specs: Mapping[str, Mapping[str, Any]],
    candidates: Path,
    metrics: Path,
    plots: Path,
    prepared: Path,
    champion_out: Path,
    selected_out: Path,
    run_params: dict[str, Any] | None = None,
    source: str = "nltk:movie_reviews",
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Choose, register, then write both outputs; a failure anywhere before that leaves the previous ones in place.

    The tracking store is checked first: registering is the only step that can take minutes to fail, and dvc.yaml
    keeps the outputs (`persist: true`) while this runs, so the last champion stays until a new one is complete.
    """
    check_tracking_store()
    if not candidate_specs:
        raise PipelineError("train.candidates is empty: nothing to select from")
    cv = {name: _read(metrics / name / "cv.json", f"CV scores of {name}") for name in candidate_specs}
    behaviour = {name: _read(metrics / name / "behaviour.json", f"behaviour of {name}") for name in candidate_specs}
    for name, tests in behaviour.items():
        if missing := [test for test in TESTS if test not in tests]:
            raise PipelineError(f"behaviour of {name} has no {', '.join(missing)}: run `dvc repro` to remake it")
    floors = p.behaviour_max_failure_rate
    barred = {name: floors.broken_by(behaviour[name]) for name in candidate_specs}
    for name, broken in barred.items():
        if broken:
            log.info("%s cannot be champion: behavioural failure rate above its floor (%s)", name, ", ".join(broken))
    champion = choose(cv, p.metric, p.min_value, barred)
    for name in candidate_specs:
        mark = "  <- champion" if name == champion else "  (barred by a behaviour floor)" if barred[name] else ""
        log.info("%-32s CV %s %.4f%s", name, p.metric, cv[name][p.metric], mark)
    # Test scores are only recorded for people in MLflow here; choose() never saw them.
    records = [
        CandidateRecord(
            name=name,
            spec=candidate_specs[name],
            cv=cv[name],
            test=_read(metrics / name / "test.json", f"test scores of {name}"),
            model_dir=candidates / name,
            plots_dir=plots / name,
            behaviour=behaviour[name],
            barred_by=barred[name],
        )
        for name in candidate_specs
    ]
    champion_record = next(record for record in records if record.name == champion)
    experiment, registered_model = from_data(p.experiment, source), from_data(p.registered_model, source)
    tracked = log_pipeline(
        experiment, registered_model, records, champion, prepared, run_params or {}, metric=p.metric, tags=tags
    )
    selected = {
        "champion": champion,
        "kind": candidate_specs[champion]["kind"],
        "metric": p.metric,
        "cv": cv[champion],
        "test": {key: champion_record.test[key] for key in CV_KEYS},
        "behaviour": {test: behaviour[champion][test]["failure_rate"] for test in TESTS},
        "candidates": {name: cv[name][p.metric] for name in candidate_specs},
        "barred": {name: broken for name, broken in barred.items() if broken},
        "model_dir": str(champion_out),
        "mlflow": tracked,
    }
    with staged(champion_out) as folder, staged(selected_out) as selected_file:
        shutil.copytree(candidates / champion, folder)
        write_json(selected_file, selected)
    log.info(
        "champion: %s (CV %s %.4f), registered as %s", champion, p.metric, cv[champion][p.metric], tracked["model_uri"]
    )
    return selected
