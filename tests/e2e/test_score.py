"""`sentiment score` on a real local Spark session (local[2]): the real corpus's test split plus rows built to break
it, scored offline exactly as `bentoml serve` answers online; rejects counted; reruns idempotent; one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nltk
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.batch.udf import label_scores
from pipeline.files import read_jsonl
from pipeline.model import load
from pipeline.serving.rules import MAX_BATCH, max_text_bytes
from pipeline.stages.fetch import FetchParams, fetch
from pipeline.stages.prepare import split
from tests.conftest import SHARED_NLTK_DATA
from tests.e2e.conftest import BIN

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (Debian: openjdk-17-jre-headless)", allow_module_level=True)

# Valid, if odd, reviews: each must be scored, and scored as the service scores it.
ODD = {
    "odd-one-word": "good",
    "odd-punctuation": "!!! ... ?!",
    "odd-emoji": "Loved it 😍🎬 — a triumph",
    "odd-rtl-and-combining": "שלום e\u0301le\u0301gant, ﬁne film",
    "odd-nul": "a dull\x00 film",
    "odd-markup": "Great acting.<br /><br />Terrible script, though.",
    "odd-long": "An awful, tedious mess of a film. " * 6000,  # 204,000 characters
}
# Rows that cannot be scored, each with the reason the rejects must give.
BAD = {
    '{"id": "bad-number", "text": 42}': "text is BIGINT, not a string",
    '{"id": "bad-list", "text": ["a", "b"]}': "text is ARRAY<STRING>, not a string",
    '{"id": "bad-null", "text": null}': "missing text",
    '{"id": "bad-missing"}': "missing text",
    '{"id": "bad-blank", "text": " \\t\\n "}': "empty text",
    '{"id": "bad-json", "text": "no closing quote}': "malformed JSON line",
}


def corpus_test_split() -> dict[str, str]:
    """The movie_reviews test split (400 reviews) through NLTK's real corpus reader, as `prepare` splits it."""
    for candidate in (os.environ.get("NLTK_DATA"), str(SHARED_NLTK_DATA)):
        if candidate and (Path(candidate) / "corpora" / "movie_reviews.zip").exists():
            saved = list(nltk.data.path)
            nltk.data.path[:] = [candidate]
            try:
                with tempfile.TemporaryDirectory(prefix="movie-reviews-") as scratch:
                    fetch(FetchParams(source="nltk:movie_reviews"), Path(scratch) / "raw")
                    documents = read_jsonl(Path(scratch) / "raw" / "reviews.jsonl")
                _, test = split(documents, 0.2, 0)
            finally:
                nltk.data.path[:] = saved
            return {row["id"]: row["text"] for row in test}
    pytest.skip("the full movie_reviews corpus is not available (set NLTK_DATA to a folder that has it)")


def run_score(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "sentiment"), "score", *map(str, args)]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


def read_table(folder: Path) -> dict[str, dict[str, Any]]:
    """A Parquet dataset (hive partitions) as rows by id."""
    table = pq.read_table(folder, partitioning="hive")
    return {row["id"]: row for row in table.to_pylist()}


@pytest.fixture(scope="session")
def texts() -> dict[str, str]:
    return {**corpus_test_split(), **ODD}


