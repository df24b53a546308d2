"""The champion on AWS Lambda behind a Function URL. Run: sentiment deploy lambda"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from pipeline.deploy.settings import DeployParams, Plan, allowed_origins, aws_errors, client, matches, role_arn
from pipeline.errors import PipelineError
from pipeline.serving import HTTP_SERVER_ONLY, LAMBDA_OVERRIDES, REQUIREMENTS, ROOT, closure_files

log = logging.getLogger(__name__)


HANDLER = "pipeline.serving.lambda_handler.handler"
LAMBDA_PLATFORM = ("x86_64-manylinux_2_17", "3.11")

MAX_ZIP_BYTES = 50 * 1024 * 1024  # Lambda's limit for a zip uploaded directly

LAMBDA_BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def build_lambda_zip(champion: Path, serving: Path, out: Path) -> Path:
    """The handler, the champion's weights and the packages it imports, in one zip under 50 MB."""
    if not (champion / "model.json").exists():
        raise PipelineError(f"{champion} holds no model; run `dvc repro` first")
    uv = shutil.which("uv")
    if uv is None:
        raise PipelineError("uv is not on PATH: run this through `uv run sentiment ...`")
    with tempfile.TemporaryDirectory() as temporary:
        site = Path(temporary) / "site"
        requirements = Path(temporary) / "requirements.txt"
        requirements.write_text(
            "".join(line for line in REQUIREMENTS.read_text().splitlines(keepends=True)
                    if line.split("==")[0].strip() not in HTTP_SERVER_ONLY)
        )  # fmt: skip
        platform, python = LAMBDA_PLATFORM
        command = [uv, "pip", "install", "--quiet", "--target", str(site), "--python-platform", platform,
                   "--python-version", python, "--only-binary", ":all:",
                   "-r", str(requirements), "--override", str(LAMBDA_OVERRIDES)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(f"installing {REQUIREMENTS.name} for Lambda failed: {done.stderr.strip()[-300:]}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for path in sorted(site.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(site).as_posix())
            # The serving closure only: training, MLflow and DVC code stays out of the zip.
            for path in closure_files():
                archive.write(ROOT / path, path.as_posix())
            for path in sorted(champion.iterdir()):
                archive.write(path, f"model/{path.name}")
            if serving.exists():
                archive.write(serving, "model/bento.json")
            card = champion.parent / "card.json"  # select's model card beside models/champion: GET /model
            if card.exists():
                archive.write(card, "model/card.json")
    size = buffer.tell()
    if size > MAX_ZIP_BYTES:
        raise PipelineError(f"the Lambda zip is {size / 2**20:.1f} MiB; Lambda takes at most 50 MiB uploaded directly")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    log.info("wrote %s (%.1f MiB)", out, size / 2**20)
    return out


def deploy_lambda(p: DeployParams, zip_path: Path, dry_run: bool = False) -> dict[str, str]:
    """Converge the function and its Function URL on the settings and the zip, waiting until each change is live.

    The code is uploaded only when the zip's SHA-256 differs from the function's, and the configuration only
    when a value differs, so a second run changes nothing. Lambda refuses a change while the previous one is in
    progress, hence the waits (boto3's function_active_v2 and function_updated_v2, bounded by
    deploy.lambda_wait_timeout_s).
    """
    origins = allowed_origins(p)
    cors = {
        "AllowOrigins": list(origins),
        "AllowMethods": ["POST"],
        "AllowHeaders": ["content-type"],
        "MaxAge": 600,
    }
    settings: dict[str, Any] = {
        "Handler": HANDLER,
        "Runtime": "python3.11",
        "MemorySize": p.lambda_memory_mb,
        "Timeout": p.lambda_timeout_s,
        "Environment": {"Variables": {"SENTIMENT_CORS_ORIGINS": ",".join(origins)}},
    }
    code = zip_path.read_bytes()
    digest = base64.b64encode(hashlib.sha256(code).digest()).decode()
    plan = Plan(dry_run)
    name = p.lambda_function
    with aws_errors("Lambda deploy"):
        settings["Role"] = role_arn(p, plan, p.lambda_role, "lambda.amazonaws.com", LAMBDA_BASIC_EXECUTION, "lambda")
        lam = client(p, "lambda")

        def settle(waiter: str) -> None:
            attempts = max(1, int(p.lambda_wait_timeout_s / p.wait_poll_s))
            log.info("waiting for Lambda function %s (%s)", name, waiter)
            lam.get_waiter(waiter).wait(
                FunctionName=name, WaiterConfig={"Delay": p.wait_poll_s, "MaxAttempts": attempts}
            )

        try:
            found = lam.get_function(FunctionName=name)["Configuration"]
        except lam.exceptions.ResourceNotFoundException:
            found = None
        if found is None:

            def create() -> None:
                lam.create_function(FunctionName=name, Code={"ZipFile": code}, Tags=p.tags("lambda"), **settings)
                settle("function_active_v2")

            plan.change(
                f"create Lambda function {name} in {p.region}: python3.11, handler {HANDLER}, "
                f"{p.lambda_memory_mb} MB, {p.lambda_timeout_s} s, code {zip_path}",
                create,
                None,
            )
            action = "created"
        else:
            action = "unchanged"
            if found.get("CodeSha256") != digest:

                def upload() -> None:
                    lam.update_function_code(FunctionName=name, ZipFile=code)
                    settle("function_updated_v2")

                plan.change(f"upload new code to Lambda function {name} ({zip_path})", upload, None)
                action = "updated"
            differ = {key: value for key, value in settings.items() if not matches(value, found.get(key))}
            if differ:

                def configure() -> None:
                    lam.update_function_configuration(FunctionName=name, **differ)
                    settle("function_updated_v2")

                plan.change(f"update Lambda function {name}: {', '.join(sorted(differ))}", configure, None)
                action = "updated"
        url = _function_url(p, plan, lam, cors, exists=found is not None)
    plan.report("deploy lambda")
    if dry_run:
        return {}
    log.info("%s Lambda function %s; Function URL %s", action, name, url)
    return {"action": action, "function": name, "url": url}


def _function_url(p: DeployParams, plan: Plan, lam: Any, cors: dict[str, Any], exists: bool) -> str:
    name = p.lambda_function
    try:
        found = lam.get_function_url_config(FunctionName=name) if exists else None
    except lam.exceptions.ResourceNotFoundException:
        found = None
    if found is None:

        def create() -> str:
            url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)["FunctionUrl"]
            lam.add_permission(
                FunctionName=name,
                StatementId="function-url-public",
                Action="lambda:InvokeFunctionUrl",
                Principal="*",
                FunctionUrlAuthType="NONE",
            )
            return url

        return plan.change(
            f"create Function URL for {name}: auth NONE, CORS {cors['AllowOrigins'] or 'none'}", create, "<new URL>"
        )
    if found["AuthType"] != "NONE" or not matches(cors, found.get("Cors", {})):
        plan.change(
            f"set the Function URL's CORS to {cors['AllowOrigins'] or 'none'}",
            lambda: lam.update_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors),
            None,
        )
    return found["FunctionUrl"]
