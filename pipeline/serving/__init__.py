"""Everything that answers a request: the API's rules, its middleware, the BentoML service and the Lambda handler.

Serving imports only `pipeline.model`, this folder and the package's top-level helpers, never stages, tracking or
deploy (tests/unit/test_architecture.py checks it), so the files below are all a bento or a Lambda zip needs.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The serving closure, as bentofile.yaml `include` lists it (a test keeps the two equal): globs under ROOT.
CLOSURE = ("pipeline/*.py", "pipeline/model/**/*.py", "pipeline/serving/**/*.py")


def closure_files(root: Path = ROOT) -> list[Path]:
    """The package files serving needs, relative to `root`, in a stable order."""
    found = {path.relative_to(root) for pattern in CLOSURE for path in root.glob(pattern)}
    return sorted(path for path in found if "__pycache__" not in path.parts)