@pytest.fixture(scope="session")
def job(tmp_path_factory: pytest.TempPathFactory, tiny_champion: Path, texts: dict[str, str]) -> dict[str, Any]:
    """One run over a JSONL file of the test split, the odd reviews and the bad rows."""
    root = tmp_path_factory.mktemp("score")
    (root / "in").mkdir()
    lines = [json.dumps({"id": key, "text": text}) for key, text in texts.items()] + list(BAD)
    (root / "in" / "reviews.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_score(
        root / "in", root / "out", "--model", tiny_champion, "--keep", "id", "--master", "local[2]",
        "--summary", root / "summary.json", cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return {"root": root, "stderr": done.stderr, "summary": json.loads((root / "summary.json").read_text())}


def test_every_valid_row_is_scored_exactly_as_the_model_scores_it(
    job: dict[str, Any], texts: dict[str, str], tiny_champion: Path
) -> None:
    scored = read_table(job["root"] / "out")
    assert set(scored) == set(texts)
    ids = list(texts)
    labels, scores = label_scores(load(tiny_champion), [texts[i] for i in ids])
    for key, label, score in zip(ids, labels, scores, strict=True):
        row = scored[key]
        assert (row["label"], row["score"]) == (label, score), key
        assert row["model"] == tiny_champion.name and row["input_file"] == "reviews.jsonl"
    assert {row["label"] for row in scored.values()} == {"negative", "positive"}


def test_offline_answers_equal_predict_batch_online(job: dict[str, Any], texts: dict[str, str], service: str) -> None:
    scored = read_table(job["root"] / "out")
    servable = [key for key, text in texts.items() if len(text.encode()) <= max_text_bytes()]
    assert len(servable) >= 400
    for start in range(0, len(servable), MAX_BATCH):
        ids = servable[start : start + MAX_BATCH]
        body = json.dumps({"texts": [texts[key] for key in ids]}).encode()
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(f"{service}/predict_batch", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            answers = json.loads(response.read())
        for key, answer in zip(ids, answers, strict=True):
            assert scored[key]["label"] == answer["label"], key
            assert abs(scored[key]["score"] - answer["score"]) <= 1e-9, key


def test_bad_rows_are_counted_and_set_aside_with_their_reason(job: dict[str, Any], texts: dict[str, str]) -> None:
    summary = job["summary"]
    expected: dict[str, int] = {}
    for reason in BAD.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert summary["rejected_by_reason"] == expected
    assert (summary["scored"], summary["rejected"], summary["rows"]) == (len(texts), len(BAD), len(texts) + len(BAD))
    rejects = pq.read_table(job["root"] / "out" / "_rejects", partitioning="hive").to_pylist()
    by_id = {row["id"]: row["reason"] for row in rejects if row["id"] is not None}
    assert by_id["bad-number"] == "text is BIGINT, not a string" and by_id["bad-blank"] == "empty text"
    assert [row["reason"] for row in rejects if row["id"] is None] == ["malformed JSON line"]
    assert "rejected 1: malformed JSON line" in job["stderr"]


def test_a_rerun_replaces_its_partitions_whole_and_keeps_others(job: dict[str, Any], tiny_champion: Path) -> None:
    root, output = job["root"], job["root"] / "out"
    before = read_table(output)
    # Another input, CSV this time (quoted newlines, a doubled quote, a row with too many fields), into the same OUTPUT.
    csv_in = root / "csv"
    csv_in.mkdir()
    (csv_in / "more.csv").write_text(
        'id,text\nc1,"A superb, ""moving"" film.\nTruly."\nc2,"Dull and tedious."\nc3,"x","extra"\nc4,\n',
        encoding="utf-8",
    )
    done = run_score(csv_in, output, "--model", tiny_champion, "--keep", "id", "--master", "local[2]", cwd=root)
    assert done.returncode == 0, done.stderr[-4000:]
    # The first input again: its partition is replaced by an equal one.
    again = run_score(root / "in", output, "--model", tiny_champion, "--keep", "id", "--master", "local[2]", cwd=root)
    assert again.returncode == 0, again.stderr[-4000:]

    after = read_table(output)
    assert {k: v for k, v in after.items() if v["input_file"] == "more.csv"}.keys() == {"c1", "c2"}
    unchanged = ("label", "score", "model", "input_file")
    assert {k: {c: v[c] for c in unchanged} for k, v in after.items() if v["input_file"] == "reviews.jsonl"} == {
        k: {c: v[c] for c in unchanged} for k, v in before.items()
    }
    assert sorted(p.name for p in output.iterdir() if not p.name.startswith(("_", "."))) == [
        "input_file=more.csv",
        "input_file=reviews.jsonl",
    ]
    assert not [p for p in output.rglob("*") if "staging" in p.name or p.name.startswith("_temporary")]
    rejects = pq.read_table(output / "_rejects", partitioning="hive").to_pylist()
    csv_reasons = sorted(row["reason"] for row in rejects if row["input_file"] == "more.csv")
    assert csv_reasons == ["malformed CSV row", "missing text"]


def test_parquet_input_partitioned_by_date(tmp_path: Path, tiny_champion: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"review_id": [1, 2, 3], "body": ["Brilliant, moving.", "Awful, dull.", None]}), source)
    done = run_score(
        source, tmp_path / "out", "--model", tiny_champion, "--text-column", "body", "--keep", "review_id",
        "--partition-by", "scored_date", "--master", "local[2]", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    (partition,) = [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith("scored_date=")]
    table = pq.read_table(tmp_path / "out" / partition)
    assert sorted(table.column("review_id").to_pylist()) == [1, 2]  # the ids keep their Parquet type
    assert set(table.column_names) >= {"review_id", "label", "score", "model", "run_id", "scored_at", "input_file"}


def test_a_clean_rerun_reads_once_and_clears_earlier_rejects(tmp_path: Path, tiny_champion: Path) -> None:
    source = tmp_path / "in" / "a.csv"
    source.parent.mkdir()
    source.write_text('id,text\n1,"Superb."\n2,\n', encoding="utf-8")
    args = (source.parent, tmp_path / "out", "--model", tiny_champion, "--keep", "id", "--master", "local[2]")
    first = run_score(*args, cwd=tmp_path)
    assert first.returncode == 0 and (tmp_path / "out" / "_rejects" / "input_file=a.csv").is_dir(), first.stderr[-3000:]
    source.write_text('id,text\n1,"Superb."\n2,"Awful."\n', encoding="utf-8")
    second = run_score(*args, "--summary", tmp_path / "summary.json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "writing rejects" not in second.stderr  # no second pass over a clean input
    assert not (tmp_path / "out" / "_rejects" / "input_file=a.csv").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["rejected"] == 0
    assert sorted(read_table(tmp_path / "out")) == ["1", "2"]


@pytest.fixture
def mlflow_model(tmp_path: Path, tiny_champion: Path) -> Iterator[Path]:
    """tiny_champion saved as this project logs models to MLflow (models from code, its requirements pinned)."""
    import mlflow

    from pipeline.serving import REQUIREMENTS
    from pipeline.tracking.candidates import PACKAGE_DIR, PYFUNC_FILE

    folder = tmp_path / "mlflow-model"
    mlflow.pyfunc.save_model(
        str(folder),
        python_model=str(PYFUNC_FILE),
        artifacts={"model": str(tiny_champion)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=str(REQUIREMENTS),
    )
    yield folder


def test_mlflow_spark_udf_in_a_built_environment_gives_the_same_answers(
    job: dict[str, Any], mlflow_model: Path, tmp_path: Path
) -> None:
    """--env-manager uv: MLflow builds the model's logged environment and scores in it, as a cluster's nodes would."""
    done = run_score(
        job["root"] / "in", tmp_path / "out", "--model", mlflow_model, "--keep", "id", "--master", "local[2]",
        "--env-manager", "uv", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    # The job's OUTPUT may also hold another input's partition by now (the rerun test): compare this input's rows.
    ours = {key: row for key, row in read_table(job["root"] / "out").items() if row["input_file"] == "reviews.jsonl"}
    theirs = read_table(tmp_path / "out")
    assert sorted(theirs) == sorted(ours)
    for key, row in ours.items():
        assert theirs[key]["label"] == row["label"] and abs(theirs[key]["score"] - row["score"]) <= 1e-9, key


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def test_a_model_uri_that_does_not_resolve_is_one_line(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}"}
    done = run_score(tmp_path, tmp_path / "out", "--model", "models:/nobody@champion", cwd=tmp_path, env=env)
    assert "models:/nobody@champion does not resolve" in one_error_line(done)
    assert not (tmp_path / "out").exists()


def test_a_missing_input_is_one_line(tmp_path: Path, tiny_champion: Path) -> None:
    done = run_score(tmp_path / "nothing-here", tmp_path / "out", "--model", tiny_champion, cwd=tmp_path)
    assert "nothing-here: no such file" in one_error_line(done)
    assert not (tmp_path / "out").exists()


def test_no_java_is_one_line(tmp_path: Path, tiny_champion: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {"PATH": str(bare), "JAVA_HOME": ""}
    done = run_score(tmp_path, tmp_path / "out", "--model", tiny_champion, cwd=tmp_path, env=env)
    assert "Java was not found" in one_error_line(done)


def test_s3_without_the_s3a_connector_is_one_line_naming_it(tmp_path: Path, tiny_champion: Path) -> None:
    done = run_score("s3://reviews/in/", tmp_path / "out", "--model", tiny_champion, cwd=tmp_path)
    line = one_error_line(done)
    assert "s3://reviews/in/" in line and ("S3A connector" in line or "no such file" in line), line


def s3a_connector_installed() -> bool:
    """hadoop-aws beside pyspark's own jars; pip's pyspark does not ship it (docs/scoring.md, S3)."""
    import pyspark

    homes = [Path(pyspark.__file__).parent, *([Path(os.environ["SPARK_HOME"])] if os.environ.get("SPARK_HOME") else [])]
    return any(any((home / "jars").glob("hadoop-aws-*.jar")) for home in homes)


@pytest.mark.aws
@pytest.mark.skipif(not s3a_connector_installed(), reason="no hadoop-aws jar beside pyspark's (Maven is unreachable)")
def test_s3_input_and_output_on_moto(moto_endpoint: str, tmp_path: Path, tiny_champion: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="reviews")
    body = "\n".join(json.dumps({"id": f"r{i}", "text": t}) for i, t in enumerate(["Superb.", "Awful.", ""]))
    s3.put_object(Bucket="reviews", Key="in/part-1.jsonl", Body=body.encode())
    env = {"AWS_ENDPOINT_URL_S3": moto_endpoint}
    done = run_score(
        "s3://reviews/in/", "s3://reviews/out/", "--model", tiny_champion, "--keep", "id", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr[-4000:]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="reviews", Prefix="out/")["Contents"]]
    assert any(k.startswith("out/input_file=part-1.jsonl/") and k.endswith(".parquet") for k in keys), keys
    assert any(k.startswith("out/_rejects/input_file=part-1.jsonl/") for k in keys), keys
