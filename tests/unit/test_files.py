"""staged(): an output appears whole or not at all, and what a killed writer leaves is ignored, then removed."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.files import PARTIAL, partial_path, staged
from tests.support.processes import REPO

# A stage writing its model folder, stopped by SIGKILL halfway: no `except` or `finally` of staged() runs.
WRITER = """
import sys, time
from pathlib import Path
from pipeline.files import staged
with staged(Path(sys.argv[1])) as folder:
    folder.mkdir()
    (folder / "weights.npz").write_bytes(b"half of it")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_writer_killed_midway_leaves_the_old_output_and_the_next_run_removes_its_fragment(tmp_path: Path) -> None:
    out = tmp_path / "models" / "candidates" / "mnb_bigram"
    out.mkdir(parents=True)
    (out / "model.json").write_text("old")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, out], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()
        writer.wait()
    fragment = tmp_path / "models" / "candidates" / ".mnb_bigram.partial"
    assert (fragment / "weights.npz").exists() and (out / "model.json").read_text() == "old"

    with staged(out) as folder:
        assert folder == fragment and not folder.exists()  # removed before the new run writes a byte
        folder.mkdir()
        (folder / "model.json").write_text("new")
    assert not fragment.exists() and [path.name for path in out.iterdir()] == ["model.json"]
    assert (out / "model.json").read_text() == "new"


def test_a_failed_write_keeps_the_old_output_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "selected.json"
    out.write_text("old")
    with pytest.raises(RuntimeError), staged(out) as temporary:
        temporary.write_text("half")
        raise RuntimeError("MLflow went away")
    assert out.read_text() == "old" and sorted(path.name for path in tmp_path.iterdir()) == ["selected.json"]


@pytest.mark.parametrize("ignore_file", [".dvcignore", ".gitignore"])
def test_dvc_and_git_ignore_the_fragment_staged_writes(ignore_file: str) -> None:
    # A fragment neither ignores would enter the hash of select's `models/candidates` dependency and dvc.lock.
    assert PARTIAL in (REPO / ignore_file).read_text().splitlines()
    for out in (Path("models/candidates/mnb_bigram"), Path("metrics/candidates/mnb_bigram/cv.json")):
        assert fnmatch.fnmatch(partial_path(out).name, PARTIAL) and partial_path(out).parent == out.parent
