"""Package stage: the champion into the BentoML model store, and a bento built around it.

dvc.yaml: sentiment package models/selected.json models/bento.json bento/sentiment.bento
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pipeline.digests import folder_digest
from pipeline.errors import PipelineError
from pipeline.files import read_json, staged, write_json
from pipeline.names import DEFAULT_SOURCE, from_data
from pipeline.params import Params

log = logging.getLogger(__name__)


class PackageParams(Params):
    # The BentoML model store's name for the champion; null: "<data>-sentiment" from fetch.source (pipeline/names.py).
    model_name: str | None = None
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


def build_files(bentofile: Path) -> list[Path]:
    """Every file `bentoml build` reads, relative to the bentofile's folder: the bentofile, its `include` globs,
    the requirements, the Dockerfile template and the setup script."""
    root = bentofile.parent
    config = yaml.safe_load(bentofile.read_text(encoding="utf-8"))
    named = [
        config.get("python", {}).get("requirements_txt"),
        config.get("docker", {}).get("dockerfile_template"),
        config.get("docker", {}).get("setup_script"),
    ]
    found = {Path(bentofile.name), *(Path(name) for name in named if name)}
    for pattern in config.get("include", []):
        found.update(path.relative_to(root) for path in root.glob(pattern) if path.is_file())
    return sorted(found)


@contextlib.contextmanager
def build_context(bentofile: Path) -> Iterator[Path]:
    """A copy of the build's files in a fresh temporary folder, entered while BentoML builds.

    BentoML refuses any file outside the working folder or under a hidden one, and `dvc exp run --temp` or
    `dvc queue` runs this stage in a copy under .dvc/tmp/exps: building from the project itself failed there with
    "Accessing hidden files is not allowed". The copy holds exactly what the bentofile names, in every DVC mode.
    """
    with tempfile.TemporaryDirectory(prefix="sentiment-bento-") as folder:
        context = Path(folder).resolve()
        if hidden := [part for part in context.parts if part.startswith(".")]:
            raise PipelineError(f"BentoML cannot build in {context} (hidden folder {hidden[0]}): set TMPDIR elsewhere")
        for relative in build_files(bentofile):
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bentofile.parent / relative, context / relative)
        with contextlib.chdir(context):
            yield context


def package(
    p: PackageParams, selected_path: Path, serving_out: Path, bento_out: Path, source: str = DEFAULT_SOURCE
) -> dict[str, str]:
    """Import the champion, point the service at it (models/bento.json), build and export the bento."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    selected = read_json(selected_path)
    champion = Path(selected["model_dir"])
    if not (champion / "model.json").exists():
        raise PipelineError(f"{champion} holds no model; run `dvc repro select`")
    tag = import_model(from_data(p.model_name, source), champion, selected)
    # The service reads this file when it is imported, which building the bento does.
    write_json(serving_out, {"model": tag})
    bentofile = Path(p.bentofile).resolve()
    archive_path = bento_out.resolve()
    try:
        with staged(archive_path) as archive, build_context(bentofile) as context:
            bento = bentoml.bentos.build_bentofile(bentofile.name, build_ctx=str(context))
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
