"""Reference stage: what served predictions should look like, for `sentiment drift` (pipeline/drift.py says why).

dvc.yaml: sentiment reference models/champion data/prepared models/reference.json

The champion scores the test split, and each review's label, score, length and out-of-vocabulary share go into
per-feature bins, computed by the same function the service's prediction log uses (pipeline/serving/observe.py),
so the two compare like with like.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.corpus.splits import read_split
from pipeline.drift import DriftParams, feature_rows, reference
from pipeline.files import staged, write_json
from pipeline.model import load
from pipeline.serving.observe import text_features, vocabulary_of
from pipeline.serving.rules import label_scores

log = logging.getLogger(__name__)


def record_reference(p: DriftParams, champion: Path, prepared: Path, out: Path) -> None:
    model = load(champion)
    _, texts, _ = read_split(prepared / "test.jsonl")
    labels, scores = label_scores(model, texts)
    tokenize, known = vocabulary_of(model)
    features = [text_features(tokenize, known, text) for text in texts]
    recorded = reference(feature_rows(labels, scores, features), p.bins, "test split", champion.name)
    with staged(out) as path:
        write_json(path, recorded)
    shares = dict(zip(recorded["features"]["label"]["categories"], recorded["features"]["label"]["shares"],
                      strict=True))  # fmt: skip
    log.info("wrote %s: %d predictions, label shares %s", out, len(texts), shares)
