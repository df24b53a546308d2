"""The names a run's records go under (MLflow experiment, registered model, BentoML model), from its data.

Two datasets must never share a registered model: the second's champion would take the first's `champion` alias.
So a name left null in params.yaml comes from fetch.source, and the default corpus keeps the name it always had.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import urlparse

DEFAULT_SOURCE = "nltk:movie_reviews"  # fetch.source's default, the corpus the project was built on
SUFFIX = "-sentiment"
# Extensions a data file or its compression adds to a name: "imdb.csv.gz" is the imdb data.
DATA_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".ndjson", ".parquet", ".gz", ".bz2", ".zip", ".xz"}


def data_name(source: str) -> str:
    """A short slug of where the data comes from: nltk:movie_reviews -> movie-reviews, data/sources/imdb.csv ->
    imdb, s3://bucket/reviews/ -> reviews. Lower case letters, digits and hyphens, which MLflow, BentoML and S3
    all accept."""
    if source.startswith("nltk:"):
        stem = source.removeprefix("nltk:")
    else:
        path = PurePosixPath(urlparse(source).path if "://" in source else source.replace("\\", "/"))
        while path.suffix.lower() in DATA_SUFFIXES:
            path = path.with_suffix("")
        stem = path.name or urlparse(source).netloc
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "data"


def from_data(given: str | None, source: str) -> str:
    """`given` when params.yaml names one, else "<data>-sentiment"."""
    return given or data_name(source) + SUFFIX
