"""What the model tests share: the linear kinds as the registry lists them, text built to trip a tokenizer, and
the scikit-learn estimator's own answer to compare an exported model with."""

from __future__ import annotations

import numpy as np

from pipeline.model import MODELS, NgramLinearModel

# Derived, never listed: a new linear kind is covered by every parity test at once.
LINEAR_KINDS = [kind for kind, cls in MODELS.items() if issubclass(cls, NgramLinearModel)]

# Places where a vectorized tokenizer could part ways with `\w+|[^\w\s]+`: letters outside ASCII,
# digits and underscores (\w), combining marks and symbols (neither), unusual whitespace, NUL, a
# lone surrogate, runs of punctuation, and upper case that lowercase=True must fold.
TRICKY = [
    "Don't miss it!!! (Really.) 10/10 -- a_b café naïve",
    "Cafe\u0301 ÉTÉ straße ΣΊΣΥΦΟΣ 東京 2024年 ١٢٣ ⅷ ²",
    "tab\tnew\nline\x1cfile\x1dgroup\u2003em\u00a0nbsp\u200bzero-width",
    "nul\x00byte \ud800lone surrogate 😀🎬 emoji...?! ---- ''quoted''",
    "",
    "   ",
    "x" * 500 + " " + "!" * 300,
]

# Negation cues, clause marks and sentence ends where a scope or a tail could be cut wrongly.
NEGATION_TRICKY = [
    "not good, not bad. never again! no way; it isn't: NOT funny?! don't (do) not\tstop... no",
    "not",
    "t the a , not a the good film",
    "no ¬good not\u00a0¬ a¬b ,not, never-ever (not) «not» not…good",
    "First one. Second! Not third?! fourth",
    "only one sentence.",
    ". . .",
    "»tail ¤char",
]


def predicted_positive(fitted: NgramLinearModel, texts: list[str]) -> np.ndarray:
    """P(positive) from the fitted scikit-learn estimator itself, on the training path's features."""
    matrix = fitted.estimator_input(texts)
    if hasattr(fitted.estimator, "predict_proba"):
        return fitted.estimator.predict_proba(matrix)[:, 1]
    return 1.0 / (1.0 + np.exp(-fitted.estimator.decision_function(matrix)))  # NBSVM: logistic of the margin
