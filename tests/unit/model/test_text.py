"""The reference tokenizer is NLTK's WordPunct, and the memo behind stemming stays bounded and exact."""

from __future__ import annotations

import pytest
from nltk.stem import SnowballStemmer
from nltk.tokenize import WordPunctTokenizer

from pipeline.model import SNOWBALL_LANGUAGES, tokenize
from pipeline.model import text as text_module
from pipeline.model.text import Memo, stemmer


def test_tokenizer_matches_nltk_wordpunct() -> None:
    text = "It's a 10/10 film -- don't miss it!!! (Really.) Café naïve"
    assert tokenize(text) == WordPunctTokenizer().tokenize(text)


def test_tokenize_is_the_reference() -> None:
    """The tokens the fast-path tests compare against are still NLTK's WordPunct tokens."""
    assert tokenize("Don't miss it!!!") == ["Don", "'", "t", "miss", "it", "!!!"]


def test_snowball_languages_match_nltks() -> None:
    assert set(SnowballStemmer.languages) == SNOWBALL_LANGUAGES


def test_memo_remembers_and_is_cleared_beyond_max_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "MAX_MEMO", 2)
    calls: list[str] = []

    def shout(word: str) -> str:
        calls.append(word)
        return word.upper()

    memo = Memo(shout)
    assert memo.map(["a", "b", "a", "c", "b"]) == ["A", "B", "A", "C", "B"]
    assert calls == ["a", "b", "c"]  # each word worked out once
    assert memo.map(["a"]) == ["A"]  # three remembered words are more than 2: cleared first, so worked out again
    assert calls == ["a", "b", "c", "a"]
    assert memo.map(["a", "d"]) == ["A", "D"] and calls[-1:] == ["d"]


def test_stemmer_gives_snowballs_stems_through_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "MAX_MEMO", 3)
    words = "running runs ran generously generous running university universe running".split()
    stems = stemmer("english")
    expected = [SnowballStemmer("english").stem(word) for word in words]
    assert stems.map(words) == expected
    assert stems.map(words) == expected  # after the memo was cleared
