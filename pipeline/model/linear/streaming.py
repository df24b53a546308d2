"""Fitting an n-gram linear model on a corpus read in chunks: memory bounded by the vocabulary and fixed caps, never
by the corpus.

One pass over the corpus:
1. count: each chunk is tokenized by the model's reference tokenizer and reduced to its distinct (document, n-gram)
   cells; per-label document counts of every n-gram are merged into one sorted table (NgramCounts). The chunk's
   tokens and cells are dropped before the next one is read.
2. sample: a stratified reservoir sample of about `sample_documents` texts is kept as the pass goes.
Then:
3. prune: min_document_count and max_features choose the columns from the counts, as the in-memory fit does;
4. fit: naive Bayes and NBSVM's / NB-LR's log-count ratios come from the whole corpus's counts (ColumnSums); the
   solvers (liblinear's SVM and logistic regression) fit on the sample's rows over those columns. The time of the
   fit is that of a sample-sized fit, whatever the corpus size, so the whole grows with the count pass: linearly.

Counting is exact unless the table of counted n-grams grows past `max_counted_ngrams`; then the n-grams seen in the
fewest documents so far are dropped until half the table is left (the log says when and below which count), and an
n-gram dropped and seen again restarts from 0: its count is low by at most the dropped threshold per pruning. Only
rare n-grams (which min_document_count or max_features usually cut anyway) are affected; the log says when it
happened. With a corpus of up to ~100k reviews it does not (docs/models.md has the measured table sizes).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import multiprocessing
import random
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from pipeline.corpus.stream import Chunk
from pipeline.errors import PipelineError
from pipeline.labels import LABELS
from pipeline.model.linear.base import ColumnSums, NgramLinearModel, distinct_cells
from pipeline.model.ngrams.features import NgramFeatures
from pipeline.model.ngrams.keys import ngram_keys
from pipeline.model.ngrams.vocabulary import GrowingIds, TrainingVocabulary
from pipeline.progress import Progress

log = logging.getLogger(__name__)

# A streamed count keys n-grams with a fixed base (the final vocabulary's is its own token count, unknown until the
# end), the largest whose n-th power fits int64: 2**31 tokens for bigrams, 2**21 for trigrams.
FIXED_BASE = {1: 2**62, 2: 2**31, 3: 2**21}


@dataclasses.dataclass(frozen=True)
class StreamingSettings:
    """The caps that bound a streamed fit's memory; train.streaming in params.yaml."""

    chunk_documents: int = 2_000  # texts tokenized and counted at a time
    max_counted_ngrams: int = 10_000_000  # distinct n-grams counted before the rarest are dropped (16 bytes each)
    sample_documents: int = 20_000  # texts the solvers fit on, a stratified sample of the corpus
    processes: int = 1  # counting processes: each tokenizes and counts whole chunks
    seed: int = 0  # of the sample


@dataclasses.dataclass(frozen=True)
class ChunkCounts:
    """One chunk's n-grams, keyed by FIXED_BASE with token ids of its own (tokens[i] is id i + 1), and their
    per-label document counts: all a counting process sends back, so chunks can be counted in parallel."""

    tokens: list[str]
    keys: np.ndarray
    counts: np.ndarray  # (n-gram, label) document counts, int32
    documents: np.ndarray  # per label


def count_chunk(
    tokenizer: Callable[[str], list[str]], ngram_range: tuple[int, int], texts: list[str], positive: np.ndarray
) -> ChunkCounts:
    """Tokenize `texts` and count each n-gram once per document, per label."""
    token_ids = GrowingIds()
    tokens = [tokenizer(text) for text in texts]
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    flat = np.fromiter(map(token_ids.__getitem__, chain.from_iterable(tokens)), np.int64, int(lengths.sum()))
    del tokens
    base = FIXED_BASE[ngram_range[1]]
    if len(token_ids) >= base:
        raise PipelineError(f"more than {base - 1:,} distinct tokens in one chunk: lower chunk_documents")
    keys, owners = ngram_keys(flat, np.repeat(np.arange(len(texts)), lengths), base, ngram_range)
    unique, position = np.unique(keys, return_inverse=True)
    owners, columns = distinct_cells(owners, position, np.empty(len(unique), dtype=np.int64))
    label = positive[owners]
    counts = np.stack([np.bincount(columns[label == value], minlength=len(unique)) for value in (0, 1)], axis=1)
    return ChunkCounts(list(token_ids), unique, counts.astype(np.int32), np.bincount(positive, minlength=2))


