"""A corpus larger than the memory limit still trains in mode streaming: the fit runs in a child process under an
address-space limit (RLIMIT_AS, as `ulimit -v` sets it) smaller than the corpus file."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.corpus.splits import read_split
from pipeline.files import write_jsonl
from pipeline.model import NgramLinearModel, create, load

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FEATURES = {"mark_negation": True, "tail_sentences": 3}

# Run in a child process under an address-space limit: the champion's streamed fit of CORPUS, saved to OUT.
CHILD = """
import sys
from pathlib import Path
from pipeline.corpus.stream import chunks, corpus_bytes
from pipeline.model import create
from pipeline.model.linear.streaming import StreamingSettings, fit_streamed
corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
model = create("linear_ensemble", {"features": {"mark_negation": True, "tail_sentences": 3}})
fitted, _, _ = fit_streamed(model, chunks(corpus, 8), StreamingSettings(sample_documents=16), corpus_bytes(corpus))
fitted.save(out)
"""
READ_ALL = "import sys; from pipeline.files import read_jsonl; read_jsonl(__import__('pathlib').Path(sys.argv[1]))"
LIMIT = 1_000 * 2**20  # address space, of which importing numpy, scipy and scikit-learn takes ~540 MiB
# Each row carries a field of this many spaces beside its text: the file outgrows the limit in seconds, and every
# byte of it is read (and parsed) by the streamed fit, but tokenizing 1 GiB of real text would take minutes.
PADDING = 2**20


def limited(code: str, *args: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # each thread reserves address space

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    command = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=env, preexec_fn=cap, capture_output=True, text=True, check=False)


def test_a_corpus_larger_than_the_memory_limit_still_trains(prepared: Path, tmp_path: Path) -> None:
    split = read_split(prepared / "train.jsonl")
    count = 1_100  # x 1 MiB of padding: a 1.1 GiB corpus, over the 1,000 MiB limit
    corpus = tmp_path / "big.jsonl"
    padding = " " * PADDING
    rows = ({"text": split.texts[i % 20], "label": split.labels[i % 20], "padding": padding} for i in range(count))
    write_jsonl(corpus, rows)
    assert corpus.stat().st_size > LIMIT
    # Reading the corpus into memory, as mode memory does, fails under the limit...
    assert "MemoryError" in limited(READ_ALL, corpus).stderr
    # ...and streaming it trains; the texts are the 20 of the tiny corpus, so its columns are theirs.
    done = limited(CHILD, corpus, tmp_path / "model")
    assert done.returncode == 0, done.stderr[-2000:]
    saved = load(tmp_path / "model")
    assert isinstance(saved, NgramLinearModel)
    reference = create("linear_ensemble", {"features": FEATURES}).fit(split.texts, split.labels)
    assert isinstance(reference, NgramLinearModel)
    assert saved.table.vocabulary() == reference.table.vocabulary()
    assert saved.predict(split.texts) == split.labels  # it learnt its training texts
