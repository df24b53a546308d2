"""NLTK data: local copies first (NLTK_DATA and NLTK's default paths), nltk.download second."""

from __future__ import annotations

import logging
import zipfile
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


def _find(name: str) -> nltk.data.PathPointer:
    """Look where LazyCorpusLoader looks: inside corpora/NAME.zip first, then an unzipped folder."""
    try:
        try:
            return nltk.data.find(f"corpora/{name}.zip/{name}/")
        except LookupError:
            return nltk.data.find(f"corpora/{name}")
    except (zipfile.BadZipFile, OSError) as error:
        raise PipelineError(f"NLTK data for '{name}' is unreadable ({error}): delete it and fetch it again") from None


def locate(name: str) -> nltk.data.PathPointer:
    try:
        return _find(name)
    except LookupError:
        pass
    log.info("NLTK corpus '%s' not found locally; trying nltk.download", name)
    if nltk.download(name, quiet=True, raise_on_error=False):
        try:
            return _find(name)
        except LookupError:
            pass
    raise PipelineError(
        f"NLTK corpus '{name}' is not in {nltk.data.path[:3]}... and nltk.download('{name}') failed: "
        f"set NLTK_DATA to a folder holding corpora/{name}.zip, or run "
        f"`python -m nltk.downloader {name}` with network access"
    )


def corpus(name: str) -> CorpusReader:
    if name not in CORPORA:
        raise PipelineError(f"unknown NLTK corpus '{name}'; known: {', '.join(sorted(CORPORA))}")
    reader_class, args, kwargs = CORPORA[name]
    return reader_class(locate(name), *args, **kwargs)


def stopwords(language: str) -> tuple[str, ...]:
    reader = corpus("stopwords")
    if language not in reader.fileids():
        raise PipelineError(f"NLTK has no stopword list '{language}'; known: {', '.join(reader.fileids())}")
    return tuple(reader.words(language))
