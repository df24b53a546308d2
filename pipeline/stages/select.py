"""Select stage: pick the winner by cross-validation on the train split, register it in MLflow with its model card,
and serve it only if the promotion gate lets it replace the champion.

dvc.yaml: sentiment select models/candidates metrics/candidates plots data/raw data/prepared models/champion
          models/selected.json models/model_card.md models/card.json
Never run this file by its path: `pipeline/` would land on sys.path and shadow the stdlib `select`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from pipeline import model_card
from pipeline.behaviour import TESTS
from pipeline.digests import folder_digest
from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json
from pipeline.metrics import CV_KEYS
from pipeline.names import from_data
from pipeline.params import Params
from pipeline.tracking.candidates import CandidateRecord, log_pipeline
from pipeline.tracking.promotion import Contender, download_served, evaluation, gate, record_card
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
    # The promotion gate (pipeline/tracking/promotion.py): the registry's champion is replaced only by a winner whose
    # selection score on the same evaluation is higher by more than this, or when forced.
    promotion_margin: float = Field(default=0.005, ge=0, le=1)
    force_promotion: bool = False
    card_top_ngrams: int = Field(default=10, ge=1, le=100)  # n-grams per label in the model card

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
    raw: Path,
    prepared: Path,
    champion_out: Path,
    selected_out: Path,
    card_markdown_out: Path,
    card_json_out: Path,
    run_params: dict[str, Any] | None = None,
    cv_seed: int | None = None,
    source: str = "nltk:movie_reviews",
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Choose, register with a model card, gate, then write the outputs; a failure anywhere before that leaves the
    previous ones in place. `cv_seed` (train.cv_seed) is part of what makes two selection scores comparable.

    The outputs always describe the model served, the registry's champion after the gate: the winner when it is
    promoted, else the kept champion, which select's last outputs hold (or, after `sentiment rollback`, MLflow does).
    "winner" and "promotion" in selected.json say what this run chose and why the gate did what it did.

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
    entry = {
        "champion": champion,
        "kind": candidate_specs[champion]["kind"],
        "metric": p.metric,
        "cv": cv[champion],
        "test": {key: champion_record.test[key] for key in CV_KEYS},
        "behaviour": {test: behaviour[champion][test]["failure_rate"] for test in TESTS},
        "model_dir": str(champion_out),
        "mlflow": tracked,
    }
    card = model_card.card(
        name=registered_model, version=tracked["version"], candidate=champion, kind=entry["kind"],
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"), metric=p.metric, model_dir=candidates / champion,
        raw=raw, prepared=prepared, cv=cv[champion], test=champion_record.test, behaviour=behaviour[champion],
        floors=floors.model_dump(), predictions=plots / champion / "predictions.csv", top=p.card_top_ngrams,
    )  # fmt: skip
    markdown = model_card.markdown(card)
    digests = {name: folder_digest(candidates / name) for name in candidate_specs}
    challenger = Contender(
        version=tracked["version"],
        candidate=champion,
        score=cv[champion][p.metric],
        evaluation=evaluation(p.metric, cv[champion]["folds"], cv_seed, card["data"]["train"]["sha256"]),
        digest=digests[champion],
    )
    record_card(registered_model, challenger, tracked["run_id"], card, markdown, entry)
    promotion = gate(
        experiment, registered_model, challenger, margin=p.promotion_margin, force=p.force_promotion,
        metric=p.metric, barred_digests={digests[name]: broken for name, broken in barred.items() if broken}, tags=tags,
    )  # fmt: skip
    outputs = (champion_out, selected_out, card_markdown_out, card_json_out)
    with (
        staged(champion_out) as folder,
        staged(selected_out) as selected_file,
        staged(card_markdown_out) as markdown_file,
        staged(card_json_out) as card_file,
    ):
        if promotion["promoted"]:
            shutil.copytree(candidates / champion, folder)
        else:
            entry, card, markdown = _kept(registered_model, promotion["served_version"], outputs, folder)
        selected = {
            **entry,
            "winner": champion,
            "candidates": {name: cv[name][p.metric] for name in candidate_specs},
            "barred": {name: broken for name, broken in barred.items() if broken},
            "promotion": promotion,
            "card": {"markdown": str(card_markdown_out), "summary": str(card_json_out)},
        }
        write_json(selected_file, selected)
        write_json(card_file, card)
        markdown_file.write_text(markdown, encoding="utf-8")
    log.info(
        "winner: %s (CV %s %.4f), registered as %s; serving %s, version %s",
        champion, p.metric, cv[champion][p.metric], tracked["model_uri"], entry["champion"], entry["mlflow"]["version"],
    )  # fmt: skip
    return selected


ENTRY_KEYS = ("champion", "kind", "metric", "cv", "test", "behaviour", "model_dir", "mlflow")


def _kept(
    registered_model: str, version: int, outputs: tuple[Path, Path, Path, Path], folder: Path
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The kept champion's files into `folder`, and its selected.json record, card and Markdown card: from select's
    last outputs when they hold that version (the usual case), else from MLflow (after `sentiment rollback`)."""
    champion_out, selected_out, markdown_out, card_out = outputs
    last = read_json(selected_out) if selected_out.is_file() else {}
    tracked = last.get("mlflow", {})
    if (
        tracked.get("registered_model") == registered_model
        and tracked.get("version") == version
        and (champion_out / "model.json").is_file()
        and markdown_out.is_file()
        and card_out.is_file()
    ):
        shutil.copytree(champion_out, folder)
        entry = {key: last[key] for key in ENTRY_KEYS}
        return entry, read_json(card_out), markdown_out.read_text(encoding="utf-8")
    log.info(
        "the kept champion, %s version %d, is not select's last output: taking it from MLflow",
        registered_model,
        version,
    )
    return download_served(registered_model, version, folder)