# A counting process's tokenizer, built once by its initializer (a closure does not pickle).
_worker: tuple[Callable[[str], list[str]], tuple[int, int]] | None = None


def _start_worker(features: NgramFeatures) -> None:
    global _worker  # noqa: PLW0603 (one per worker process, set once)
    _worker = (features.tokenizer(), features.ngram_range)


def _count_in_worker(texts: list[str], positive: np.ndarray) -> ChunkCounts:
    assert _worker is not None, "the pool's initializer sets the tokenizer"
    return count_chunk(*_worker, texts, positive)


class NgramCounts:
    """Per-label document counts of every n-gram seen so far, in one table sorted by key, and the token numbering.

    Each chunk's counts wait in `pending` until they hold as many entries as the table, then all merge at once: a
    merge sorts the table, so merging every chunk into a big table would cost a sort of it per chunk.
    """

    def __init__(self, features: NgramFeatures, max_counted: int) -> None:
        self.features, self.max_counted = features, max_counted
        self.base = FIXED_BASE[features.ngram_range[1]]
        self.token_ids = GrowingIds()
        self.keys = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros((0, 2), dtype=np.int32)  # column 0 negative, 1 positive (LABELS order)
        self.documents = np.zeros(2, dtype=np.int64)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pruned_below = 0  # the highest count pruning dropped; 0 while the counts are exact
        self._tokens = features.tokenizer()

    def add(self, texts: list[str], positive: np.ndarray) -> None:
        """Count the n-grams of `texts` (positive[i] is 1 where texts[i] is positive) once per document."""
        self.add_counted(count_chunk(self._tokens, self.features.ngram_range, texts, positive))

    def add_counted(self, chunk: ChunkCounts) -> None:
        """Add one chunk's count_chunk(): its token ids, local to it, become this table's, numbered in order of
        first appearance as if every chunk had been tokenized here, in turn."""
        ids = np.fromiter(map(self.token_ids.__getitem__, chunk.tokens), np.int64, len(chunk.tokens))
        if len(self.token_ids) >= self.base:
            raise PipelineError(f"more than {self.base - 1:,} distinct tokens: too many for streamed n-gram keys")
        mapping = np.concatenate([[0], ids])
        keys, rest, place = np.zeros(len(chunk.keys), dtype=np.int64), chunk.keys.copy(), 1
        while rest.any():
            keys += mapping[rest % self.base] * place
            rest //= self.base
            place *= self.base
        self.pending.append((keys, chunk.counts))
        self.documents += chunk.documents
        if sum(len(keys) for keys, _ in self.pending) >= max(len(self.keys), 1_000_000):
            self.merge()

    def merge(self) -> None:
        """Fold the pending chunks' counts into the table; prune it if it outgrew max_counted."""
        if not self.pending:
            return
        keys = np.concatenate([self.keys, *(keys for keys, _ in self.pending)])
        counts = np.concatenate([self.counts, *(counts for _, counts in self.pending)])
        self.pending = []
        self.keys, where = np.unique(keys, return_inverse=True)
        del keys
        self.counts = np.stack(
            [np.bincount(where, weights=counts[:, value], minlength=len(self.keys)) for value in (0, 1)], axis=1
        ).astype(np.int32)
        if len(self.keys) > self.max_counted:
            self.prune(self.max_counted // 2)

    def prune(self, keep: int) -> None:
        """Drop the n-grams in the fewest documents so far until at most `keep` are left (ties all go)."""
        totals = self.counts.sum(axis=1)
        threshold = int(np.partition(totals, len(totals) - keep)[len(totals) - keep])
        kept = totals > threshold
        self.pruned_below = max(self.pruned_below, threshold)
        log.warning(
            "counted n-grams past train.streaming.max_counted_ngrams (%d): dropped %d seen in at most %d documents so "
            "far; counts of rare n-grams are now approximate",
            self.max_counted, int((~kept).sum()), threshold,
        )  # fmt: skip
        self.keys, self.counts = self.keys[kept], self.counts[kept]

    def vocabulary(self) -> tuple[TrainingVocabulary, ColumnSums]:
        """The pruned columns (min_document_count, max_features, as prune_cells chooses them) and their sums.

        Kept n-grams' token ids are renumbered 1.. in their order of first appearance and their keys re-packed with
        the final base; that keeps their order, so columns come in the order an in-memory fit gives them.
        """
        self.merge()
        features = self.features
        totals = self.counts.sum(axis=1, dtype=np.int64)
        kept = np.flatnonzero(totals >= features.min_document_count)
        if features.max_features is not None and len(kept) > features.max_features:
            kept = np.sort(kept[np.lexsort((self.keys[kept], -totals[kept]))[: features.max_features]])
        if not len(kept):
            raise PipelineError(f"no n-gram is in {features.min_document_count} training documents; lower it")
        keys, counts = self.keys[kept], self.counts[kept]
        digits = []
        rest = keys.copy()
        while rest.any():
            digits.append(rest % self.base)
            rest //= self.base
        used = np.unique(np.concatenate(digits))
        used = used[used > 0]
        renumber = np.zeros(int(used[-1]) + 1, dtype=np.int64)
        renumber[used] = np.arange(1, len(used) + 1)
        base = len(used) + 1
        final = np.zeros(len(keys), dtype=np.int64)
        for place, digit in enumerate(digits):  # digits[0] is the last token's
            final += renumber[digit] * base**place
        every_token = list(self.token_ids)  # id i + 1 is every_token[i]
        token_ids = {every_token[number - 1]: new for new, number in enumerate(used.tolist(), start=1)}
        sums = ColumnSums(
            counts[:, 0].astype(np.float64),
            counts[:, 1].astype(np.float64),
            int(self.documents[0]),
            int(self.documents[1]),
        )
        return TrainingVocabulary(features, token_ids, final, None), sums


class Reservoir:
    """A uniform sample of at most `size` rows of a stream (Vitter's algorithm R), in stream order."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng = size, rng
        self.rows: list[tuple[int, str]] = []
        self.seen = 0

    def offer(self, number: int, text: str) -> None:
        if len(self.rows) < self.size:
            self.rows.append((number, text))
        else:
            slot = self.rng.randrange(self.seen + 1)
            if slot < self.size:
                self.rows[slot] = (number, text)
        self.seen += 1


class StratifiedSample:
    """A sample of at most `size` (text, label) rows of a stream with each label in its share of the stream: one
    Reservoir per label (so at most `size` texts each while reading), cut to the labels' shares at the end; each
    label keeps at least one row (one more than `size`, at worst), so the solvers always see both."""

    def __init__(self, size: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.reservoirs = {label: Reservoir(size, self.rng) for label in LABELS}
        self.seen = 0

    def offer(self, texts: list[str], labels: list[str]) -> None:
        for text, label in zip(texts, labels, strict=True):
            self.reservoirs[label].offer(self.seen, text)
            self.seen += 1

    def sample(self) -> tuple[list[str], list[str]]:
        rows: list[tuple[int, str, str]] = []
        for label, reservoir in self.reservoirs.items():
            share = max(1, round(self.size * reservoir.seen / max(self.seen, 1))) if reservoir.seen else 0
            # A random subset: a reservoir's slots are not exchangeable (slot i starts with row i), so a prefix is not.
            kept = self.rng.sample(reservoir.rows, min(share, len(reservoir.rows)))
            rows += [(number, text, label) for number, text in kept]
        rows.sort()
        return [text for _, text, _ in rows], [label for _, _, label in rows]


class Counting:
    """Chunks counted in this process, or by `processes` worker processes with at most two chunks each in flight (so
    memory stays bounded however fast the corpus is read), their results added in submission order."""

    def __init__(self, counts: NgramCounts, processes: int) -> None:
        self.counts = counts
        self.pool = None
        self.waiting: collections.deque[Any] = collections.deque()
        self.limit = 2 * processes
        if processes > 1:
            context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
            self.pool = context.Pool(processes, initializer=_start_worker, initargs=(counts.features,))

    def submit(self, texts: list[str], positive: np.ndarray) -> None:
        if self.pool is None:
            self.counts.add(texts, positive)
            return
        self.waiting.append(self.pool.apply_async(_count_in_worker, (texts, positive)))
        while len(self.waiting) >= self.limit:
            self.counts.add_counted(self.waiting.popleft().get())

    def finish(self) -> None:
        while self.waiting:
            self.counts.add_counted(self.waiting.popleft().get())

    def __enter__(self) -> Counting:
        return self

    def __exit__(self, *failure: object) -> None:
        """Workers end with the pass; on a bad row (or any error) at once, their chunks dropped."""
        if self.pool is not None:
            if failure[0] is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()


def sample_matrix(training: TrainingVocabulary, texts: list[str], chunk_documents: int) -> Any:
    """training.matrix(texts), made chunk_documents at a time: the n-gram temporaries of a whole 50k-review sample
    would take ~10x the matrix itself."""
    from scipy import sparse

    parts = [training.matrix(texts[start : start + chunk_documents]) for start in range(0, len(texts), chunk_documents)]
    return sparse.vstack(parts, format="csr")


def fit_streamed(
    model: NgramLinearModel,
    chunks: Iterable[Chunk],
    settings: StreamingSettings,
    total_bytes: int,
    held_out: Callable[[Chunk], np.ndarray] | None = None,
) -> tuple[NgramLinearModel, list[str], list[str]]:
    """Fit `model` on the rows of `chunks`, except those `held_out` marks (a boolean per row of a chunk), which are
    returned as (texts, labels) for validation, so the one pass over the corpus serves both."""
    if model.features.weighting != "binary":
        raise PipelineError(f"a streamed fit counts presence: {model.kind} needs weighting binary")
    counts = NgramCounts(model.features, settings.max_counted_ngrams)
    with Counting(counts, settings.processes) as counting:
        reservoir = StratifiedSample(settings.sample_documents, settings.seed)
        held_texts: list[str] = []
        held_labels: list[str] = []
        progress = Progress(f"{model.kind}: counting n-grams", total_bytes, log)
        done = 0
        for number, chunk in enumerate(chunks, start=1):
            texts, labels = chunk.texts, chunk.labels
            if held_out is not None:
                mask = held_out(chunk)
                held_texts += [text for text, held in zip(texts, mask, strict=True) if held]
                held_labels += [label for label, held in zip(labels, mask, strict=True) if held]
                texts = [text for text, held in zip(texts, mask, strict=True) if not held]
                labels = [label for label, held in zip(labels, mask, strict=True) if not held]
            if texts:
                counting.submit(texts, np.array([label == LABELS[1] for label in labels], dtype=np.int64))
                reservoir.offer(texts, labels)
            done += len(texts)
            progress.update(
                chunk.bytes_read, f"{done:,} documents counted ({len(held_texts):,} held out), {number} chunks, "
                f"{len(counts.keys):,} distinct n-grams at the last merge",
            )  # fmt: skip
        counting.finish()
    progress.update(total_bytes, f"{done:,} documents counted in all", final=True)
    if min(counts.documents) == 0:
        raise PipelineError(f"the training rows ({done:,}) hold one label only; a classifier needs both")
    training, sums = counts.vocabulary()
    pruned = counts.pruned_below
    del counts
    sample_texts, sample_labels = reservoir.sample()
    del reservoir
    log.info(
        "%s: %d columns from %d documents (%s); solvers fit on a sample of %d",
        model.kind, len(training.keys), done,
        f"approximate: n-grams in at most {pruned} documents were dropped at times" if pruned else "exact counts",
        len(sample_texts),
    )  # fmt: skip
    matrix = sample_matrix(training, sample_texts, settings.chunk_documents)
    del sample_texts
    log.info("%s: fitting on the sample's %d x %d matrix (%d cells)", model.kind, *matrix.shape, matrix.nnz)
    model.fit_counted(training, sums, matrix, sample_labels)
    return model, held_texts, held_labels
