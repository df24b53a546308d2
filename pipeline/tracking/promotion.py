"""The promotion gate: the registry's `champion` alias moves to a new version only when it is better on the same
evaluation, by a margin; `previous` keeps the version it replaced, and `sentiment rollback` swaps the two back.

The rule (docs/models.md, "Promotion"): a version's selection score is its train-split CV score, and two such scores
are the same evaluation only when the metric, the CV protocol (folds, seed) and the train split's content (sha256)
are all equal; every registered version carries that as its `evaluation` tag. Scores of different evaluations are
never compared: the gate keeps the champion and says why, and `select.force_promotion` decides instead. It could
not do better without either the test split (which must not decide anything) or retraining the champion's recipe
on the new data (a model nobody would serve). A version that `sentiment rollback` demoted is not promoted again
unless forced, even when a later run registers the same files under a new version number.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import mlflow.artifacts
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from pipeline.errors import PipelineError
from pipeline.files import read_json
from pipeline.tracking.candidates import CHAMPION_ALIAS
from pipeline.tracking.runs import check_tracking_store, tracking_error, use_experiment

log = logging.getLogger(__name__)

PREVIOUS_ALIAS = "previous"
ROLLED_BACK_TAG = "rolled_back"
# Where each registered version's run keeps its card, and the record select writes as selected.json when it serves
# that version: what a later select needs to go on serving it if the gate keeps it.
CARD_ARTIFACTS = "card"
CARD_FILES = ("card.json", "model_card.md", "champion.json")
# A gain must exceed the margin by more than float noise: 0.86 - 0.85 is 0.0100000000000000009, no gain over 0.01.
GAIN_TOLERANCE = 1e-12
# The registry's column for a version's description holds 5,000 characters (MLflow's SQL schema).
DESCRIPTION_LIMIT = 5000


@dataclasses.dataclass(frozen=True)
class Contender:
    """A registered version as the gate sees it: its selection score, what that score was measured on, and a
    digest of its files (pipeline.digests.folder_digest)."""

    version: int
    candidate: str
    score: float
    evaluation: str
    digest: str

    def tags(self) -> dict[str, str]:
        return {
            "candidate": self.candidate,
            "selection_score": repr(self.score),
            "evaluation": self.evaluation,
            "model_digest": self.digest,
        }

    @classmethod
    def of(cls, version: ModelVersion) -> Contender | None:
        """None for a version registered before the gate, which records no evaluation."""
        tags = version.tags or {}
        if not {"selection_score", "evaluation", "model_digest"} <= set(tags):
            return None
        return cls(
            version=int(version.version),
            candidate=tags.get("candidate", ""),
            score=float(tags["selection_score"]),
            evaluation=tags["evaluation"],
            digest=tags["model_digest"],
        )

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluation(metric: str, folds: int, seed: int | None, train_sha256: str) -> str:
    """What a selection score was measured on, as one comparable string."""
    return f"{metric} of {folds}-fold CV (seed {seed}) on the train split sha256:{train_sha256}"


@dataclasses.dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    comparable: bool = False
    gain: float | None = None


def decide(
    challenger: Contender,
    champion: Contender | None,
    *,
    margin: float,
    force: bool,
    champion_version: int | None = None,
    rolled_back: frozenset[str] = frozenset(),
    champion_barred: tuple[str, ...] = (),
) -> Decision:
    """Whether `challenger` replaces `champion` (None: no champion, or, with `champion_version`, one registered
    before the gate). `champion_barred`: the behaviour floors the champion's files break today (select knows when
    they are among today's candidates). The first rule that applies decides; each says why in words a log line can
    carry."""
    comparable = champion is not None and champion.evaluation == challenger.evaluation
    gain = challenger.score - champion.score if champion is not None and comparable else None
    if force:
        return Decision(True, "forced by select.force_promotion", comparable, gain)
    if champion is None and champion_version is None:
        return Decision(True, "no version had the champion alias")
    if champion is None:
        return Decision(
            True, f"the champion, version {champion_version}, was registered before the gate and records no evaluation"
        )
    if champion_barred:
        broken = ", ".join(champion_barred)
        return Decision(
            True, f"the champion, version {champion.version}, breaks a behaviour floor now: {broken}", comparable, gain
        )
    if challenger.digest in rolled_back:
        return Decision(
            False,
            f"its files are those of a version `sentiment rollback` demoted (model digest {challenger.digest}); "
            "set select.force_promotion to promote it again",
            comparable,
            gain,
        )
    if challenger.digest == champion.digest:
        return Decision(False, f"the same files as the champion, version {champion.version}", comparable, gain)
    if not comparable:
        return Decision(
            False,
            f"not the same evaluation, so the scores are not comparable: the champion's is {champion.evaluation}, "
            f"this one's {challenger.evaluation}; set select.force_promotion to promote it",
        )
    assert gain is not None
    if gain - margin > GAIN_TOLERANCE:
        return Decision(
            True, f"beats the champion, version {champion.version}, by {gain:+.4f} > margin {margin}", True, gain
        )
    return Decision(
        False,
        f"beats the champion, version {champion.version}, by {gain:+.4f}, not more than margin {margin}",
        True,
        gain,
    )


def _aliased(client: mlflow.MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def record_card(
    registered_model: str,
    challenger: Contender,
    run_id: str,
    card: dict[str, Any],
    markdown: str,
    entry: dict[str, Any],
) -> None:
    """The card on the version's run (card/card.json, card/model_card.md, card/champion.json), as its description,
    and the gate's tags on the version."""
    client = mlflow.MlflowClient()
    try:
        client.log_dict(run_id, card, f"{CARD_ARTIFACTS}/card.json")
        client.log_text(run_id, markdown, f"{CARD_ARTIFACTS}/model_card.md")
        client.log_dict(run_id, entry, f"{CARD_ARTIFACTS}/champion.json")
        version = str(challenger.version)
        description = markdown
        if len(description) > DESCRIPTION_LIMIT:
            note = f"\n\n(abridged: the whole card is the run's {CARD_ARTIFACTS}/model_card.md)\n"
            description = description[: DESCRIPTION_LIMIT - len(note)] + note
        client.update_model_version(registered_model, version, description=description)
        for key, value in challenger.tags().items():
            client.set_model_version_tag(registered_model, version, key, value)
    except MlflowException as error:
        raise tracking_error(error) from None


