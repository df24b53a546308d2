"""Training cost of each params.yaml candidate, its growth on synthetic corpora, and serving cost per review.

Run: NLTK_DATA=/path/to/nltk_data uv run python benchmarks/train.py [--sizes 10000 100000 1000000] [--tokens 30]

Every measurement runs in a child process of its own, so each peak RSS belongs to one fit. Synthetic documents
draw --tokens tokens each from the corpus's own unigram distribution (per label, so there is signal to learn):
30 tokens keeps a 1M-document fit within a few minutes on 2 cores; reviews have ~750.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVING_REPEATS = 300
BATCH = 100


def memory_mib() -> dict[str, float]:
    """This process's current and peak resident memory (VmRSS, VmHWM) in MiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def prepared_splits(nltk_data: Path | None, scratch: Path) -> Path:
    """The seed's 80/20 split of movie_reviews, made by the fetch and prepare stages themselves."""
    from pipeline.stages.fetch import FetchParams, fetch
    from pipeline.stages.prepare import PrepareParams, prepare

    if nltk_data is not None:
        os.environ["NLTK_DATA"] = str(nltk_data)
    fetch(FetchParams(source="nltk:movie_reviews"), scratch / "raw")
    prepare(PrepareParams(test_fraction=0.2, seed=0), scratch / "raw", scratch / "prepared")
    return scratch / "prepared"


def synthetic_source(prepared: Path, scratch: Path) -> Path:
    """Per-label token frequencies of the train split, for children to draw documents from."""
    from pipeline.corpus.splits import read_split
    from pipeline.model import tokenize

    _, texts, labels = read_split(prepared / "train.jsonl")
    counts: dict[str, Counter[str]] = {"negative": Counter(), "positive": Counter()}
    for text, label in zip(texts, labels, strict=True):
        counts[label].update(tokenize(text.lower()))
    path = scratch / "unigrams.json"
    path.write_text(json.dumps({label: dict(counter) for label, counter in counts.items()}))
    return path


