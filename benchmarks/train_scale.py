"""Training the champion at scale: train.mode streaming on 10k / 100k / 1M sentence-sampled reviews, beside the
in-memory fit on the same rows.

Run after `dvc repro` (it reads data/prepared and params.yaml's champion):
    NLTK_DATA=... uv run python benchmarks/train_scale.py [--sizes 10000 100000 1000000] [--compare-at 10000]

Corpora are pipeline.corpus.synthetic's: whole sentences of the training split resampled per label (real lengths and
n-gram statistics), written once as JSONL parts under build/bench/train/ and reused. Each fit runs in a child process
of its own, so its peak RSS (VmHWM, plus each counting process's peak: train.streaming.processes), wall time and CPU
seconds (user + system, of the child and its counting processes: this machine is shared, so CPU time is the steadier
figure) are one fit's. Every fit uses the holdout protocol (train.holdout): the
same validation rows for each mode, because a row's fate depends on its number alone. At --compare-at documents the
in-memory fit (today's, liblinear on the whole matrix) and a streamed fit whose solvers see a sample smaller than
the corpus are measured too, for the accuracy each costs, and the alternative solver, SGD over chunks (sgd_fit).
Sentence-sampled validation rows repeat training sentences (every sentence of the pool is in thousands of documents),
so validation accuracy is near 100 % for every fit: the comparison that tells fits apart is accuracy on the real test
split (400 reviews whose sentences no synthetic document holds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHAMPION = "ensemble_bigram_negation_tail"
EPOCHS = 5  # SGD's passes over the training rows


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(since: Any) -> float:
    """This process's CPU seconds since `since`, plus all of its finished children's (the counting processes)."""
    now, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (now.ru_utime - since.ru_utime) + (now.ru_stime - since.ru_stime) + children.ru_utime + children.ru_stime


def workers_peak_mib() -> float:
    """The largest peak RSS of this process's finished children (ru_maxrss is the maximum, not the sum)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def child(job: dict[str, Any]) -> dict[str, Any]:
    """One fit, as the train stage's holdout protocol runs it; its costs and validation scores."""
    import logging

    sys.path.insert(0, str(ROOT))
    from pipeline.corpus.splits import read_split
    from pipeline.params import load_section
    from pipeline.stages.train import TrainParams, candidate, train_holdout

    logging.basicConfig(level=logging.INFO, format="    %(message)s", stream=sys.stderr)
    params = load_section(TrainParams, "train", ROOT / "params.yaml")
    streaming = params.streaming.model_dump() | job.get("streaming", {})
    p = TrainParams.model_validate(
        params.model_dump()
        | {
            "mode": "memory" if job["mode"] == "sgd" else job["mode"],
            "protocol": "holdout",
            "corpus_cv_folds": 0,
            "streaming": streaming,
        }
    )
    kind, options = candidate(p, job["candidate"])
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    if job["mode"] == "sgd":
        return sgd_fit(p, kind, options, Path(job["corpus"]), Path(job["test"]))
    model, cv = train_holdout(p, job["candidate"], kind, options, Path(job["corpus"]))
    cpu_s = cpu_seconds(cpu)
    test = read_split(Path(job["test"]))
    return {
        "test_accuracy": float(np.mean(np.array(model.predict(test.texts)) == np.array(test.labels))),
        "mode": job["mode"],
        "sample_documents": streaming["sample_documents"],
        "wall_s": time.perf_counter() - started,
        "cpu_s": cpu_s,
        "peak_mib": peak_mib(),
        # The main process's peak plus each counting process at its own peak: an upper bound of the whole's.
        "peak_total_mib": peak_mib()
        + (streaming["processes"] * workers_peak_mib() if job["mode"] == "streaming" else 0),
        "processes": streaming["processes"] if job["mode"] == "streaming" else 1,
        "validation_accuracy": cv["accuracy"],
        "validation_roc_auc": cv["roc_auc"],
        "validation_documents": cv["documents"],
        "columns": len(model.table.keys),  # type: ignore[attr-defined]
    }


