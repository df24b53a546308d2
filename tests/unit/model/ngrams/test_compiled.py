"""The compiled scorer equals the reference path: the same cells and, for binary weighting, the same scores.

The regex path (tokenizer() per text) is the specification; the numpy path is tested against it elsewhere.
The full corpus is compared in tests/integration/test_candidates_corpus.py.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.model import NgramLinearModel, create
from pipeline.model.ngrams import compiled
from pipeline.model.ngrams.fast_tokenizer import character_classes
from pipeline.model.ngrams.table import NgramTable
from tests.unit.model.conftest import NEGATION_TRICKY, TRICKY

pytestmark = pytest.mark.skipif(compiled.module() is None, reason="the compiled scorer is not built here")

ODD = [
    "x" * 100_000,  # 100 kB of one token
    "a " * 20_000,  # 20,000 one-letter tokens
    "\u05e9\u05dc\u05d5\u05dd not good \u0645\u0631\u062d\u0628\u0627. great",  # right-to-left text
    "\x00\x00 not\x00good",
    "\udfff\ud800 bad",
    "¬¬ ¬good »good ¤good not ¬ good",
]

FEATURES = [
    {},
    {"lowercase": False},
    {"ngram_range": [1, 3]},
    {"ngram_range": [2, 3]},
    {"ngram_range": [1, 1], "mark_negation": True},
    {"mark_negation": True, "tail_sentences": 3},
    {"mark_negation": True, "tail_sentences": 1, "stopwords": ["the", "a", "and", "not"], "remove_punctuation": True},
    {"tail_sentences": 2, "weighting": "count"},
    {"mark_negation": True, "weighting": "tfidf"},
]


def fitted(features: dict, prepared: Path) -> NgramLinearModel:
    _, texts, labels = read_split(prepared / "train.jsonl")
    tricky = TRICKY + NEGATION_TRICKY + ODD
    model = create("multinomial_nb", {"features": features}).fit(texts + tricky, labels + ["positive"] * len(tricky))
    assert isinstance(model, NgramLinearModel)
    return model


def test_characters_are_classed_as_re_classes_them() -> None:
    """\\w and \\s as sre reads them, for every code point: tokens cannot differ from tokenize()'s."""
    module = compiled.module()
    assert module is not None
    assert np.array_equal(module.character_classes(sys.maxunicode + 1), character_classes())


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_compiled_cells_and_scores_equal_the_reference(features: dict, prepared: Path) -> None:
    model = fitted(features, prepared)
    table = model.table
    assert table.compiled is not None, "these features should take the compiled path"
    _, texts, _ = read_split(prepared / "test.jsonl")
    shouted = [text.upper() for text in TRICKY + NEGATION_TRICKY]
    for batch in (TRICKY + NEGATION_TRICKY + ODD, shouted, texts, ODD[2:3], []):
        assert cell_counts(table.cells(batch)) == cell_counts(table.reference_cells(batch))
        scores, reference = model.scores(batch), model.reference_scores(batch)
        assert np.allclose(scores, reference, rtol=0, atol=1e-9)
        assert np.array_equal(scores > 0, reference > 0)


def cell_counts(cells: tuple[np.ndarray, np.ndarray]) -> Counter[tuple[int, int]]:
    return Counter(zip(cells[0].tolist(), cells[1].tolist(), strict=True))


def test_rescaling_reaches_the_compiled_weights(prepared: Path) -> None:
    model = fitted({"mark_negation": True}, prepared)
    before = model.scores(NEGATION_TRICKY)
    model.rescale(2.5)
    assert np.allclose(model.scores(NEGATION_TRICKY), 2.5 * before, rtol=1e-12, atol=1e-12)