def synthetic_corpus(source: Path, documents: int, tokens: int, seed: int = 0) -> tuple[list[str], list[str]]:
    import numpy as np

    unigrams = json.loads(source.read_text())
    rng = np.random.default_rng(seed)
    labels = ["negative", "positive"] * (documents // 2) + ["negative"] * (documents % 2)
    texts: list[str] = [""] * documents
    for label, counts in unigrams.items():
        words = np.array(list(counts))
        weights = np.array(list(counts.values()), dtype=np.float64)
        rows = [i for i, own in enumerate(labels) if own == label]
        drawn = words[rng.choice(len(words), size=(len(rows), tokens), p=weights / weights.sum())]
        for row, document in zip(rows, drawn.tolist(), strict=True):
            texts[row] = " ".join(document)
    return texts, labels


def child(job: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (child) process: fit a candidate, or time a saved model's predictions."""
    from pipeline.corpus.splits import read_split
    from pipeline.model import create, load
    from pipeline.params import load_section
    from pipeline.stages.train import TrainParams, candidate

    kind, options = candidate(load_section(TrainParams, "train", ROOT / "params.yaml"), job["candidate"])
    if job["what"] == "serve":
        _, texts, _ = read_split(Path(job["prepared"]) / "test.jsonl")
        model = load(Path(job["model"]))
        review = min(texts, key=lambda text: abs(len(text.split()) - 700))
        model.predict_proba([review])  # warm: caches, lazily built tables
        single = []
        for _ in range(SERVING_REPEATS):
            start = time.perf_counter()
            model.predict_proba([review])
            single.append(time.perf_counter() - start)
        batches = []
        for start_row in range(0, len(texts) - BATCH + 1, BATCH):
            batch = texts[start_row : start_row + BATCH]
            start = time.perf_counter()
            model.predict_proba(batch)
            batches.append((time.perf_counter() - start) / BATCH)
        return {
            "words": len(review.split()),
            "single_ms": round(statistics.median(single) * 1e3, 4),
            "batch_ms_per_review": round(statistics.median(batches) * 1e3, 4),
        }
    if job["what"] == "fit":
        _, texts, labels = read_split(Path(job["prepared"]) / "train.jsonl")
    else:
        texts, labels = synthetic_corpus(Path(job["source"]), job["documents"], job["tokens"])
    before = memory_mib()
    start = time.perf_counter()
    model = create(kind, options).fit(texts, labels)
    wall_s = time.perf_counter() - start
    if job.get("save"):
        model.save(Path(job["save"]))
    after = memory_mib()
    return {
        "wall_s": round(wall_s, 3),
        "peak_mib": after["VmHWM"],
        "fit_mib": round(after["VmHWM"] - before["VmRSS"], 1),
        "documents": len(texts),
    }


def run_child(job: dict[str, Any], nltk_data: Path | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if nltk_data is not None:
        env["NLTK_DATA"] = str(nltk_data)
    # -P: without it the child's sys.path starts with benchmarks/, whose pipeline.py shadows the package.
    done = subprocess.run(
        [sys.executable, "-P", __file__, "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"child {job['what']} {job['candidate']} failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(later: float, earlier: float) -> str:
    return f"{later / earlier:5.1f}x" if earlier > 0 else "    -"


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    cli.add_argument("--tokens", type=int, default=30, help="tokens per synthetic document (default: %(default)s)")
    cli.add_argument("--candidates", nargs="*", help="params.yaml candidates (default: all)")
    cli.add_argument("--skip-synthetic", nargs="*", default=[], help="candidates to leave out of the synthetic runs")
    cli.add_argument("--nltk-data", type=Path, default=os.environ.get("NLTK_DATA") or None)
    cli.add_argument("--json", type=Path, help="also write the results here")
    cli.add_argument("--child", help=argparse.SUPPRESS)
    args = cli.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0

    sys.path.insert(0, str(ROOT))
    from pipeline.params import load_section
    from pipeline.stages.train import TrainParams

    names = args.candidates or list(load_section(TrainParams, "train", ROOT / "params.yaml").candidates)
    results: dict[str, Any] = {"tokens_per_synthetic_document": args.tokens, "fit": {}, "serve": {}, "growth": {}}
    with tempfile.TemporaryDirectory(prefix="sentiment-train-benchmark-") as folder:
        scratch = Path(folder)
        prepared = prepared_splits(args.nltk_data, scratch)
        source = synthetic_source(prepared, scratch)
        print(f"{'candidate':<18}{'fit s':>8}{'peak MiB':>10}{'fit MiB':>9}{'1 review ms':>13}{'batch ms/review':>17}")
        for name in names:
            model = scratch / "models" / name
            job = {"candidate": name, "prepared": str(prepared)}
            fitted = run_child({**job, "what": "fit", "save": str(model)}, args.nltk_data)
            served = run_child({**job, "what": "serve", "model": str(model)}, args.nltk_data)
            results["fit"][name], results["serve"][name] = fitted, served
            print(
                f"{name:<18}{fitted['wall_s']:>8.2f}{fitted['peak_mib']:>10.1f}{fitted['fit_mib']:>9.1f}"
                f"{served['single_ms']:>13.3f}{served['batch_ms_per_review']:>17.3f}",
                flush=True,
            )
        print(f"\nsynthetic corpora, {args.tokens} tokens per document: fit wall time and peak RSS")
        header = "".join(f"{size:>12,} docs" for size in args.sizes)
        print(f"{'candidate':<18}{header}   time ratios per 10x      memory ratios")
        for name in names:
            if name in args.skip_synthetic:
                continue
            rows = []
            for size in args.sizes:
                job = {"what": "synthetic", "candidate": name, "source": str(source), "documents": size}
                rows.append(run_child({**job, "tokens": args.tokens}, args.nltk_data))
            results["growth"][name] = dict(zip(map(str, args.sizes), rows, strict=True))
            cells = "".join(f"{row['wall_s']:>8.1f}s{row['fit_mib']:>7.0f}M" for row in rows)
            times = " ".join(ratio(b["wall_s"], a["wall_s"]) for a, b in zip(rows, rows[1:], strict=False))
            memory = " ".join(ratio(b["fit_mib"], a["fit_mib"]) for a, b in zip(rows, rows[1:], strict=False))
            print(f"{name:<18}{cells}   {times:<22}{memory}", flush=True)
    print("\nfit MiB: peak RSS during the fit minus RSS before it (data loaded); peak MiB includes imports.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
