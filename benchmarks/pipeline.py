"""Wall time and peak memory of each DVC stage, and of a no-op `dvc repro`, in a scratch copy of the project.

Run: NLTK_DATA=/path/to/nltk_data uv run python benchmarks/pipeline.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, sys.path starts at benchmarks/: put the repository root first, as `python -m benchmarks.pipeline`
# does, so `tests.support` imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.processes import copy_project

ROOT = Path(__file__).resolve().parents[1]
# The venv's own executables, so `uv run python benchmarks/pipeline.py` needs no activated venv.
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results" / "pipeline.json"
RUNNING_STAGE = re.compile(r"Running stage '([^']+)'")
STDERR_TAIL_LINES = 3

# Runs in a child, never here: a spawned child's ru_maxrss starts at this process's RSS (fork and vfork both
# count the parent's pages), so importing DVC in this process would inflate every stage's peak by ~60 MiB.
LIST_STAGES = """
import json, os, sys
import networkx as nx
from dvc.repo import Repo

with Repo(sys.argv[1]) as repo:
    stages = list(repo.index.stages)
    position = {stage: index for index, stage in enumerate(stages)}
    # DVC's edges point from a stage to the stages it depends on; ties keep dvc.yaml's order.
    order = nx.lexicographical_topological_sort(repo.index.graph.reverse(copy=False), key=position.__getitem__)
    json.dump(
        [
            {
                "name": stage.addressing,
                "commands": stage.cmd if isinstance(stage.cmd, list) else [stage.cmd],
                "wdir": os.path.relpath(stage.wdir, repo.root_dir),
            }
            for stage in order
        ],
        sys.stdout,
    )
"""


@dataclass
class Measurement:
    name: str
    wall_s: float
    peak_mib: float


def own_peak_mib() -> float:
    """VmHWM, not getrusage: under `uv run`, ru_maxrss also counts uv itself, whose image this process replaced."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Failed(Exception):
    """A child exited non-zero; the message is the one line the user sees."""


def child_environment(project: Path, scratch: Path, nltk_data: Path | None) -> dict[str, str]:
    """Nothing the user has set for MLflow or DVC leaks in, and nothing the children write lands outside scratch."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        # `sentiment` is an editable install of the user's working copy; this makes it import the copy instead.
        PYTHONPATH=str(project),
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(scratch / "dvc-site-cache"),
        BENTOML_HOME=str(scratch / "bentoml"),
    )
    if nltk_data is not None:
        env["NLTK_DATA"] = str(nltk_data)
    return env


def measure(name: str, argv: list[str], cwd: Path, env: dict[str, str], logs: Path) -> tuple[Measurement, str]:
    """Time one child and read its own peak RSS from wait4; returns its stdout. Output goes to files, not
    pipes, so nothing but wait4 reaps the child."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    out_path, err_path = logs / f"{slug}.out", logs / f"{slug}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        lines = [line.strip() for line in err_path.read_text(errors="replace").splitlines() if line.strip()]
        tail = " | ".join(lines[-STDERR_TAIL_LINES:]) or "no stderr"
        raise Failed(f"{name} failed (exit {process.returncode}) after {wall_s:.1f} s: {tail}")
    # ru_maxrss is in KiB on Linux.
    return Measurement(name, round(wall_s, 3), round(usage.ru_maxrss / 1024, 1)), out_path.read_text(errors="replace")


