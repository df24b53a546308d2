"""The one model interface that train, evaluate, the service and the Lambda handler use: callers import it from here."""

# Importing this package imports numpy only: NLTK, scikit-learn and scipy are imported inside the functions
# that need them, so serving an n-gram model never loads them (tests/unit/model/test_registry.py checks).
from pipeline.labels import LABELS, normalize_label
from pipeline.model.bag_of_words import NltkNaiveBayes, TextFeatures
from pipeline.model.contract import ExplainingModel, ScoringModel, SentimentModel
from pipeline.model.explanation import Explanation
from pipeline.model.linear.base import NgramLinearModel
from pipeline.model.linear.ensemble import LinearEnsemble
from pipeline.model.linear.margin import LogisticRegressionModel, NbLogisticRegression, NbSvm
from pipeline.model.linear.naive_bayes import BernoulliNaiveBayes, MultinomialNaiveBayes
from pipeline.model.ngrams.features import NgramFeatures
from pipeline.model.registry import FORMAT_VERSION, MODELS, create, load
from pipeline.model.text import SNOWBALL_LANGUAGES, tokenize

__all__ = [
    "FORMAT_VERSION",
    "LABELS",
    "MODELS",
    "SNOWBALL_LANGUAGES",
    "BernoulliNaiveBayes",
    "ExplainingModel",
    "Explanation",
    "LinearEnsemble",
    "LogisticRegressionModel",
    "MultinomialNaiveBayes",
    "NbLogisticRegression",
    "NbSvm",
    "NgramFeatures",
    "NgramLinearModel",
    "NltkNaiveBayes",
    "ScoringModel",
    "SentimentModel",
    "TextFeatures",
    "create",
    "load",
    "normalize_label",
    "tokenize",
]
