"""The pieces of `sentiment score` that need no Spark: URIs, formats, params, errors, and the scoring rule itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.batch.inputs import _format, hadoop_uri
from pipeline.batch.models import resolve_model
from pipeline.batch.score import ScoreParams, _s3_conf
from pipeline.batch.session import first_line
from pipeline.batch.udf import label_scores
from pipeline.cli import main
from pipeline.errors import PipelineError
from pipeline.model import load
from pipeline.params import load_section
from pipeline.serving.rules import predictions
from tests.conftest import REPO, train_tiny_champion


def test_s3_uris_are_read_through_hadoops_s3a_connector() -> None:
    assert hadoop_uri("s3://reviews/2026/*.jsonl") == "s3a://reviews/2026/*.jsonl"
    assert hadoop_uri("/data/in.csv") == "/data/in.csv" and hadoop_uri("hdfs://nn/in") == "hdfs://nn/in"


def test_the_format_comes_from_the_file_names_or_the_option() -> None:
    assert _format("in", ["a.jsonl", "b.ndjson"], "auto") == "jsonl"
    assert _format("in", ["a.PARQUET"], "auto") == "parquet"
    assert _format("in", ["a.txt"], "csv") == "csv"
    with pytest.raises(PipelineError, match="cannot tell the format"):
        _format("in", ["a.csv", "b.parquet"], "auto")
    with pytest.raises(PipelineError, match="pass --format"):
        _format("in", ["reviews"], "auto")


def test_a_jvm_error_is_reduced_to_its_reason() -> None:
    error = RuntimeError(
        "An error occurred while calling o75.getFileSystem.\n"
        ": java.io.FileNotFoundException: File /x does not exist\n\tat org.apache.hadoop.fs.RawLocalFileSystem"
    )
    assert first_line(error) == "java.io.FileNotFoundException: File /x does not exist"
    assert first_line(RuntimeError("")) == "RuntimeError"


def test_s3a_settings_come_from_the_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _s3_conf("/in", "/out") == {}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    conf = _s3_conf("s3://in/", "/out")
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:5000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"


def test_the_params_section_parses_and_a_bad_value_is_named() -> None:
    p = load_section(ScoreParams, "score", REPO / "params.yaml")
    assert p.master == "local[*]" and p.model.startswith("models:/")
    with pytest.raises(Exception, match="partition_by"):
        ScoreParams(partition_by="month")  # type: ignore[arg-type]


def test_cli_rejects_a_malformed_conf_in_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["--params", str(tmp_path / "none.yaml"), "score", "in", "out", "--conf", "no-equals"]) == 1
    assert "--conf 'no-equals': expected KEY=VALUE" in caplog.text


def test_a_model_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no such folder with MLmodel or model.json"):
        resolve_model(str(tmp_path), tmp_path / "download")


def test_offline_labels_and_scores_are_the_services_answers(tmp_path: Path) -> None:
    champion = train_tiny_champion(tmp_path, tmp_path / "champion", "ensemble_negation_tail")
    resolved = resolve_model(str(champion), tmp_path / "download")
    assert (resolved.name, resolved.mlflow_dir, resolved.run_id) == ("champion", None, None)
    model = load(resolved.model_dir)
    texts = ["Brilliant and moving.", "Dull, boring, awful.", "not bad at all", "x" * 600_000, "good"]
    labels, scores = label_scores(model, texts)
    online = predictions(model, texts, "v")
    assert [(a.label, a.score) for a in online] == list(zip(labels, scores, strict=True))
