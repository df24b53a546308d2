"""What watching the model costs a request: Observer.observe() against the API's own work, timed in one process.

The metrics run as in a BentoML worker (prometheus_client in multiprocess mode, PROMETHEUS_MULTIPROC_DIR set
before it is imported, so each update writes to a memory-mapped file). Each path runs on the same test-split
reviews, interleaved over several rounds, and is reported as a ratio to rules.predictions() on the same reviews in
the same run (min over rounds): one review per call (POST /predict) and 100 per call (/predict_batch), with the
prediction log off (the default), at 1 % and at 100 % (written to /dev/null).

Run after `dvc repro` (or with --model): NLTK_DATA=... uv run python benchmarks/observe.py
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compiled_champion import arguments, compiled_champion
from pipeline.serving.rules import predictions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "observe.json"
BATCH = 100


def per_review_us(function: Callable[[], object], reviews: int) -> float:
    gc.collect()
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1e6 / reviews


def main() -> None:
    args = arguments(__doc__.splitlines()[0], rounds=7).parse_args()
    model_dir, texts, model = compiled_champion(args)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="observe-benchmark-")
    from pipeline.serving.observe import LOGGER, Observer  # after the variable: see observe.py

    sink = logging.getLogger(LOGGER)
    sink.addHandler(logging.FileHandler(os.devnull))
    sink.setLevel(logging.INFO)
    sink.propagate = False
    observers = {rate: Observer(model, "benchmark", rate) for rate in (0.0, 0.01, 1.0)}
    for observer in observers.values():
        observer.log = sink if observer.log is not None else None
    singles = [[text] for text in texts]
    batches = [texts[start : start + BATCH] for start in range(0, len(texts) - BATCH + 1, BATCH)]
    answers = {"single": [predictions(model, one, "m") for one in singles],
               "batch": [predictions(model, batch, "m") for batch in batches]}  # fmt: skip
    calls = {"single": singles, "batch": batches}
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for shape, inputs in calls.items():
            times.setdefault(f"{shape} predictions", []).append(
                per_review_us(lambda inputs=inputs: [predictions(model, call, "m") for call in inputs], len(texts))
            )
            for rate, observer in observers.items():
                pairs = list(zip(inputs, answers[shape], strict=True))
                times.setdefault(f"{shape} observe, log {rate:.0%}", []).append(
                    per_review_us(lambda o=observer, p=pairs: [o.observe(c, a, False) for c, a in p], len(texts))
                )
    best = {name: min(values) for name, values in times.items()}
    print(f"{len(texts)} reviews, {args.rounds} rounds, model {model_dir.name}; microseconds per review (min)")
    report: dict[str, dict[str, float]] = {}
    for shape in calls:
        base = best[f"{shape} predictions"]
        print(f"  {shape}: rules.predictions() {base:8.1f} us")
        for rate in observers:
            name = f"{shape} observe, log {rate:.0%}"
            print(
                f"  {shape}: observe(), log {rate:>4.0%} {best[name]:8.1f} us  = {best[name] / base:.3f}x predictions"
            )
            report[name] = {"us_per_review": best[name], "ratio_to_predictions": best[name] / base}
        report[f"{shape} predictions"] = {"us_per_review": base, "ratio_to_predictions": 1.0}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"model": str(model_dir), "reviews": len(texts), "figures": report}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
