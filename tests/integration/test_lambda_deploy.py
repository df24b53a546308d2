"""The Lambda zip built for real, run from an unpacked copy in a clean interpreter, and deployed to moto twice."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from pipeline.deploy.lambda_function import build_lambda_zip, deploy_lambda
from pipeline.deploy.settings import DeployParams, site_url
from pipeline.serving import HTTP_SERVER_ONLY, LAMBDA_OVERRIDES, REQUIREMENTS
from tests.conftest import train_tiny_champion
from tests.support.card import write_card

pytestmark = [pytest.mark.integration, pytest.mark.aws]

EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/predict",
    "headers": {"content-type": "application/json"},
    "requestContext": {"http": {"method": "POST", "path": "/predict"}},
    "body": json.dumps({"text": "A superb, wonderful film."}),
    "isBase64Encoded": False,
}

CARD_EVENT = EVENT | {"rawPath": "/model", "requestContext": {"http": {"method": "GET", "path": "/model"}}, "body": ""}


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lambda")
    # An n-gram model with negation scopes: the zip must carry the compiled scorer, and the handler must use it. Its
    # model card lies beside it, as select writes models/card.json beside models/champion.
    write_card(root, train_tiny_champion(root, root / "champion", "ensemble_negation_tail"), "ensemble_negation_tail")
    (root / "bento.json").write_text('{"model": "movie-reviews-sentiment:tiny"}')
    return build_lambda_zip(root / "champion", root / "bento.json", root / "lambda.zip")


def test_zip_is_under_lambdas_limit_and_holds_no_training_code(lambda_zip: Path) -> None:
    assert lambda_zip.stat().st_size < 50 * 1024 * 1024
    names = zipfile.ZipFile(lambda_zip).namelist()
    assert "pipeline/serving/lambda_handler.py" in names and "model/weights.npz" in names and "model/card.json" in names
    assert "pipeline/model/linear/base.py" in names and "pipeline/labels.py" in names
    assert any(name.startswith("pipeline/model/ngrams/_scorer.cpython-311-") for name in names), "no compiled scorer"
    training = ("sklearn/", "mlflow/", "dvc/", "bentoml/", "pipeline/stages/", "pipeline/tracking/", "pipeline/deploy/")
    assert not any(name.startswith(training) for name in names)
    # The packages are requirements.txt's pins, but for the ones lambda-overrides.txt replaces for Amazon Linux 2.
    overridden = {
        line.split("<")[0].split("=")[0] for line in LAMBDA_OVERRIDES.read_text().splitlines() if line[:1].isalpha()
    }
    for line in REQUIREMENTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            folder = f"{name.replace('-', '_')}-{version}.dist-info/"
            if name in HTTP_SERVER_ONLY:
                assert not any(entry.lower().startswith(name) for entry in names), f"{name} is in the zip"
            elif name not in overridden:
                assert any(entry.lower().startswith(folder) for entry in names), f"{name}=={version} is not in the zip"


def test_handler_runs_from_the_unpacked_zip_alone(lambda_zip: Path, tmp_path: Path) -> None:
    """-I -S: no site-packages, no environment, no current folder; only what the zip holds."""
    zipfile.ZipFile(lambda_zip).extractall(tmp_path / "task")
    script = (
        "import json, sys, time; sys.path.insert(0, sys.argv[1]); start = time.perf_counter(); "
        "from pipeline.serving.lambda_handler import handler; "
        "response = handler(json.loads(sys.argv[2])); card = handler(json.loads(sys.argv[3])); "
        "print(json.dumps({'response': response, 'card': card, 'cold_ms': (time.perf_counter() - start) * 1000, "
        "'modules': sorted({m.split('.')[0] for m in sys.modules}), "
        "'compiled': 'pipeline.model.ngrams._scorer' in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(tmp_path / "task"), json.dumps(EVENT), json.dumps(CARD_EVENT)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["response"]["statusCode"] == 200
    assert json.loads(result["response"]["body"]) | {"score": 0} == {
        "label": "positive",
        "score": 0,
        "model": "movie-reviews-sentiment:tiny",
    }
    assert result["card"]["statusCode"] == 200
    card = json.loads(result["card"]["body"])
    assert card["model"] == "movie-reviews-sentiment:tiny" and card["candidate"] == "ensemble_negation_tail"
    assert not {"sklearn", "scipy", "mlflow", "pandas", "bentoml"} & set(result["modules"])
    assert result["compiled"], "the handler scored without the compiled scorer"


def test_deploy_twice_creates_then_changes_nothing_then_updates_the_difference(
    lambda_zip: Path, moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    params = DeployParams(endpoint_url=moto_endpoint, cors_origins=("https://site.example",), lambda_memory_mb=256,
                          wait_poll_s=0.05)  # fmt: skip
    caplog.set_level(logging.INFO, logger="pipeline")
    first = deploy_lambda(params, lambda_zip)
    assert "waiting for Lambda function movie-reviews-sentiment (function_active_v2)" in caplog.text
    lam = boto3.client("lambda", endpoint_url=moto_endpoint, region_name="us-east-1")
    state = lam.get_function(FunctionName=params.lambda_function)["Configuration"]
    second = deploy_lambda(params, lambda_zip)
    assert (first["action"], second["action"]) == ("created", "unchanged")
    assert first["url"] == second["url"]
    assert lam.get_function(FunctionName=params.lambda_function)["Configuration"] == state
    caplog.clear()
    third = deploy_lambda(params.model_copy(update={"lambda_timeout_s": 20}), lambda_zip)
    assert third["action"] == "updated"
    assert "update Lambda function movie-reviews-sentiment: Timeout" in caplog.text
    assert "upload new code" not in caplog.text
    assert "function_updated_v2" in caplog.text
    assert lam.get_function(FunctionName=params.lambda_function)["Configuration"]["Timeout"] == 20
    deploy_lambda(params, lambda_zip)  # back to the settings below

    config = lam.get_function(FunctionName=params.lambda_function)["Configuration"]
    assert config["Handler"] == "pipeline.serving.lambda_handler.handler" and config["Runtime"] == "python3.11"
    assert config["MemorySize"] == 256 and config["Timeout"] == params.lambda_timeout_s
    # The same list the ECS task gets: deploy.cors_origins, then the S3 site's origin.
    origins = ["https://site.example", site_url(params)]
    assert config["Environment"]["Variables"]["SENTIMENT_CORS_ORIGINS"] == ",".join(origins)
    url = lam.get_function_url_config(FunctionName=params.lambda_function)
    assert url["AuthType"] == "NONE" and url["Cors"]["AllowOrigins"] == origins
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
    attached = iam.list_attached_role_policies(RoleName=params.lambda_role)["AttachedPolicies"]
    assert [policy["PolicyName"] for policy in attached] == ["AWSLambdaBasicExecutionRole"]


def test_dry_run_changes_nothing(lambda_zip: Path, moto_endpoint: str) -> None:
    params = DeployParams(endpoint_url=moto_endpoint)
    assert deploy_lambda(params, lambda_zip, dry_run=True) == {}
    lam = boto3.client("lambda", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert lam.list_functions()["Functions"] == []