def test_threads_scoring_at_once_get_their_own_answers(prepared: Path) -> None:
    """The GIL is released while scoring; the scorer's lock keeps each text's stamps its own."""
    model = fitted({"mark_negation": True, "tail_sentences": 3}, prepared)
    _, texts, _ = read_split(prepared / "test.jsonl")
    expected = model.scores(texts)
    results: dict[int, list[np.ndarray]] = {}

    def score(worker: int) -> None:
        results[worker] = [model.scores(texts[worker:] + texts[:worker]) for _ in range(20)]

    threads = [threading.Thread(target=score, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker, answers in results.items():
        rolled = np.concatenate([expected[worker:], expected[:worker]])
        assert all(np.array_equal(answer, rolled) for answer in answers)


def test_a_bad_table_or_weights_is_refused() -> None:
    module = compiled.module()
    assert module is not None
    place_ids = np.ones((4, 1), dtype=np.int64)
    with pytest.raises(ValueError, match="twice"):
        module.NgramScorer(["good"], place_ids, [False], [1, 1], 2, (1, 1), False, 0)
    with pytest.raises(ValueError, match="not one token"):
        module.NgramScorer(["good film"], place_ids, [False], [1], 2, (1, 1), False, 0)
    scorer = module.NgramScorer(["good"], place_ids, [False], [1], 2, (1, 1), False, 0)
    with pytest.raises(ValueError, match="1 columns but 2 weights"):
        scorer.set_weights(np.zeros(2))
    with pytest.raises(TypeError):
        scorer.scores([b"bytes, not text"], 0.0)  # type: ignore[list-item]


def test_without_the_module_the_numpy_path_serves_with_one_warning(
    prepared: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = fitted({"mark_negation": True}, prepared)
    expected = model.scores(NEGATION_TRICKY)
    monkeypatch.setitem(sys.modules, "pipeline.model.ngrams._scorer", None)  # import fails as if never built
    compiled.module.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            tables = [NgramTable(model.features, model.table.tokens, model.table.keys) for _ in range(3)]
        assert all(table.compiled is None for table in tables)
        assert [record.getMessage() for record in caplog.records].count(caplog.records[0].getMessage()) == 1
        assert "not built" in caplog.records[0].getMessage() and len(caplog.records) == 1
        plain = create("multinomial_nb", {"features": {"mark_negation": True}})
        assert isinstance(plain, NgramLinearModel)
        plain._set_weights(tables[0], model._coef, model._intercept, None)
        assert np.allclose(plain.scores(NEGATION_TRICKY), expected, rtol=0, atol=1e-9)
    finally:
        compiled.module.cache_clear()


BINARY_FEATURES = [features for features in FEATURES if features.get("weighting", "binary") == "binary"]


@pytest.mark.parametrize("features", BINARY_FEATURES, ids=str)
@pytest.mark.parametrize("top", [1, 3, 10_000])
def test_compiled_explanations_equal_the_reference(features: dict, top: int, prepared: Path) -> None:
    """The top the kernel picks as it scores is the one numpy's sort picks from the regex path's cells, and the
    parts add up to the very score scores() gives."""
    model = fitted(features, prepared)
    _, texts, _ = read_split(prepared / "test.jsonl")
    for batch in (TRICKY + NEGATION_TRICKY + ODD, texts, ["good good good, not good"], []):
        explained, reference = model.explain(batch, top), model.reference_explain(batch, top)
        assert [e.contributions for e in explained] == [e.contributions for e in reference]
        assert np.allclose([e.other for e in explained], [e.other for e in reference], rtol=0, atol=1e-9)
        scores = model.scores(batch)
        assert [e.log_odds for e in explained] == scores.tolist()
        assert [e.probabilities for e in explained] == model.predict_proba(batch)
        for explanation, score in zip(explained, scores.tolist(), strict=True):
            parts = explanation.intercept + sum(part for _, part in explanation.contributions) + explanation.other
            assert abs(parts - score) <= 1e-9
            assert len(explanation.contributions) <= top


def test_a_repeated_ngram_contributes_once(prepared: Path) -> None:
    """Binary presence: "superb" written three times adds its weight once, as the score does."""
    model = fitted({}, prepared)
    weight = model._coef[model.table.vocabulary().index("superb")]
    (once,), (thrice,) = model.explain(["superb"], 5), model.explain(["superb superb superb"], 5)
    assert ("superb", weight) in once.contributions and ("superb", weight) in thrice.contributions
    assert [name for name, _ in thrice.contributions].count("superb") == 1
    assert model.scores(["superb superb superb"])[0] == once.log_odds


def test_the_numpy_path_explains_as_the_compiled_one(prepared: Path) -> None:
    model = fitted({"mark_negation": True, "tail_sentences": 3}, prepared)
    plain = create("multinomial_nb", {"features": model.features})
    assert isinstance(plain, NgramLinearModel)
    plain._set_weights(
        NgramTable(model.features, model.table.tokens, model.table.keys, use_compiled=False),
        model._coef, model._intercept, None,
    )  # fmt: skip
    _, texts, _ = read_split(prepared / "test.jsonl")
    batch = texts + NEGATION_TRICKY
    assert [e.contributions for e in plain.explain(batch, 7)] == [e.contributions for e in model.explain(batch, 7)]


def test_explain_refuses_a_top_below_one(prepared: Path) -> None:
    model = fitted({}, prepared)
    with pytest.raises(ValueError, match="at least 1"):
        model.explain(["good"], 0)
    module = compiled.module()
    assert module is not None and model.table.compiled is not None
    with pytest.raises(ValueError, match="at least 1"):
        model.table.compiled.explain(["good"], 0.0, 0)
