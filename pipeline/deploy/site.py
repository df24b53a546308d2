"""The page as an S3 static website, and the private bucket for DVC and MLflow. Run: sentiment deploy site|storage"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pipeline.deploy.settings import DeployParams, Plan, aws_errors, client, ensure_bucket, matches, site_url
from pipeline.deploy.tags import tag_dict
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


SITE_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}
STORAGE_BLOCK = dict.fromkeys(SITE_BLOCK, True)
WEBSITE = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "index.html"}}


def deploy_site(p: DeployParams, frontend: Path, api_url: str | None, dry_run: bool = False) -> dict[str, str]:
    """Host the page as an S3 static website that calls the API at `api_url`.

    S3 websites serve plain HTTP only; the page's origin is in allowed_origins(), so the ECS task and the
    Function URL accept it. Converges: a setting or file is written only when it differs (files by MD5, type and
    Cache-Control), and a file no longer in `frontend` is deleted from a bucket of the project's.
    """
    if not p.site_bucket:
        raise PipelineError("deploy.site_bucket is empty: name the bucket to host the page in")
    if not api_url:
        if not dry_run:
            raise PipelineError("no API URL: run `sentiment deploy ecs` first, or pass --api-url")
        api_url = "<the ECS URL, once deployed>"
    files = site_files(frontend, api_url, p.site_max_age_s)
    bucket = p.site_bucket
    plan = Plan(dry_run)
    with aws_errors("site deploy"):
        s3 = client(p, "s3")
        exists = ensure_bucket(p, plan, bucket, "site")
        # Block ACLs (this bucket never uses them) but let the bucket policy below make objects public.
        if not exists or _block(s3, bucket) != SITE_BLOCK:
            plan.change(
                "block ACLs on the site bucket, allow its bucket policy",
                lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=SITE_BLOCK),
                None,
            )
        policy = site_policy(bucket)
        if not exists or _read(s3.get_bucket_policy, bucket, "Policy", json.loads) != policy:
            plan.change(
                f"bucket policy: s3:GetObject on arn:aws:s3:::{bucket}/* for anyone, nothing else",
                lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy)),
                None,
            )
        # One page, so a missing key gets the page too, not S3's XML error.
        if not exists or not matches(WEBSITE, _read(s3.get_bucket_website, bucket)):
            plan.change(
                "static website: index.html, error document index.html",
                lambda: s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=WEBSITE),
                None,
            )
        stored = _objects(s3, bucket) if exists else {}
        for key, body, content_type, cache in files:
            if stored.pop(key, None) == (hashlib.md5(body).hexdigest(), content_type, cache):  # noqa: S324 (S3's ETag)
                continue
            plan.change(
                f"upload {key} ({content_type}, Cache-Control {cache})",
                lambda key=key, body=body, content_type=content_type, cache=cache: s3.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache
                ),
                None,
            )
        if stored and p.owns(_bucket_tags(s3, bucket), "site"):
            plan.change(
                f"delete {', '.join(sorted(stored))} (no longer in {frontend})",
                lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in stored]}),
                None,
            )
    plan.report("deploy site")
    if dry_run:
        return {}
    url = site_url(p) or ""
    log.info("site URL %s (API %s)", url, api_url)
    return {"url": url, "bucket": bucket, "api_url": api_url}


def _read(call: Any, bucket: str, field: str | None = None, parse: Any = None) -> Any:
    """A bucket setting, or None when it was never set (S3 answers those with an error code)."""
    try:
        answer = call(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"].startswith("NoSuch"):
            return None
        raise
    value = answer[field] if field else answer
    return parse(value) if parse else value


def _block(s3: Any, bucket: str) -> dict[str, bool] | None:
    try:
        return s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise


def _bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    return tag_dict(_read(s3.get_bucket_tagging, bucket, "TagSet"))


def _objects(s3: Any, bucket: str) -> dict[str, tuple[str, str, str]]:
    """Each key's (MD5, Content-Type, Cache-Control): single-part uploads have the MD5 as their ETag."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=item["Key"])
            found[item["Key"]] = (head["ETag"].strip('"'), head.get("ContentType", ""), head.get("CacheControl", ""))
    return found


def deploy_storage(p: DeployParams, dry_run: bool = False) -> dict[str, str]:
    """The private bucket behind `dvc push` (s3://<bucket>/dvc) and MLflow's artifacts (s3://<bucket>/mlflow)."""
    plan = Plan(dry_run)
    bucket = p.storage_bucket
    with aws_errors("storage deploy"):
        s3 = client(p, "s3")
        exists = ensure_bucket(p, plan, bucket, "storage")
        if not exists or _block(s3, bucket) != STORAGE_BLOCK:
            plan.change(
                f"block all public access to S3 bucket {bucket}",
                lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=STORAGE_BLOCK),
                None,
            )
    plan.report("deploy storage")
    if dry_run:
        return {}
    log.info("S3 bucket %s is ready: dvc push (remote storage) and mlflow server s3://%s/mlflow", bucket, bucket)
    return {"bucket": bucket, "dvc": f"s3://{bucket}/dvc", "mlflow": f"s3://{bucket}/mlflow"}
