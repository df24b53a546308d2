"""Prepare stage: check the data, drop what cannot be used, split train/test without leaks, report.

dvc.yaml: sentiment prepare data/raw data/prepared metrics/data.json plots/data/lengths.png
"""

from __future__ import annotations

import logging
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from pipeline.errors import PipelineError
from pipeline.files import read_jsonl, staged, write_json, write_jsonl
from pipeline.labels import LABELS
from pipeline.params import Params

log = logging.getLogger(__name__)

# The seed shuffled its positive file ids, then its negative ones, with one random.seed(0) stream;
# keeping that order makes seed 0 reproduce its split (and its 70.75 %) exactly.
SHUFFLE_ORDER = tuple(reversed(LABELS))
NOT_WORD = re.compile(r"[\W_]+")
LENGTH_QUANTILES = (0.1, 0.5, 0.9)


class PrepareParams(Params):
    test_fraction: float = Field(default=0.2, gt=0, lt=1)  # share of each label held out for the final test score
    seed: int = 0  # 0 with 0.2 is the seed project's split: first 800 of each label train
    # A label with fewer documents (after empty ones are dropped) fails the run: too few to learn or to score.
    min_documents_per_label: int = Field(default=2, ge=2)


def normalized(text: str) -> str:
    """What two copies of one review still share after a scrape or an edit: case, accents' encoding (NFKC),
    punctuation and spacing are ignored. Equal keys are near-exact duplicates."""
    return " ".join(NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


def split(rows: list[dict], test_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Stratified: shuffle each label's documents in corpus order, hold out the last share."""
    if not 0 < test_fraction < 1:
        raise PipelineError(f"prepare.test_fraction must be between 0 and 1, got {test_fraction}")
    rng = random.Random(seed)
    train, test = [], []
    for label in SHUFFLE_ORDER:
        documents = [row for row in rows if row["label"] == label]
        held_out = round(len(documents) * test_fraction)
        if held_out < 1 or held_out >= len(documents):
            raise PipelineError(
                f"{len(documents)} '{label}' documents cannot be split with test_fraction {test_fraction}: "
                "each split needs at least one of each label"
            )
        rng.shuffle(documents)
        train += documents[: len(documents) - held_out]
        test += documents[len(documents) - held_out :]
    return train, test


def split_by_group(rows: list[dict], test_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Whole groups (all reviews of one movie, say) go to one side: shuffled groups fill the test split until it
    holds test_fraction of the documents. A document without a group is a group of its own."""
    if not 0 < test_fraction < 1:
        raise PipelineError(f"prepare.test_fraction must be between 0 and 1, got {test_fraction}")
    members: dict[str, list[dict]] = {}
    for row in rows:
        members.setdefault(row.get("group") or f"\0{row['id']}", []).append(row)
    groups = list(members)
    random.Random(seed).shuffle(groups)
    wanted = round(len(rows) * test_fraction)
    train, test = [], []
    for group in groups:
        (test if len(test) < wanted else train).extend(members[group])
    for name, part in (("train", train), ("test", test)):
        if missing := [label for label in LABELS if not any(row["label"] == label for row in part)]:
            raise PipelineError(
                f"splitting {len(groups)} groups with test_fraction {test_fraction} leaves the {name} split without "
                f"{', '.join(missing)} documents: fewer, larger groups than a split can balance"
            )
    return train, test


def without_leaks(train: Sequence[dict], test: Sequence[dict]) -> tuple[list[dict], dict[str, int]]:
    """The test split minus every document whose text (normalized) is in train or earlier in test: a copy the
    model trained on, or a second copy in test, scores it twice. Counted as exact or near-exact copies."""
    seen_exact = {row["text"] for row in train}
    seen = {normalized(row["text"]) for row in train}
    kept, counts = [], Counter({"exact": 0, "near_exact": 0})
    for row in test:
        key = normalized(row["text"])
        if key in seen:
            counts["exact" if row["text"] in seen_exact else "near_exact"] += 1
            continue
        seen.add(key)
        seen_exact.add(row["text"])
        kept.append(row)
    return kept, dict(counts)


def check_labels(rows: Iterable[dict], where: Path, minimum: int) -> Counter[str]:
    """Both labels, none other, each at least `minimum` times, or one line naming the file and the counts."""
    counts = Counter(row["label"] for row in rows)
    if unknown := sorted(set(counts) - set(LABELS)):
        raise PipelineError(f"{where}: labels {unknown} are not in {list(LABELS)} ({dict(counts)})")
    if len(counts) < len(LABELS):
        raise PipelineError(f"{where}: only {dict(counts)}; a classifier needs both {' and '.join(LABELS)}")
    if small := {label: n for label, n in counts.items() if n < minimum}:
        shown = ", ".join(f"{n} {label}" for label, n in sorted(small.items()))
        raise PipelineError(f"{where}: {shown} documents, under prepare.min_documents_per_label {minimum}")
    return counts


def _quantiles(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    return {f"p{round(q * 100)}": ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in LENGTH_QUANTILES}


def data_report(rows: list[dict], train: list[dict], test: list[dict], dropped: dict[str, Any]) -> dict[str, Any]:
    """The metrics `dvc metrics diff` shows when data changes: sizes, balance, what was dropped, lengths in words."""
    lengths = {label: [len(row["text"].split()) for row in rows if row["label"] == label] for label in LABELS}
    return {
        "documents": len(rows),
        "train": {label: sum(row["label"] == label for row in train) for label in LABELS},
        "test": {label: sum(row["label"] == label for row in test) for label in LABELS},
        "positive_share": round(sum(row["label"] == "positive" for row in rows) / len(rows), 4),
        "dropped": dropped,
        "words": {label: _quantiles(values) for label, values in lengths.items()},
    }


def length_figure(rows: list[dict]) -> Any:
    """Words per document, one histogram per label on shared bins: a label whose reviews are much longer lets a
    model learn length, not sentiment."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    lengths = {label: [len(row["text"].split()) for row in rows if row["label"] == label] for label in LABELS}
    top = max(max(values) for values in lengths.values())
    figure, axes = pyplot.subplots(figsize=(6, 3), dpi=100)
    axes.hist(list(lengths.values()), bins=30, range=(0, top), label=list(lengths), histtype="step", linewidth=1.5)
    axes.set_xlabel("words per document")
    axes.set_ylabel("documents")
    axes.legend()
    figure.tight_layout()
    return figure


def prepare(
    p: PrepareParams, raw: Path, out: Path, report_out: Path | None = None, plot_out: Path | None = None
) -> dict[str, Any]:
    """Drop empty texts, check labels, split (by group when fetch gave one), take leaks out of test, report.

    Nothing is written unless every check passes: each output is staged and moved into place at the end.
    """
    source = raw / "reviews.jsonl"
    rows = read_jsonl(source)
    usable = [row for row in rows if row["text"].strip()]
    if len(usable) < len(rows):
        log.warning("dropped %d empty documents of %d", len(rows) - len(usable), len(rows))
    check_labels(usable, source, p.min_documents_per_label)
    grouped = any(row.get("group") for row in usable)
    train, test = (split_by_group if grouped else split)(usable, p.test_fraction, p.seed)
    test, duplicates = without_leaks(train, test)
    if sum(duplicates.values()):
        log.warning(
            "removed %d exact and %d near-exact copies of training texts from the test split",
            duplicates["exact"],
            duplicates["near_exact"],
        )
    check_labels(test, source.with_name("test split"), 1)
    report = data_report(usable, train, test, {"empty": len(rows) - len(usable), "test_duplicates": duplicates})
    summary = {
        "dropped_empty": len(rows) - len(usable),
        "dropped_test_duplicates": sum(duplicates.values()),
        "grouped": grouped,
        "train": report["train"],
        "test": report["test"],
    }
    figure = length_figure(usable) if plot_out is not None else None
    with staged(out) as folder:
        write_jsonl(folder / "train.jsonl", train)
        write_jsonl(folder / "test.jsonl", test)
        write_json(folder / "summary.json", summary)
        if report_out is not None:
            with staged(report_out) as report_file:
                write_json(report_file, report)
        if plot_out is not None:
            with staged(plot_out) as plot_file:
                _save(figure, plot_file)
    log.info("split %d documents: train %s, test %s", len(usable), summary["train"], summary["test"])
    return summary


def _save(figure: Any, path: Path) -> None:
    from matplotlib import pyplot

    figure.savefig(path, format="png")
    pyplot.close(figure)
