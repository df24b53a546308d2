"""Everything that answers a request: the API's rules, its middleware, the BentoML service and the Lambda handler.

Serving imports only `pipeline.model`, this folder and the package's top-level helpers, never stages, tracking or
deploy (tests/unit/test_architecture.py checks it), so the files below are all a bento or a Lambda zip needs.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What serving imports from PyPI, for Linux x86_64 and CPython 3.11 (the image's and Lambda's platform). The pinned
# closure of these, at the versions uv.lock holds (so the image runs what the tests ran), is REQUIREMENTS: one file
# that bentofile.yaml, the Lambda zip and the MLflow model all install. `python -m tests.support.requirements`
# rewrites it after `uv lock`; tests/unit/serving/test_requirements.py fails while it is stale.
PACKAGES = ("nltk", "numpy", "pydantic", "httptools", "uvloop")
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
# Where the Lambda zip must differ, and why (the file says): applied over REQUIREMENTS with uv's --override.
LAMBDA_OVERRIDES = Path(__file__).with_name("lambda-overrides.txt")
# Left out of the Lambda zip: uvicorn's fast HTTP parser and event loop, for `bentoml serve`; the Lambda handler
# parses no HTTP and runs no event loop (4 MB of a zip that must stay small for cold starts).
HTTP_SERVER_ONLY = ("httptools", "uvloop")
# The serving closure, as bentofile.yaml `include` lists it (a test keeps the two equal): globs under ROOT. The
# compiled scorer is built in place by `uv sync` (setup.py), for the Python and platform of the build machine.
CLOSURE = ("pipeline/*.py", "pipeline/model/**/*.py", "pipeline/model/**/*.so", "pipeline/serving/**/*.py")


def closure_files(root: Path = ROOT) -> list[Path]:
    """The package files serving needs, relative to `root`, in a stable order."""
    found = {path.relative_to(root) for pattern in CLOSURE for path in root.glob(pattern)}
    return sorted(path for path in found if "__pycache__" not in path.parts)
