"""Large corpora with real reviews' statistics, for benchmarks and scale tests: whole sentences of a split, resampled.

A synthetic document of k tokens drawn from a unigram distribution has neither the length nor the n-grams of a
review (and a bigram model sees no bigram it could learn from). Here each document takes the sentence count of a
random real review of its label, and that many sentences drawn from all the split's sentences of that label, so its
length, vocabulary, bigrams, negation scopes and last sentences are those of real reviews of that label.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from pipeline.corpus.splits import Split
from pipeline.files import staged, write_jsonl

ROWS_PER_FILE = 100_000  # one JSONL file per this many reviews: a reader streams them file by file


def sentence_sampled(split: Split, size: int, seed: int = 0) -> Iterator[tuple[int, str, str]]:
    """(number, text, label) of `size` documents; labels alternate, so each has half. Same seed, same documents."""
    rng = random.Random(seed)
    sentences: dict[str, list[str]] = {}
    lengths: dict[str, list[int]] = {}
    for text, label in zip(split.texts, split.labels, strict=True):
        lines = [line for line in text.split("\n") if line.strip()]  # movie_reviews holds one sentence a line
        sentences.setdefault(label, []).extend(lines)
        lengths.setdefault(label, []).append(len(lines))
    labels = sorted(sentences)
    for number in range(size):
        label = labels[number % len(labels)]
        yield number, "\n".join(rng.choices(sentences[label], k=rng.choice(lengths[label]))), label


def jsonl_corpus(split: Split, size: int, folder: Path, seed: int = 0) -> Path:
    """`folder` holding sentence_sampled() documents as part-NNNNN.jsonl (id, text, label), written once.

    Built in a staged sibling, so an interrupted build leaves nothing a later run would take for a corpus; a folder
    already built for this size and seed is reused as is.
    """
    marker = f"_BUILT_{size}_{seed}"
    if (folder / marker).exists():
        return folder
    with staged(folder) as building:
        building.mkdir()
        rows = sentence_sampled(split, size, seed)
        for part in range(0, size, ROWS_PER_FILE):
            chunk = (next(rows) for _ in range(min(ROWS_PER_FILE, size - part)))
            write_jsonl(
                building / f"part-{part // ROWS_PER_FILE:05d}.jsonl",
                ({"id": f"r{number:07d}", "text": text, "label": label} for number, text, label in chunk),
            )
        (building / marker).touch()
    return folder