def sgd_fit(p: Any, kind: str, options: dict[str, Any], corpus: Path, test_file: Path) -> dict[str, Any]:
    """The alternative to liblinear on a sample: each member's loss minimized by SGD (scikit-learn's SGDClassifier,
    partial_fit) over chunks of the training rows, several epochs, on the same streamed columns and whole-corpus NB
    ratios; members scaled and summed as LinearEnsemble does. A streaming trainer would read the chunks from disk
    each epoch; here the rows are held in memory, which changes the cost, not the fit."""
    from sklearn.linear_model import SGDClassifier

    from pipeline.corpus.splits import read_split
    from pipeline.corpus.stream import chunks
    from pipeline.model import create
    from pipeline.model.linear.naive_bayes import ratios_of
    from pipeline.model.linear.streaming import NgramCounts
    from pipeline.stages.train import Holdout

    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    model = create(kind, options)
    holdout = Holdout(p.holdout, p.cv_seed)
    counts = NgramCounts(model.features, p.streaming.max_counted_ngrams)  # type: ignore[attr-defined]
    texts, labels, held_texts, held_labels = [], [], [], []
    for chunk in chunks(corpus, p.streaming.chunk_documents):
        held = holdout(chunk)
        kept = [i for i in range(len(chunk.texts)) if not held[i]]
        texts += [chunk.texts[i] for i in kept]
        labels += [chunk.labels[i] for i in kept]
        held_texts += [chunk.texts[i] for i in range(len(chunk.texts)) if held[i]]
        held_labels += [chunk.labels[i] for i in range(len(chunk.texts)) if held[i]]
        counts.add([chunk.texts[i] for i in kept], np.array([chunk.labels[i] == "positive" for i in kept], np.int64))
    training, sums = counts.vocabulary()
    matrix = training.matrix(texts)
    y = np.array([label == "positive" for label in labels], dtype=np.int64)
    ratios = ratios_of(sums.positive, sums.negative, 1.0)
    from scipy import sparse

    scaled = matrix @ sparse.diags(ratios)
    coef, intercept = np.zeros(matrix.shape[1]), 0.0
    rng = np.random.default_rng(0)
    for member in options["members"]:
        loss = "hinge" if member["kind"] == "nbsvm" else "log_loss"
        x = matrix if member["kind"] == "logistic_regression" else scaled
        sgd = SGDClassifier(loss=loss, alpha=1.0 / x.shape[0], learning_rate="optimal", random_state=0)
        for _ in range(EPOCHS):
            order = rng.permutation(x.shape[0])
            for start in range(0, len(order), p.streaming.chunk_documents):
                rows = order[start : start + p.streaming.chunk_documents]
                sgd.partial_fit(x[rows], y[rows], classes=np.array([0, 1]))
        weights, bias = sgd.coef_[0], float(sgd.intercept_[0])
        if member["kind"] == "nbsvm":
            beta = member.get("interpolation", 0.25)
            weights = (1 - beta) * np.abs(weights).mean() + beta * weights
        exported = weights if member["kind"] == "logistic_regression" else weights * ratios
        spread = float(np.std(matrix @ exported + bias)) or 1.0
        coef, intercept = coef + exported / spread, intercept + bias / spread
    test = read_split(test_file)

    def accuracy(texts_: list[str], labels_: list[str]) -> float:
        predicted = (training.matrix(texts_) @ coef + intercept) > 0
        return float(np.mean(predicted == (np.array(labels_) == "positive")))

    return {
        "mode": "sgd",
        "sample_documents": len(texts),
        "wall_s": time.perf_counter() - started,
        "cpu_s": cpu_seconds(cpu),
        "peak_mib": peak_mib(),
        "peak_total_mib": peak_mib(),
        "processes": 1,
        "validation_accuracy": accuracy(held_texts, held_labels),
        "validation_roc_auc": float("nan"),
        "validation_documents": len(held_texts),
        "columns": len(training.keys),
        "test_accuracy": accuracy(test.texts, test.labels),
    }


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-P", __file__, "--child", json.dumps(job)], stdout=subprocess.PIPE, env=env, check=False
    )  # stderr passes through: the fit's progress lines
    if done.returncode != 0:
        raise SystemExit(f"child {job} failed")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    cli.add_argument("--compare-at", type=int, default=10_000, help="size at which the in-memory fit is measured too")
    cli.add_argument("--small-sample", type=int, default=5_000, help="a streamed fit's sample smaller than the corpus")
    cli.add_argument("--candidate", default=CHAMPION)
    cli.add_argument("--prepared", type=Path, default=ROOT / "data" / "prepared")
    cli.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "train")
    cli.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "train_scale.json")
    cli.add_argument("--child", help=argparse.SUPPRESS)
    args = cli.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    sys.path.insert(0, str(ROOT))
    from pipeline.corpus.splits import read_split
    from pipeline.corpus.synthetic import jsonl_corpus

    split = read_split(args.prepared / "train.jsonl")
    results: dict[str, Any] = {"cores": os.cpu_count(), "candidate": args.candidate, "sizes": {}}
    for size in args.sizes:
        started = time.perf_counter()
        corpus = jsonl_corpus(split, size, args.work / f"corpus-{size}")
        megabytes = sum(part.stat().st_size for part in corpus.glob("*.jsonl")) / 1e6
        print(f"corpus {size:,}: {megabytes:,.0f} MB in {corpus} ({time.perf_counter() - started:.0f} s)", flush=True)
        job = {"candidate": args.candidate, "corpus": str(corpus), "test": str(args.prepared / "test.jsonl")}
        runs = [run_child({**job, "mode": "streaming"})]
        if size == args.compare_at:
            first_part = str(sorted(corpus.glob("*.jsonl"))[0])  # one part holds every row up to 100k
            runs.append(run_child({**job, "mode": "streaming", "streaming": {"sample_documents": args.small_sample}}))
            runs.append(run_child({**job, "mode": "memory", "corpus": first_part}))
            runs.append(run_child({**job, "mode": "sgd"}))
        results["sizes"][str(size)] = {"corpus_mb": megabytes, "runs": runs}
        for run in runs:
            print(
                f"  {size:>9,} {run['mode']:<9} sample {run['sample_documents']:>6,}: wall {run['wall_s']:7.1f} s, "
                f"CPU {run['cpu_s']:7.1f} s, peak RSS {run['peak_total_mib']:6.0f} MiB ({run['processes']} counting), "
                f"{run['columns']:>9,} columns, "
                f"validation accuracy {100 * run['validation_accuracy']:.2f} % on {run['validation_documents']:,}, "
                f"real test split {100 * run['test_accuracy']:.2f} %",
                flush=True,
            )
    streamed = [(int(size), entry["runs"][0]) for size, entry in results["sizes"].items()]
    for (small, a), (large, b) in zip(streamed, streamed[1:], strict=False):
        growth = {key: b[key] / a[key] for key in ("wall_s", "cpu_s", "peak_total_mib")}
        results.setdefault("growth", {})[f"{small}->{large}"] = growth
        print(
            f"  {small:,} -> {large:,} ({large / small:.0f}x documents): wall {growth['wall_s']:.1f}x, "
            f"CPU {growth['cpu_s']:.1f}x, peak RSS {growth['peak_total_mib']:.1f}x"
        )
    if str(args.compare_at) in results["sizes"]:
        runs = results["sizes"][str(args.compare_at)]["runs"]
        memory = next(run for run in runs if run["mode"] == "memory")
        for run in runs:
            if run is not memory:
                points = 100 * (run["validation_accuracy"] - memory["validation_accuracy"])
                test_points = 100 * (run["test_accuracy"] - memory["test_accuracy"])
                print(
                    f"  at {args.compare_at:,}: {run['mode']} (sample {run['sample_documents']:,}) - in-memory = "
                    f"{points:+.2f} validation accuracy points, {test_points:+.2f} on the real test split; "
                    f"CPU {run['cpu_s'] / memory['cpu_s']:.2f}x, "
                    f"peak RSS {run['peak_total_mib'] / memory['peak_total_mib']:.2f}x"
                )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
