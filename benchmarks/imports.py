"""What each stage and the service import before doing any work, from `python -X importtime` in a fresh interpreter.

DVC starts one process per stage, so a stage's imports are paid 27 times a `dvc repro`; a server pays them at
every start. The table gives each entry point's total import time and its costliest top-level packages, so an
import that a stage does not use stands out.

Run: uv run python benchmarks/imports.py [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The modules `sentiment <command>` and `bentoml serve` import for each entry point.
ENTRY_POINTS = {
    "sentiment (CLI only)": "pipeline.cli",
    "fetch": "pipeline.stages.fetch",
    "prepare": "pipeline.stages.prepare",
    "train": "pipeline.stages.train",
    "evaluate": "pipeline.stages.evaluate",
    "baseline": "pipeline.stages.baseline",
    "select": "pipeline.stages.select",
    "package": "pipeline.stages.package",
    "serving: the model alone": "pipeline.model",
    "serving: Lambda handler": "pipeline.serving.lambda_handler",
}
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(module: str) -> tuple[float, dict[str, float]]:
    """(total seconds, seconds spent in each top-level package's own modules) for one fresh import."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    packages: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match:  # self times add up to the total, and say which package the time was spent in
            own = int(match.group(1)) / 1e6
            packages[match.group(4).split(".")[0]] += own
            total += own
    return total, dict(packages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh imports per entry point; the fastest is shown")
    args = parser.parse_args()
    print(f"{'entry point':<28} {'import s':>9}  costliest packages (s)")
    for name, module in ENTRY_POINTS.items():
        total, packages = min((import_times(module) for _ in range(args.runs)), key=lambda result: result[0])
        top = sorted(packages.items(), key=lambda item: -item[1])[:4]
        print(f"{name:<28} {total:>9.2f}  " + ", ".join(f"{package} {seconds:.2f}" for package, seconds in top))


if __name__ == "__main__":
    main()
