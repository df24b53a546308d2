"""NLTK data: local copies first (NLTK_DATA and NLTK's default paths), nltk.download second."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from typing import Any

import nltk
from nltk.corpus.reader import (
    CategorizedPlaintextCorpusReader,
    CategorizedSentencesCorpusReader,
    CorpusReader,
    WordListCorpusReader,
)

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

# Reader class and arguments exactly as nltk/corpus/__init__.py declares them. We build fresh readers
# rather than use nltk.corpus.movie_reviews, whose location is fixed at its first use in a process.
CORPORA: dict[str, tuple[type[CorpusReader], tuple[Any, ...], dict[str, Any]]] = {
    "movie_reviews": (
        CategorizedPlaintextCorpusReader,
        (r"(?!\.).*\.txt",),
        {"cat_pattern": r"(neg|pos)/.*", "encoding": "ascii"},
    ),
    "sentence_polarity": (
        CategorizedSentencesCorpusReader,
        (r"rt-polarity\.(neg|pos)",),
        {"cat_pattern": r"rt-polarity\.(neg|pos)", "encoding": "utf-8"},
    ),
    "stopwords": (WordListCorpusReader, (r"(?!README|\.).*",), {"encoding": "utf8"}),
}


def _find(package: str, resources: Sequence[str]) -> nltk.data.PathPointer:
    """The first of `resources` NLTK finds on its path; LookupError if none."""
    try:
        for resource in resources[:-1]:
            try:
                return nltk.data.find(resource)
            except LookupError:
                continue
        return nltk.data.find(resources[-1])
    except (zipfile.BadZipFile, OSError) as error:
        raise PipelineError(
            f"NLTK data for '{package}' is unreadable ({error}): delete it and fetch it again"
        ) from None


def find(package: str, resources: Sequence[str]) -> nltk.data.PathPointer:
    """Local copies first, nltk.download(package) second, else one line naming the remedies.

    `resources` are the places NLTK's own loaders look, in their order (a zip's inside first).
    """
    try:
        return _find(package, resources)
    except LookupError:
        pass
    log.info("NLTK resource '%s' not found locally; trying nltk.download", package)
    if nltk.download(package, quiet=True, raise_on_error=False):
        try:
            return _find(package, resources)
        except LookupError:
            pass
    archive = resources[0].split(".zip")[0] + ".zip"
    raise PipelineError(
        f"NLTK resource '{package}' is not in {nltk.data.path[:3]}... and nltk.download('{package}') failed: "
        f"set NLTK_DATA to a folder holding {archive}, or run `python -m nltk.downloader {package}` with network access"
    )


def locate(name: str) -> nltk.data.PathPointer:
    """A corpus's root, where LazyCorpusLoader looks: inside corpora/NAME.zip, then an unzipped folder."""
    return find(name, (f"corpora/{name}.zip/{name}/", f"corpora/{name}"))


def corpus(name: str) -> CorpusReader:
    if name not in CORPORA:
        raise PipelineError(f"unknown NLTK corpus '{name}'; known: {', '.join(sorted(CORPORA))}")
    reader_class, args, kwargs = CORPORA[name]
    return reader_class(locate(name), *args, **kwargs)


def stopwords(language: str) -> tuple[str, ...]:
    reader = corpus("stopwords")
    assert isinstance(reader, WordListCorpusReader)  # CORPORA says so; this tells the type checker
    if language not in reader.fileids():
        raise PipelineError(f"NLTK has no stopword list '{language}'; known: {', '.join(reader.fileids())}")
    return tuple(reader.words(language))


# The resource name SentimentIntensityAnalyzer loads by default, inside the zip that nltk.download fetches.
VADER_LEXICON = "sentiment/vader_lexicon.zip/vader_lexicon/vader_lexicon.txt"


def vader_lexicon() -> str:
    """The lexicon's name for SentimentIntensityAnalyzer(lexicon_file=...), checked first so a missing
    lexicon is one line rather than NLTK's multi-line LookupError."""
    find("vader_lexicon", (VADER_LEXICON,))
    return VADER_LEXICON
