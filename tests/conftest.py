"""Shared fixtures: a tiny corpus in NLTK's own on-disk layout, and per-test MLflow stores.

The tiny corpus is written as corpora/movie_reviews/{pos,neg}/*.txt, corpora/stopwords/english and
a tiny sentiment/vader_lexicon.zip,
so the real NLTK corpus readers run on it; no test reaches the network.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nltk
import pytest

from pipeline.stages.fetch import FetchParams, fetch
from pipeline.stages.prepare import PrepareParams, prepare
from pipeline.stages.train import TrainParams, train
from tests.support.processes import REPO, free_port, serving

SHARED_NLTK_DATA = REPO.parent / "shared" / "nltk_data"

POSITIVE = ["wonderful", "superb", "moving", "brilliant", "delightful", "masterpiece", "touching", "excellent"]
NEGATIVE = ["dull", "boring", "awful", "tedious", "mess", "stupid", "worst", "lifeless"]
NEUTRAL = ["film", "story", "plot", "actor", "scene", "director", "script", "music", "ending", "cast"]
TINY_STOPWORDS = ["the", "a", "and", "is", "was", "it", "this", "of", "not", "no"]
REVIEWS_PER_LABEL = 12
VADER_LEXICON = Path("sentiment") / "vader_lexicon.zip"


def make_review(rng: random.Random, words: list[str]) -> str:
    """A review in movie_reviews' stored form: lower-cased, tokens split by spaces, a sentence a line."""
    sentences = [
        f"the {rng.choice(NEUTRAL)} is {rng.choice(words)} , and the {rng.choice(NEUTRAL)} was {rng.choice(words)} ."
        for _ in range(3)
    ]
    return " \n".join(sentences) + " \n"


def write_tiny_nltk_data(root: Path) -> Path:
    rng = random.Random(7)
    for category, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        folder = root / "corpora" / "movie_reviews" / category
        folder.mkdir(parents=True)
        for number in range(REVIEWS_PER_LABEL):
            (folder / f"cv{number:03d}_{rng.randrange(10000)}.txt").write_text(make_review(rng, words))
    stopwords = root / "corpora" / "stopwords"
    stopwords.mkdir(parents=True)
    (stopwords / "english").write_text("\n".join(TINY_STOPWORDS) + "\n")
    # VADER's format: token, mean valence, std, ratings; NLTK's reader wants no trailing newline.
    lexicon = [f"{word}\t2.5\t0.5\t[2, 3]" for word in POSITIVE] + [f"{word}\t-2.5\t0.5\t[-2, -3]" for word in NEGATIVE]
    (root / "sentiment").mkdir()
    with zipfile.ZipFile(root / "sentiment" / "vader_lexicon.zip", "w") as archive:
        archive.writestr("vader_lexicon/vader_lexicon.txt", "\n".join(lexicon))
    return root


@pytest.fixture(scope="session")
def tiny_nltk_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_nltk_data(tmp_path_factory.mktemp("nltk_data"))


def use_nltk_data(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Point this process and its subprocesses at `root` only, and make downloads fail offline."""
    monkeypatch.setattr(nltk.data, "path", [str(root)])
    monkeypatch.setenv("NLTK_DATA", str(root))
    monkeypatch.setattr(nltk, "download", lambda *_args, **_kwargs: False)


@pytest.fixture
def nltk_home(tiny_nltk_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_nltk_data(monkeypatch, tiny_nltk_data)
    return tiny_nltk_data


@pytest.fixture
def full_corpus(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real movie_reviews corpus: ../shared/nltk_data or NLTK_DATA; skipped where neither has it."""
    for candidate in (os.environ.get("NLTK_DATA"), str(SHARED_NLTK_DATA)):
        if candidate and (Path(candidate) / "corpora" / "movie_reviews.zip").exists():
            use_nltk_data(monkeypatch, Path(candidate))
            return Path(candidate)
    pytest.skip("the full movie_reviews corpus is not available (set NLTK_DATA to a folder that has it)")


@pytest.fixture
def vader_lexicon(nltk_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real VADER lexicon copied beside the tiny corpus; skipped where no copy is found."""
    for candidate in (os.environ.get("NLTK_DATA"), str(SHARED_NLTK_DATA)):
        if candidate and (Path(candidate) / VADER_LEXICON).exists():
            extra = tmp_path / "nltk_lexicon"
            (extra / VADER_LEXICON).parent.mkdir(parents=True)
            shutil.copy(Path(candidate) / VADER_LEXICON, extra / VADER_LEXICON)
            # Ahead of the tiny corpus, whose own small lexicon only serves the dvc repro test.
            monkeypatch.setattr(nltk.data, "path", [str(extra), str(nltk_home)])
            monkeypatch.setenv("NLTK_DATA", os.pathsep.join([str(extra), str(nltk_home)]))
            return extra
    pytest.skip("sentiment/vader_lexicon.zip is not available (set NLTK_DATA to a folder that has it)")


@pytest.fixture(autouse=True)
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own sqlite store, so nothing lands in the repository's mlflow.db."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def prepared(nltk_home: Path, tmp_path: Path) -> Path:  # noqa: ARG001 (nltk_home: the corpus it points at)
    """The tiny corpus fetched and split (10 train and 2 test reviews per label)."""
    fetch(FetchParams(source="nltk:movie_reviews"), tmp_path / "data" / "raw")
    prepare(PrepareParams(test_fraction=0.2, seed=0), tmp_path / "data" / "raw", tmp_path / "data" / "prepared")
    return tmp_path / "data" / "prepared"


TINY_TRAIN = TrainParams(
    cv_folds=2,
    cv_seed=1,
    candidates={
        "seed_nb": {"kind": "nltk_naive_bayes", "features": {"stopwords": "english"}},
        "stem_binary_nb": {
            "kind": "nltk_naive_bayes",
            "features": {"stopwords": "english", "stem": "english", "binary": True},
        },
        # The champion's kind and features: served by the compiled scorer, as the real champion is.
        "ensemble_negation_tail": {
            "kind": "linear_ensemble",
            "features": {"mark_negation": True, "tail_sentences": 3},
        },
    },
)


def train_tiny_champion(root: Path, destination: Path, candidate: str = "seed_nb") -> Path:
    """A TINY_TRAIN candidate fitted on the tiny corpus (NLTK data, raw and prepared splits under `root`), saved to
    `destination`.

    For tests that serve or package a model, where its quality does not matter but its realness does.
    """
    nltk_data = write_tiny_nltk_data(root / "nltk_data")
    saved_path = list(nltk.data.path)
    nltk.data.path[:] = [str(nltk_data)]
    try:
        fetch(FetchParams(), root / "raw")
        prepare(PrepareParams(), root / "raw", root / "prepared")
        train(TINY_TRAIN, candidate, root / "prepared", destination, root / "cv.json")
    finally:
        nltk.data.path[:] = saved_path
    return destination


@contextmanager
def mlflow_server(folder: Path, artifacts: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a sqlite backend in `folder`; its workers are stopped with it."""
    port = free_port()
    command = [
        Path(sys.executable).parent / "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", artifacts,
    ]  # fmt: skip
    log = folder / "server.log"
    with serving(command, port=port, log=log, name="mlflow server", ready_path="/health", cwd=folder, env=env) as up:
        yield up.url


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto in server mode: a real HTTP endpoint on 127.0.0.1, with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    # AWS-managed policies (e.g. AWSLambdaBasicExecutionRole) attach only when moto loads them.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto's backends live in this process, shared by every server: start each test from nothing.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        yield url
    finally:
        server.stop()
