"""The seed's serving stack, baseline of benchmarks/serve.py: Flask, features and NLTK classify() per request.

Run: SEED_MODEL_DIR=models/candidates/seed_nb gunicorn -w 2 --no-control-socket \
'benchmarks.seed_flask_app:create_app()'
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, jsonify, request

from pipeline.model import NltkNaiveBayes, load


def create_app() -> Flask:
    """Each gunicorn worker loads the model once, then featurizes and classifies every request on its own."""
    model = load(Path(os.environ["SEED_MODEL_DIR"]))
    if not isinstance(model, NltkNaiveBayes):
        raise SystemExit(f"the seed served NLTK Naive Bayes; {os.environ['SEED_MODEL_DIR']} is a {model.kind}")
    featurize = model.features.featurizer()
    classifier = model.classifier
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> Response:
        return jsonify(label=classifier.classify(featurize(request.get_json()["text"])))

    @app.get("/readyz")
    def readyz() -> str:
        return "ok\n"

    return app
