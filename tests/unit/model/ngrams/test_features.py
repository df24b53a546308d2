"""NgramFeatures: its checks, the reference tokenizer it defines, and when serving may take the vectorized path."""

from __future__ import annotations

import pytest

from pipeline.errors import PipelineError
from pipeline.model import NgramFeatures, create
from pipeline.model.ngrams.features import last_sentences, negation_marked


def test_stopwords_keep_negations() -> None:
    features = NgramFeatures(stopwords=("the", "not", "no", "never", "don", "t", "is"))
    assert features.stopwords == ("the", "is")
    assert features.tokenizer()("The film is NOT good, don't go") == ["film", "not", "good", ",", "don", "'", "t", "go"]


def test_negation_marks_tokens_up_to_clause_punctuation() -> None:
    tokens = NgramFeatures(mark_negation=True, stopwords=("a",), remove_punctuation=True).tokenizer()
    assert tokens("Not a GOOD film, but I didn't hate it... Never -- ever!") == [
        "not", "¬good", "¬film", "but", "i", "didn", "t", "¬hate", "¬it", "...", "never", "¬--", "¬ever",
    ]  # fmt: skip
    assert NgramFeatures().tokenizer()("not good") == ["not", "good"]


def test_negation_marked_leaves_cues_and_clause_punctuation_unmarked() -> None:
    assert negation_marked(["Not", "a", "film", ";", "no", "?!", "never", "x"]) == [
        "Not", "¬a", "¬film", ";", "no", "?!", "never", "¬x",
    ]  # fmt: skip


def test_last_sentences_end_at_sentence_marks_and_need_no_final_one() -> None:
    tokens = ["a", ".", "b", "!", "c", "?!", "d"]
    assert last_sentences(tokens, 1) == ["d"]
    assert last_sentences(tokens, 2) == ["c", "?!", "d"]
    assert last_sentences(tokens[:-1], 1) == ["c", "?!"]  # a final "?!" ends the last sentence, not a new one
    assert last_sentences(tokens, 9) == tokens


def test_tail_sentences_repeat_the_last_sentences_prefixed() -> None:
    tokens = NgramFeatures(mark_negation=True, tail_sentences=2, stopwords=("a",)).tokenizer()
    assert tokens("A dull start. It is not good, fine! Loved it.") == [
        "dull", "start", ".", "it", "is", "not", "¬good", ",", "fine", "!", "loved", "it", ".",
        " ", "»it", "»is", "»not", "»¬good", "»,", "»fine", "»!", "»loved", "»it", "».",
    ]  # fmt: skip
    assert NgramFeatures(tail_sentences=3).tokenizer()("one sentence") == ["one", "sentence", " ", "»one", "»sentence"]


def test_readable_names_mark_the_tail_once_and_keep_negation_marks() -> None:
    features = NgramFeatures(mark_negation=True, tail_sentences=3)
    assert features.readable("not ¬good") == "not ¬good"
    assert features.readable("»not »¬good") == "» not ¬good"
    assert features.readable("» film") == "» film"  # the text's own "»" beside a plain word: not the tail
    assert NgramFeatures().readable("»good") == "»good"  # without a tail, a prefix is the text's own


def test_character_ngrams_are_columns_of_their_own() -> None:
    tokens = NgramFeatures(char_ngram_range=(3, 4), stopwords=("a",)).tokenizer()
    assert tokens("A fun, odd film!") == [
        "fun", ",", "odd", "film", "!",
        " ", "¤<fu", " ", "¤fun", " ", "¤un>", " ", "¤<fun", " ", "¤fun>",
        " ", "¤<od", " ", "¤odd", " ", "¤dd>", " ", "¤<odd", " ", "¤odd>",
        " ", "¤<fi", " ", "¤fil", " ", "¤ilm", " ", "¤lm>", " ", "¤<fil", " ", "¤film", " ", "¤ilm>",
    ]  # fmt: skip


def test_character_ngrams_are_the_same_when_built_again() -> None:
    """Words repeat, so their character n-grams come from a memo: a repeated word must get them again, unchanged."""
    tokens = NgramFeatures(char_ngram_range=(2, 3)).tokenizer()
    grams = [" ", "¤<o", " ", "¤ok", " ", "¤k>", " ", "¤<ok", " ", "¤ok>"]
    assert tokens("ok") == ["ok", *grams]
    assert tokens("ok ok") == ["ok", "ok", *grams, *grams]
    assert tokens("ok") == ["ok", *grams]


def test_bad_options_are_named() -> None:
    with pytest.raises(PipelineError, match=r"ngram_range \[1, 4\]"):
        NgramFeatures(ngram_range=(1, 4))
    with pytest.raises(PipelineError, match="weighting 'bm25'"):
        NgramFeatures(weighting="bm25")
    with pytest.raises(PipelineError, match="tail_sentences"):
        NgramFeatures(tail_sentences=-1)
    with pytest.raises(PipelineError, match="char_ngram_range"):
        NgramFeatures(char_ngram_range=(4, 2))
    with pytest.raises(PipelineError, match="min_document_count and max_features must be at least 1"):
        NgramFeatures(max_features=0)
    with pytest.raises(PipelineError, match="unknown Snowball language 'klingon'"):
        NgramFeatures(stem="klingon")
    with pytest.raises(PipelineError, match="weighting 'bm25'"):  # create() passes the same check through
        create("logistic_regression", {"features": {"weighting": "bm25"}})


@pytest.mark.parametrize(
    ("features", "vectorizable"),
    [
        ({}, True),
        ({"mark_negation": True, "tail_sentences": 3, "stopwords": ("the",), "remove_punctuation": True}, True),
        ({"lowercase": False}, True),
        ({"stem": "english"}, False),  # stems need NLTK per token
        ({"lowercase": False, "mark_negation": True}, False),  # cues are matched lower-cased
        ({"char_ngram_range": (3, 5)}, False),  # character n-grams are made by tokenizer() only
    ],
)
def test_vectorizable_names_what_the_fast_path_cannot_do(features: dict, vectorizable: bool) -> None:
    assert NgramFeatures(**features).vectorizable is vectorizable
