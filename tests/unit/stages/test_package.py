from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.stages.package import build_context, build_files
from tests.support.processes import REPO


def test_build_files_are_what_the_bentofile_names() -> None:
    files = build_files(REPO / "bentofile.yaml")
    assert Path("bentofile.yaml") in files and Path("pipeline/serving/requirements.txt") in files
    assert Path("pipeline/deploy/container/Dockerfile.template") in files
    assert Path("pipeline/serving/service.py") in files and Path("frontend/index.html") in files
    assert not [path for path in files if path.parts[0] in ("data", "models", "tests") and path.name != "bento.json"]


def test_the_build_runs_in_a_copy_outside_hidden_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As under `dvc exp run --temp`: the project is a copy inside .dvc/tmp/exps.
    project = tmp_path / ".dvc" / "tmp" / "exps" / "copy"
    (project / "frontend").mkdir(parents=True)
    (project / "frontend" / "index.html").write_text("<p>hi</p>")
    (project / "bentofile.yaml").write_text('service: "a:B"\ninclude: ["frontend/*"]\n')
    monkeypatch.chdir(project)
    with build_context(project / "bentofile.yaml") as context:
        assert Path.cwd() == context and not [part for part in context.parts if part.startswith(".")]
        assert (context / "frontend" / "index.html").read_text() == "<p>hi</p>"
    assert Path.cwd() == project and not context.exists()


def test_a_hidden_temporary_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = tmp_path / ".cache"
    hidden.mkdir()
    (tmp_path / "bentofile.yaml").write_text('service: "a:B"\n')
    monkeypatch.setenv("TMPDIR", str(hidden))
    monkeypatch.setattr("tempfile.tempdir", None)
    with pytest.raises(PipelineError, match=r"hidden folder \.cache\): set TMPDIR elsewhere"):
        with build_context(tmp_path / "bentofile.yaml"):
            pass
    assert os.listdir(hidden) == []
