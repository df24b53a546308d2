"""The package's rooms keep their walls: serving needs only model and serving, and every DVC stage depends on
every file it runs, so `dvc repro` can never keep an output made by code that has since changed."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.serving import CLOSURE, closure_files
from tests.support.imports import REPO, closure, files_of, imports_of, module_file

SERVING_ROOTS = ("pipeline.serving.service", "pipeline.serving.lambda_handler")
# What runs besides a stage's own module: `bentoml build` imports the service; MLflow loads the pyfunc file.
STAGE_EXTRA_ROOTS = {"package": ("pipeline.serving.service",), "select": ("pipeline.tracking.pyfunc",)}
# Stages whose code is not in pipeline/stages: batch scoring is a command of its own that a stage may run.
STAGE_MODULES = {"score": "pipeline.batch.score"}


def package_modules(folder: str) -> list[str]:
    return sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO / "pipeline" / folder).rglob("*.py")
    )


@pytest.mark.parametrize("room", ["model", "serving"])
def test_model_and_serving_import_no_stage_tracking_or_deploy_code(room: str) -> None:
    for module in package_modules(room):
        forbidden = {
            name
            for name in imports_of(module)
            if name.split(".")[1:2] in (["stages"], ["tracking"], ["deploy"], ["baselines"])
        }
        assert not forbidden, f"{module} imports {sorted(forbidden)}"


def test_stages_do_not_import_each_other() -> None:
    for module in package_modules("stages"):
        others = {name for name in imports_of(module) if name.startswith("pipeline.stages.")}
        assert not others, f"{module} imports {sorted(others)}: shared code belongs outside stages/"


def test_the_serving_closure_is_what_bentofile_includes_and_covers_every_import() -> None:
    bentofile = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    assert [p for p in bentofile["include"] if p.startswith("pipeline/")] == list(CLOSURE)
    assert bentofile["service"].split(":")[0] in SERVING_ROOTS
    needed = files_of(closure(SERVING_ROOTS))
    missing = needed - set(closure_files())
    assert not missing, f"serving imports files the bento and the Lambda zip would not carry: {sorted(missing)}"


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(dep) or Path(dep) in path.parents or fnmatch.fnmatch(str(path), dep) for dep in deps)


# Pipelines besides the top one, shipped for users to enable by copying them to dvc.yaml; their stages run from the
# top (wdir: ..), so their paths are the top's too.
OTHER_PIPELINES = ("scoring/dvc.yaml.example",)


def stages() -> dict[str, dict]:
    found = dict(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    for pipeline in OTHER_PIPELINES:
        for name, stage in yaml.safe_load((REPO / pipeline).read_text())["stages"].items():
            assert stage.get("wdir") == "..", f"{pipeline}: stage {name} should run from the top (wdir: ..)"
            found[name] = stage
    return found


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_dvc_stage_depends_on_all_the_code_it_runs(name: str) -> None:
    stage = stages()[name]
    body = stage.get("do", stage)
    command = body["cmd"].split()
    assert command[:2] == ["sentiment", name], f"stage {name} should run `sentiment {name}`"
    roots = [STAGE_MODULES.get(name, f"pipeline.stages.{name}"), *STAGE_EXTRA_ROOTS.get(name, ())]
    assert module_file(roots[0]) is not None
    needed = files_of(closure(roots))
    if name == "package":  # the bento carries the whole serving closure, imported or not
        needed |= set(closure_files())
    deps = [str(dep) for dep in body["deps"]]
    missing = sorted(str(path) for path in needed if not covered(path, deps))
    assert not missing, f"dvc.yaml stage {name} runs these files but does not depend on them: {missing}"


def test_only_batch_imports_pyspark_and_the_cli_imports_batch_lazily() -> None:
    """pyspark is an optional 478 MB extra: every other module, the CLI's top level included, runs without it."""
    for module in package_modules(""):
        if module.startswith("pipeline.batch"):
            continue
        spark = {name for name in imports_of(module) if name.split(".")[0] == "pyspark"}
        assert not spark, f"{module} imports {sorted(spark)}"
    script = "import sys, pipeline.cli, pipeline.batch.score; print('pyspark' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "False"


def test_the_roc_overlay_draws_every_candidate() -> None:
    """dvc.yaml's top-level plots cannot loop over train.candidates, so this keeps the list in step with it."""
    [overlay] = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    drawn = overlay["roc_every_candidate"]["y"]
    candidates = yaml.safe_load((REPO / "params.yaml").read_text())["train"]["candidates"]
    assert drawn == {f"plots/{name}/roc.csv": "tpr" for name in candidates}
