"""Movie-review sentiment from raw corpus to served model; each subpackage is one concern.

model/ (what serving needs: features, weights, scoring), serving/ (HTTP API, BentoML service, Lambda handler),
stages/ (one module per DVC stage), corpus/ (NLTK data and the prepared splits), baselines/ (VADER, Comprehend),
tracking/ (MLflow records), deploy/ (the OCI image and AWS). `model` and `serving` import nothing from stages,
tracking or deploy (tests/unit/test_architecture.py).
"""
