"""The champion on AWS Lambda behind a Function URL. Run: sentiment deploy lambda"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from pipeline.deploy.settings import DeployParams, allowed_origins, client, role_arn
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


def plan_lambda(p: DeployParams, zip_path: Path) -> list[str]:
    return [
        f"IAM role {p.lambda_role} (create if missing, basic execution policy)",
        f"Lambda function {p.lambda_function} in {p.region}: python3.11, handler {HANDLER}, "
        f"{p.lambda_memory_mb} MB, {p.lambda_timeout_s} s, code {zip_path} (create or update)",
        f"Function URL for {p.lambda_function}: auth NONE, CORS {list(allowed_origins(p)) or 'none'} "
        "(create or update)",
    ]


def deploy_lambda(p: DeployParams, zip_path: Path, dry_run: bool = False) -> dict[str, str]:
    """Create or update the function and its Function URL; a second run updates in place."""
    if dry_run:
        for step in plan_lambda(p, zip_path):
            log.info("plan: %s", step)
        return {}
    from botocore.exceptions import BotoCoreError, ClientError

    origins = allowed_origins(p)
    environment = {"Variables": {"SENTIMENT_CORS_ORIGINS": ",".join(origins)}}
    cors = {
        "AllowOrigins": list(origins),
        "AllowMethods": ["POST"],
        "AllowHeaders": ["content-type"],
        "MaxAge": 600,
    }
    settings = {
        "Role": None,
        "Handler": HANDLER,
        "Runtime": "python3.11",
        "MemorySize": p.lambda_memory_mb,
        "Timeout": p.lambda_timeout_s,
        "Environment": environment,
    }
    try:
        settings["Role"] = role_arn(p, p.lambda_role, "lambda.amazonaws.com", LAMBDA_BASIC_EXECUTION)
        lam = client(p, "lambda")
        code = zip_path.read_bytes()
        try:
            lam.get_function(FunctionName=p.lambda_function)
            lam.update_function_code(FunctionName=p.lambda_function, ZipFile=code)
            lam.get_waiter("function_updated_v2").wait(FunctionName=p.lambda_function)
            lam.update_function_configuration(FunctionName=p.lambda_function, **settings)
            action = "updated"
        except lam.exceptions.ResourceNotFoundException:
            lam.create_function(FunctionName=p.lambda_function, Code={"ZipFile": code}, **settings)
            action = "created"
        try:
            lam.get_function_url_config(FunctionName=p.lambda_function)
            url = lam.update_function_url_config(FunctionName=p.lambda_function, AuthType="NONE", Cors=cors)
        except lam.exceptions.ResourceNotFoundException:
            url = lam.create_function_url_config(FunctionName=p.lambda_function, AuthType="NONE", Cors=cors)
            lam.add_permission(
                FunctionName=p.lambda_function,
                StatementId="function-url-public",
                Action="lambda:InvokeFunctionUrl",
                Principal="*",
                FunctionUrlAuthType="NONE",
            )
    except (BotoCoreError, ClientError) as error:
        raise PipelineError(f"Lambda deploy failed: {str(error).splitlines()[0]}") from None
    log.info("%s Lambda function %s; Function URL %s", action, p.lambda_function, url["FunctionUrl"])
    return {"action": action, "function": p.lambda_function, "url": url["FunctionUrl"]}