def run_quietly(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise Failed(f"`{shlex.join(argv)}` failed (exit {done.returncode}): {' | '.join(lines[-STDERR_TAIL_LINES:])}")
    return done.stdout


def run_stage(stage: dict, project: Path, env: dict[str, str], logs: Path) -> Measurement:
    """Run the stage's own commands, not `dvc repro`, so DVC's hashing and locking stay out of the figure.
    Commands are split, not given to a shell: stages are plain commands (STYLE.md: no shell pipelines)."""
    wall_s, peak_mib = 0.0, 0.0
    for command in stage["commands"]:
        argv = shlex.split(command)
        executable = shutil.which(argv[0], path=env["PATH"])
        if executable is None:
            raise Failed(f"{stage['name']}: `{argv[0]}` is not on PATH ({BIN} is searched first)")
        part, _ = measure(stage["name"], [executable, *argv[1:]], project / stage["wdir"], env, logs)
        wall_s += part.wall_s
        peak_mib = max(peak_mib, part.peak_mib)
    return Measurement(stage["name"], round(wall_s, 3), peak_mib)


def benchmark(scratch: Path, nltk_data: Path | None) -> dict:
    project, logs = scratch / "project", scratch / "logs"
    project.mkdir()
    logs.mkdir()
    copy_project(project)
    env = child_environment(project, scratch, nltk_data)
    dvc = str(BIN / "dvc")
    run_quietly(["git", "init", "-q"], project, env)
    run_quietly([dvc, "init", "-q"], project, env)

    stages = json.loads(run_quietly([sys.executable, "-c", LIST_STAGES, str(project)], project, env))
    measured = []
    for stage in stages:
        print(f"running {stage['name']} ...", file=sys.stderr, flush=True)
        measured.append(run_stage(stage, project, env, logs))

    # commit records dvc.lock for what the stages just wrote, so the repro after it has nothing to do.
    commit, _ = measure("dvc commit -f", [dvc, "commit", "-f"], project, env, logs)
    noop, output = measure("dvc repro (no-op)", [dvc, "repro"], project, env, logs)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "nltk_data": str(nltk_data) if nltk_data else None,
        "stages": [asdict(item) for item in measured],
        "total": {
            "wall_s": round(sum(item.wall_s for item in measured), 3),
            "peak_mib": max((item.peak_mib for item in measured), default=0.0),
        },
        "dvc_commit": asdict(commit),
        "noop_repro": asdict(noop) | {"stages_rerun": RUNNING_STAGE.findall(output)},
        # Every child's ru_maxrss includes this process's RSS at spawn time, at most this much.
        "peak_floor_mib": own_peak_mib(),
    }


def print_table(results: dict) -> None:
    width = max(len(row["name"]) for row in [*results["stages"], results["noop_repro"], results["dvc_commit"]]) + 2
    rule = "-" * (width + 22)
    print(f"{'stage':<{width}}{'wall s':>10}{'peak MiB':>12}")
    print(rule)
    for row in results["stages"]:
        print(f"{row['name']:<{width}}{row['wall_s']:>10.2f}{row['peak_mib']:>12.1f}")
    print(rule)
    total = results["total"]
    print(f"{'total (sum / max)':<{width}}{total['wall_s']:>10.2f}{total['peak_mib']:>12.1f}")
    print()
    for row in (results["dvc_commit"], results["noop_repro"]):
        print(f"{row['name']:<{width}}{row['wall_s']:>10.2f}{row['peak_mib']:>12.1f}")
    rerun = results["noop_repro"]["stages_rerun"]
    if rerun:
        print(f"warning: the 'no-op' repro re-ran {', '.join(rerun)}; its time is not a no-op figure")
    print(f"(each peak includes up to {results['peak_floor_mib']:.1f} MiB of this script's pages, copied at spawn)")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--keep", action="store_true", help="keep the scratch folder and print its path")
    cli.add_argument(
        "--nltk-data",
        type=Path,
        default=os.environ.get("NLTK_DATA") or None,
        help="NLTK data folder passed to the stages as NLTK_DATA (default: $NLTK_DATA)",
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    nltk_data = args.nltk_data.resolve() if args.nltk_data else None
    if nltk_data is not None and not nltk_data.is_dir():
        parser().error(f"--nltk-data {nltk_data} is not a folder")
    scratch = Path(tempfile.mkdtemp(prefix="sentiment-benchmark-"))
    try:
        results = benchmark(scratch, nltk_data)
    except Failed as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
