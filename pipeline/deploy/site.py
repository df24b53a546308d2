"""The page as an S3 static website, and the private bucket for DVC and MLflow. Run: sentiment deploy site|storage"""

from __future__ import annotations

import json
import logging
import mimetypes
from pathlib import Path
from typing import Any

from pipeline.deploy.settings import DeployParams, aws_errors, client, ensure_bucket, site_url
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

# The page has no build step, so its file names carry no content hash: these two must never be cached,
# or a browser keeps calling an old API URL (config.js) or an old module list (index.html).
NO_CACHE_FILES = ("index.html", "config.js")

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


def site_files(frontend: Path, api_url: str, max_age_s: int) -> list[tuple[str, bytes, str, str]]:
    """(key, body, Content-Type, Cache-Control) for each file of the page; config.js names the API.

    config.js is rewritten here, in memory: the file in the repository keeps "" (the page's own origin,
    as under `bentoml serve`), because the package stage builds the bento from frontend/.
    """
    if not frontend.is_dir():
        raise PipelineError(f"{frontend} is not a folder; run from the repository root or pass --frontend")
    files = []
    for path in sorted(frontend.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        if content_type is None:
            raise PipelineError(f"{path}: no Content-Type known for {path.suffix or 'a name without a suffix'}")
        body = path.read_bytes()
        if path.name == "config.js":
            body = f"export const API_BASE_URL = {json.dumps(api_url)};\n".encode()
        cache = "no-cache" if path.name in NO_CACHE_FILES else f"public, max-age={max_age_s}"
        files.append((path.name, body, content_type, cache))
    if "index.html" not in {key for key, *_ in files}:
        raise PipelineError(f"{frontend} has no index.html")
    return files


def site_policy(bucket: str) -> dict[str, Any]:
    """Anyone may read the bucket's objects; listing, writing and the bucket's settings stay private."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadObjects",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def plan_site(p: DeployParams, frontend: Path, api_url: str | None) -> list[str]:
    if not frontend.is_dir():
        raise PipelineError(f"{frontend} is not a folder; run from the repository root or pass --frontend")
    return [
        f"S3 bucket {p.site_bucket} in {p.region} (create if missing)",
        "public access block: ACLs blocked, bucket policies allowed",
        f"bucket policy: s3:GetObject on arn:aws:s3:::{p.site_bucket}/* for anyone, nothing else",
        "static website: index.html, error document index.html",
        f"upload {', '.join(sorted(path.name for path in frontend.iterdir() if path.is_file()))} from {frontend}, "
        f"config.js naming the API at {api_url or '<not known yet: run sentiment deploy ecs first>'}",
        f"site URL {site_url(p)}",
    ]


def deploy_site(p: DeployParams, frontend: Path, api_url: str | None, dry_run: bool = False) -> dict[str, str]:
    """Host the page as an S3 static website that calls the API at `api_url`.

    S3 websites serve plain HTTP only; the page's origin is in allowed_origins(), so the ECS task and the
    Function URL accept it. A second run uploads the files again and re-applies the same settings.
    """
    if not p.site_bucket:
        raise PipelineError("deploy.site_bucket is empty: name the bucket to host the page in")
    if dry_run:
        for step in plan_site(p, frontend, api_url):
            log.info("plan: %s", step)
        return {}
    if not api_url:
        raise PipelineError("no API URL: run `sentiment deploy ecs` first, or pass --api-url")
    files = site_files(frontend, api_url, p.site_max_age_s)
    bucket = p.site_bucket
    with aws_errors("site deploy"):
        s3 = client(p, "s3")
        ensure_bucket(p, bucket, "site")
        # Block ACLs (this bucket never uses them) but let the bucket policy below make objects public.
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False,
            },
        )
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(site_policy(bucket)))
        # One page, so a missing key gets the page too, not S3's XML error.
        s3.put_bucket_website(
            Bucket=bucket,
            WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "index.html"}},
        )
        for key, body, content_type, cache in files:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache)
    url = site_url(p) or ""
    log.info("uploaded %d files to s3://%s; site URL %s (API %s)", len(files), bucket, url, api_url)
    return {"url": url, "bucket": bucket, "api_url": api_url}


def deploy_storage(p: DeployParams, dry_run: bool = False) -> dict[str, str]:
    """The private bucket behind `dvc push` (s3://<bucket>/dvc) and MLflow's artifacts (s3://<bucket>/mlflow)."""
    if dry_run:
        log.info("plan: S3 bucket %s in %s (create if missing), all public access blocked", p.storage_bucket, p.region)
        return {}
    with aws_errors("storage deploy"):
        ensure_bucket(p, p.storage_bucket, "storage")
        client(p, "s3").put_public_access_block(
            Bucket=p.storage_bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    log.info(
        "S3 bucket %s is ready: dvc push (remote storage) and mlflow server s3://%s/mlflow", *[p.storage_bucket] * 2
    )
    return {
        "bucket": p.storage_bucket,
        "dvc": f"s3://{p.storage_bucket}/dvc",
        "mlflow": f"s3://{p.storage_bucket}/mlflow",
    }
