"""Package stage: the champion into the BentoML model store, and a bento built around it.

dvc.yaml: sentiment package models/selected.json models/bento.json bento/sentiment.bento
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pipeline.digests import folder_digest
from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json
from pipeline.params import Params

log = logging.getLogger(__name__)


class PackageParams(Params):
    model_name: str = "movie-reviews-sentiment"  # the BentoML model store's name for the champion
    bentofile: str = "bentofile.yaml"


# The model card's files, as they are named inside a BentoML model (beside the weights) and the Lambda zip's model/.
CARD_FILES = {"summary": "card.json", "markdown": "model_card.md"}


def card_paths(selected: dict[str, Any]) -> dict[str, Path]:
    """The model card's files that select wrote and names in selected.json; none for a champion selected before
    cards were."""
    named = selected.get("card") or {}
    paths = {key: Path(named[key]) for key in CARD_FILES if key in named}
    for path in paths.values():
        if not path.is_file():
            raise PipelineError(f"the model card {path} that selected.json names is missing; run `dvc repro select`")
    return paths


def import_model(name: str, champion: Path, selected: dict[str, Any]) -> str:
    """Copy the champion and its model card into the store (once per content), labelled with where it came from.

    The tag is a digest of the weights and the card, so a new card (a new MLflow version of the same weights) is a
    new model in the store, and the card `GET /model` answers always belongs to the model that serves."""
    import bentoml
    from bentoml.exceptions import NotFound

    card = card_paths(selected)
    tag = f"{name}:{folder_digest(champion, *(card[key] for key in sorted(card)))}"
    try:
        bentoml.models.get(tag)
        log.info("BentoML model %s is already in the store", tag)
        return tag
    except NotFound:
        pass
    mlflow_info = selected.get("mlflow", {})
    labels = {
        "candidate": selected["champion"],
        "kind": selected["kind"],
        "mlflow_run_id": str(mlflow_info.get("run_id", "")),
        "registered_model_version": str(mlflow_info.get("version", "")),
    }
    metadata = {
        "selection_metric": selected["metric"],
        "cv": selected["cv"],
        "test": selected["test"],
        "mlflow": mlflow_info,
    }
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as model:
        shutil.copytree(champion, model.path, dirs_exist_ok=True)
        for key, path in card.items():
            shutil.copyfile(path, Path(model.path) / CARD_FILES[key])
    log.info("imported %s into the BentoML model store as %s", selected["champion"], tag)
    return tag


def package(p: PackageParams, selected_path: Path, serving_out: Path, bento_out: Path) -> dict[str, str]:
    """Import the champion, point the service at it (models/bento.json), build and export the bento."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    selected = read_json(selected_path)
    champion = Path(selected["model_dir"])
    if not (champion / "model.json").exists():
        raise PipelineError(f"{champion} holds no model; run `dvc repro select`")
    tag = import_model(p.model_name, champion, selected)
    # The service reads this file when it is imported, which building the bento does.
    write_json(serving_out, {"model": tag})
    try:
        with staged(bento_out) as archive:
            bento = bentoml.bentos.build_bentofile(p.bentofile, build_ctx=str(Path.cwd()))
            # export_bento appends ".bento" to a name without it and wants an absolute path.
            exported = bentoml.bentos.export_bento(bento.tag, str(archive.absolute()))
            os.replace(exported, archive)
    except BentoMLException as error:
        serving_out.unlink()
        raise PipelineError(f"bento build failed: {str(error).splitlines()[0]}") from None
    except BaseException:
        serving_out.unlink(missing_ok=True)
        raise
    result = {"model": tag, "bento": str(bento.tag)}
    write_json(serving_out, result)
    log.info("built bento %s serving %s; run `bentoml serve` here, or `bentoml serve %s`", bento.tag, tag, bento.tag)
    return result
