"""Streamed fits: the same model as the in-memory fit when nothing is capped, whole-corpus counts when the solvers'
sample is capped, approximate counts only past the counting cap, and a corpus bigger than the memory limit."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.corpus.stream import chunks, corpus_bytes
from pipeline.errors import PipelineError
from pipeline.model import NgramFeatures, NgramLinearModel, create
from pipeline.model.linear.streaming import NgramCounts, StratifiedSample, StreamingSettings, fit_streamed
from pipeline.model.ngrams.vocabulary import TokenizedTexts, TrainingVocabulary, count_cells
from tests.unit.model.conftest import LINEAR_KINDS

ROOT = Path(__file__).resolve().parents[4]
CHAMPION = {
    "members": [
        {"kind": "nbsvm", "interpolation": 0.5},
        {"kind": "nb_logistic_regression"},
        {"kind": "logistic_regression"},
    ],
    "features": {"mark_negation": True, "tail_sentences": 3},
}


def streamed(kind: str, options: dict, corpus: Path, **settings: int) -> NgramLinearModel:
    model = create(kind, options)
    assert isinstance(model, NgramLinearModel)
    rows = chunks(corpus, settings.pop("chunk_documents", 3))
    fitted, _, _ = fit_streamed(model, rows, StreamingSettings(**settings), corpus_bytes(corpus))
    return fitted


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_a_streamed_fit_with_nothing_capped_is_the_in_memory_fit(kind: str, prepared: Path) -> None:
    corpus = prepared / "train.jsonl"
    split, test = read_split(corpus), read_split(prepared / "test.jsonl")
    options = CHAMPION if kind == "linear_ensemble" else {}
    if kind == "bernoulli_nb" or create(kind, options).features.weighting != "binary":
        options = {**options, "features": {**options.get("features", {}), "weighting": "binary"}}
    in_memory = create(kind, options).fit(split.texts, split.labels)
    fitted = streamed(kind, options, corpus)  # chunks of 3 documents: 7 chunks, counts merged across them
    assert fitted.table.vocabulary() == in_memory.table.vocabulary()  # same columns, in the same order
    assert np.allclose(fitted.scores(test.texts), in_memory.scores(test.texts), rtol=1e-9, atol=1e-12)


def test_chunks_counted_by_worker_processes_give_the_same_model(prepared: Path) -> None:
    corpus = prepared / "train.jsonl"
    serial = streamed("linear_ensemble", CHAMPION, corpus)
    parallel = streamed("linear_ensemble", CHAMPION, corpus, processes=2)  # 7 chunks of 3 over 2 processes
    assert parallel.table.vocabulary() == serial.table.vocabulary()
    texts = read_split(prepared / "test.jsonl").texts
    assert np.array_equal(parallel.scores(texts), serial.scores(texts))


def test_count_based_parts_read_the_whole_corpus_when_the_sample_is_capped(prepared: Path) -> None:
    corpus = prepared / "train.jsonl"
    split = read_split(corpus)
    in_memory = create("multinomial_nb", {}).fit(split.texts, split.labels)
    capped = streamed("multinomial_nb", {}, corpus, sample_documents=4)
    assert np.allclose(capped.scores(split.texts), in_memory.scores(split.texts), rtol=1e-9, atol=1e-12)
    # NBSVM's ratios too: its SVM saw 4 documents, its ratios all 20.
    nbsvm = streamed("nbsvm", {}, corpus, sample_documents=4)
    reference = create("nbsvm", {}).fit(split.texts, split.labels)
    assert np.array_equal(nbsvm._ratios, reference._ratios)  # type: ignore[attr-defined]


def test_counts_merged_over_chunks_are_those_of_the_whole(prepared: Path) -> None:
    split = read_split(prepared / "train.jsonl")
    features = NgramFeatures(mark_negation=True)
    counts = NgramCounts(features, max_counted=10**9)
    positive = np.array([label == "positive" for label in split.labels], dtype=np.int64)
    for start in range(0, len(split.texts), 2):
        counts.add(split.texts[start : start + 2], positive[start : start + 2])
        counts.merge()  # every chunk merged into the table, the costliest order
    training, sums = counts.vocabulary()
    cells = count_cells(TokenizedTexts.of(features, split.texts))
    reference, matrix = TrainingVocabulary.learn(TokenizedTexts.of(features, split.texts))
    assert np.array_equal(training.keys, reference.keys) and np.array_equal(training.keys, cells.keys)
    assert np.array_equal(sums.positive, np.asarray(matrix[positive == 1].sum(axis=0)).ravel())
    assert (sums.negative_documents, sums.positive_documents) == (10, 10)


def test_past_the_counting_cap_the_rarest_are_dropped_and_it_is_logged(
    prepared: Path, caplog: pytest.LogCaptureFixture
) -> None:
    split = read_split(prepared / "train.jsonl")
    counts = NgramCounts(NgramFeatures(), max_counted=100)  # the tiny corpus has 129
    with caplog.at_level(logging.WARNING):
        counts.add(split.texts, np.array([label == "positive" for label in split.labels], dtype=np.int64))
        counts.merge()
    assert len(counts.keys) <= 50 and counts.pruned_below >= 1
    assert counts.counts.sum(axis=1).min() > counts.pruned_below  # what is left is what was seen most
    assert "approximate" in caplog.text


def test_the_sample_is_uniform_in_stream_order_with_each_label_in_its_share() -> None:
    picked = np.zeros(1_000)
    labels = ["positive" if i % 4 else "negative" for i in range(1_000)]  # 3 positive to 1 negative
    for seed in range(200):
        sample = StratifiedSample(20, seed)
        sample.offer([str(i) for i in range(1_000)], labels)
        texts, chosen = sample.sample()
        assert texts == sorted(texts, key=int) and chosen == [labels[int(text)] for text in texts]
        assert chosen.count("positive") == 15 and chosen.count("negative") == 5
        picked[[int(text) for text in texts]] += 1
    # Each row is kept with probability 20/1000: the first and the last hundred rows alike (4,000 picks in all).
    assert 320 <= picked[:100].sum() <= 480 and 320 <= picked[-100:].sum() <= 480
    # A corpus under twice the size: each label's reservoir holds all its rows, and the cut must not keep the first.
    half = StratifiedSample(500, 0)
    half.offer([str(i) for i in range(1_000)], ["positive" if i % 2 else "negative" for i in range(1_000)])
    kept = [int(text) for text in half.sample()[0]]
    assert len(kept) == 500 and 30 <= sum(i >= 900 for i in kept) <= 70  # the last 100 rows' share: ~50
    one_each = StratifiedSample(2, 0)
    one_each.offer(["a"] * 99 + ["b"], ["positive"] * 99 + ["negative"])
    assert one_each.sample()[1].count("negative") == 1  # a label of 1 % keeps a row: the solvers need both


def test_weightings_other_than_presence_are_refused(prepared: Path) -> None:
    model = create("logistic_regression", {"features": {"weighting": "tfidf"}})
    assert isinstance(model, NgramLinearModel)
    with pytest.raises(PipelineError, match="needs weighting binary"):
        fit_streamed(model, chunks(prepared / "train.jsonl", 5), StreamingSettings(), 1)
