from __future__ import annotations

import pytest

from pipeline.names import data_name, from_data


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("nltk:movie_reviews", "movie-reviews"),  # the name the project always had: movie-reviews-sentiment
        ("nltk:sentence_polarity", "sentence-polarity"),
        ("data/sources/IMDB Dataset.csv", "imdb-dataset"),
        ("data/sources/amazon/", "amazon"),
        ("s3://bucket/reviews/2026.parquet", "2026"),
        ("https://example.org/data/yelp.jsonl.gz", "yelp"),
        ("file:///tmp/x/tweets.tsv", "tweets"),
    ],
)
def test_data_name(source: str, name: str) -> None:
    assert data_name(source) == name


def test_a_given_name_wins() -> None:
    assert from_data(None, "data/sources/imdb.csv") == "imdb-sentiment"
    assert from_data("team-model", "data/sources/imdb.csv") == "team-model"
