"""In-process scoring speed of a trained model, as ratios to `re.findall` tokenization of the same reviews.

Each path is timed on the same reviews in one process, interleaved over several rounds (min and median per
review): the compiled scorer, the numpy path (what runs where the extension is not built), the regex
reference, and for scale the C regex alone, `re.findall(r"\\w+|[^\\w\\s]+", text.lower())`. Load time is
the model's `load()` in a fresh interpreter, the champion's tables included.

Run after `dvc repro` (or with --model): NLTK_DATA=... uv run python benchmarks/score.py
"""

from __future__ import annotations

import gc
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compiled_champion import arguments, compiled_champion
from pipeline.model import NgramLinearModel, load
from pipeline.model.ngrams.table import NgramTable

ROOT = Path(__file__).resolve().parents[1]
TOKENS = re.compile(r"\w+|[^\w\s]+")
# The target (issue "Fast core"): the champion scores a review in at most 0.6x the time re.findall tokenizes it.
TARGET = 0.6
LOAD = "import sys, time; from pathlib import Path; t = time.perf_counter(); from pipeline.model import load; "


def per_review_ms(function: Callable[[], object], reviews: int, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000 / reviews)
    return times


def load_seconds(model_dir: Path, times: int) -> list[float]:
    """load() in a fresh interpreter each time: imports, vocabulary parsing and table building, as a server pays."""
    script = LOAD + "load(Path(sys.argv[1])); print(time.perf_counter() - t)"
    return [
        float(subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout)
        for _ in range(times)
    ]  # fmt: skip


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], rounds=5)
    args = parser.parse_args()
    model_dir, texts, model = compiled_champion(args)
    numpy = load(model_dir)
    assert isinstance(numpy, NgramLinearModel)
    numpy._set_weights(
        NgramTable(numpy.features, numpy.table.tokens, numpy.table.keys, use_compiled=False),
        numpy._coef, numpy._intercept, numpy._idf,
    )  # fmt: skip
    tokens = sum(len(TOKENS.findall(text.lower())) for text in texts)
    paths: dict[str, Callable[[], object]] = {
        "re.findall (scale)": lambda: [TOKENS.findall(text.lower()) for text in texts],
        "compiled, batched": lambda: model.predict_proba(texts),
        "compiled, one per call": lambda: [model.predict_proba([text]) for text in texts],
        "numpy, batched": lambda: numpy.predict_proba(texts),
        "numpy, one per call": lambda: [numpy.predict_proba([text]) for text in texts],
        "regex reference, batched": lambda: model.reference_scores(texts),
    }
    for function in paths.values():  # warm: the numpy path builds its tables on first use
        function()
    timings: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):  # interleaved, so a busy moment hurts every path alike
        for name, function in paths.items():
            timings[name] += per_review_ms(function, len(texts), 1)
    floor = min(timings["re.findall (scale)"])
    print(f"{model_dir.name}: {len(texts)} reviews, {tokens / len(texts):.0f} tokens each, {args.rounds} rounds\n")
    print(f"{'path':<28} {'min ms':>8} {'median ms':>10} {'x re.findall':>13}")
    for name, values in timings.items():
        print(f"{name:<28} {min(values):>8.4f} {statistics.median(values):>10.4f} {min(values) / floor:>13.2f}")
    batched, single = min(timings["compiled, batched"]) / floor, min(timings["compiled, one per call"]) / floor
    verdict = "met" if max(batched, single) <= TARGET else "missed"
    print(f"\ntarget <= {TARGET}x re.findall: batched {batched:.2f}x, one per call {single:.2f}x: {verdict}")
    speedup = min(timings["numpy, batched"]) / min(timings["compiled, batched"])
    print(f"compiled vs numpy path: {speedup:.1f}x batched")
    loads = load_seconds(model_dir, 3)
    print(f"load() in a fresh interpreter (imports included): min {min(loads):.2f} s, max {max(loads):.2f} s")


if __name__ == "__main__":
    main()
