"""A tracking server keeping artifacts in S3 (moto), as docs/deploy.md "Data and MLflow artifacts on S3" describes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import mlflow
import pytest

from pipeline.deploy.settings import DeployParams
from pipeline.deploy.site import deploy_storage
from tests.conftest import mlflow_server

pytestmark = [pytest.mark.integration, pytest.mark.aws]

BIN = Path(sys.executable).parent
BUCKET = "mlflow-test"


@pytest.fixture
def s3_mlflow_server(moto_endpoint: str, tmp_path: Path) -> Iterator[str]:
    """`mlflow server --artifacts-destination s3://...`; only the server gets the S3 endpoint and credentials."""
    deploy_storage(DeployParams(endpoint_url=moto_endpoint, storage_bucket=BUCKET))
    environment = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": moto_endpoint}
    with mlflow_server(tmp_path, f"s3://{BUCKET}/mlflow", environment) as url:
        yield url


def test_artifacts_go_through_the_server_to_s3(
    s3_mlflow_server: str, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)  # the client needs only the tracking URI
    (tmp_path / "report.txt").write_text("champion: nbsvm_bigram\n")
    client = mlflow.MlflowClient(tracking_uri=s3_mlflow_server)
    experiment = client.create_experiment("s3-artifacts")
    run = client.create_run(experiment)
    client.log_artifact(run.info.run_id, str(tmp_path / "report.txt"))

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="mlflow/")["Contents"]]
    assert [key for key in keys if key.endswith(f"{run.info.run_id}/artifacts/report.txt")], keys
    back = client.download_artifacts(run.info.run_id, "report.txt", str(tmp_path / "back"))
    assert Path(back).read_text() == "champion: nbsvm_bigram\n"
