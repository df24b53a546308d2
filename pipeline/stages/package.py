"""Package stage: the champion into the BentoML model store, and a bento built around it.

dvc.yaml: sentiment package models/selected.json models/bento.json bento/sentiment.bento
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json
from pipeline.params import Params

log = logging.getLogger(__name__)


class PackageParams(Params):
    model_name: str = "movie-reviews-sentiment"  # the BentoML model store's name for the champion
    bentofile: str = "bentofile.yaml"


def digest(folder: Path) -> str:
    """A version from the files' content, so re-packaging the same champion reuses its tag."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def import_model(name: str, champion: Path, selected: dict[str, Any]) -> str:
    """Copy the champion into the store (once per content), labelled with where it came from."""
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{name}:{digest(champion)}"
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