def gate(
    experiment: str,
    registered_model: str,
    challenger: Contender,
    *,
    margin: float,
    force: bool,
    metric: str,
    barred_digests: dict[str, list[str]] | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Decide, log the comparison as a run tagged role=promotion (and `tags`, the pipeline's provenance), and move
    the aliases when the challenger wins: `previous` to the champion it replaces, `champion` to it. Returns what
    selected.json records under "promotion"; "served_version" is the version that holds `champion` afterwards."""
    client = mlflow.MlflowClient()
    try:
        holder = _aliased(client, registered_model, CHAMPION_ALIAS)
        champion = Contender.of(holder) if holder is not None else None
        rolled_back = frozenset(
            version.tags["model_digest"]
            for version in client.search_model_versions(f"name = '{registered_model}'")
            if (version.tags or {}).get(ROLLED_BACK_TAG) == "true" and "model_digest" in version.tags
        )
        decision = decide(
            challenger, champion, margin=margin, force=force, rolled_back=rolled_back,
            champion_version=int(holder.version) if holder is not None else None,
            champion_barred=tuple((barred_digests or {}).get(champion.digest, ())) if champion is not None else (),
        )  # fmt: skip
        use_experiment(experiment)
        tags = {
            **(tags or {}),
            "role": "promotion",
            "decision": "promoted" if decision.promote else "kept",
            "reason": decision.reason,
            "challenger_version": str(challenger.version),
            "challenger_evaluation": challenger.evaluation,
        }
        if holder is not None:
            tags |= {"champion_version": holder.version}
        if champion is not None:
            tags |= {"champion_evaluation": champion.evaluation}
        with mlflow.start_run(run_name="promotion", tags=tags) as run:
            mlflow.log_params({"margin": margin, "force_promotion": force, "metric": metric})
            scores = {"challenger_score": challenger.score}
            if champion is not None:
                scores["champion_score"] = champion.score
            if decision.gain is not None:
                scores["gain"] = decision.gain
            mlflow.log_metrics(scores)
        if decision.promote:
            if holder is not None and int(holder.version) != challenger.version:
                client.set_registered_model_alias(registered_model, PREVIOUS_ALIAS, holder.version)
            client.set_registered_model_alias(registered_model, CHAMPION_ALIAS, str(challenger.version))
    except MlflowException as error:
        raise tracking_error(error) from None
    assert decision.promote or holder is not None  # decide() keeps only an existing champion
    served = challenger.version if decision.promote else int(holder.version)  # type: ignore[union-attr]
    log.info(
        "promotion gate: %s version %d (%s): %s",
        "promoted" if decision.promote else "kept the champion, not", challenger.version, challenger.candidate,
        decision.reason,
    )  # fmt: skip
    return {
        "promoted": decision.promote,
        "reason": decision.reason,
        "comparable": decision.comparable,
        "gain": decision.gain,
        "margin": margin,
        "forced": force,
        "challenger": challenger.as_json(),
        "champion": champion.as_json() if champion is not None else None,
        "served_version": served,
        "run_id": run.info.run_id,
    }


def download_served(registered_model: str, version: int, model_out: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A kept champion that select's last outputs do not hold (after `sentiment rollback`): its model files into
    `model_out`, and its selected.json record, card and Markdown card, from the registry."""
    client = mlflow.MlflowClient()
    try:
        run_id = client.get_model_version(registered_model, str(version)).run_id
        with tempfile.TemporaryDirectory() as scratch:
            where = Path(scratch)
            model = Path(
                mlflow.artifacts.download_artifacts(f"models:/{registered_model}/{version}", dst_path=str(where / "m"))
            )
            try:
                card = Path(
                    mlflow.artifacts.download_artifacts(
                        run_id=run_id, artifact_path=CARD_ARTIFACTS, dst_path=str(where / "c")
                    )
                )
            except (MlflowException, OSError):
                raise PipelineError(
                    f"{registered_model} version {version}, the champion the gate keeps, has no model card in MLflow "
                    "(registered before cards): set select.force_promotion to replace it"
                ) from None
            # The pyfunc model holds the saved model as its one artifact, in a folder named after the candidate's.
            (saved,) = (model / "artifacts").iterdir()
            shutil.copytree(saved, model_out)
            entry, summary = read_json(card / "champion.json"), read_json(card / "card.json")
            markdown = (card / "model_card.md").read_text(encoding="utf-8")
    except MlflowException as error:
        raise tracking_error(error) from None
    return entry, summary, markdown


def rollback(experiment: str, registered_model: str) -> dict[str, Any]:
    """Point `champion` at the `previous` version and `previous` at the one it replaces; the demoted version is tagged
    rolled_back, so select does not promote its files again unless forced. Logged as a role=promotion run."""
    check_tracking_store()
    client = mlflow.MlflowClient()
    try:
        try:
            client.get_registered_model(registered_model)
        except MlflowException:
            raise PipelineError(
                f"no registered model {registered_model!r} in this MLflow store: nothing to roll back"
            ) from None
        champion = _aliased(client, registered_model, CHAMPION_ALIAS)
        previous = _aliased(client, registered_model, PREVIOUS_ALIAS)
        if champion is None:
            raise PipelineError(f"{registered_model} has no version with the alias champion: nothing to roll back")
        if previous is None:
            raise PipelineError(
                f"{registered_model} has no version with the alias previous: nothing to roll back to "
                f"(version {champion.version} has been champion since no other was promoted over it)"
            )
        client.set_registered_model_alias(registered_model, CHAMPION_ALIAS, previous.version)
        client.set_registered_model_alias(registered_model, PREVIOUS_ALIAS, champion.version)
        client.set_model_version_tag(registered_model, champion.version, ROLLED_BACK_TAG, "true")
        if (previous.tags or {}).get(ROLLED_BACK_TAG):
            client.delete_model_version_tag(registered_model, previous.version, ROLLED_BACK_TAG)
        use_experiment(experiment)
        tags = {
            "role": "promotion",
            "decision": "rolled_back",
            "reason": "sentiment rollback",
            "champion_version": previous.version,
            "previous_version": champion.version,
        }
        with mlflow.start_run(run_name="rollback", tags=tags) as run:
            pass
    except MlflowException as error:
        raise tracking_error(error) from None
    log.info(
        "%s@champion is version %s again (was %s, now @previous); for the bento too, run "
        "`dvc repro --force --single-item select` then `dvc repro`",
        registered_model, previous.version, champion.version,
    )  # fmt: skip
    return {"champion": int(previous.version), "previous": int(champion.version), "run_id": run.info.run_id}
