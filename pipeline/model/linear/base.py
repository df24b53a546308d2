"""What every n-gram linear model shares: fitting through scikit-learn, then scoring, saving and loading with numpy."""

from __future__ import annotations

import logging
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np

from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.labels import LABELS, check_training_labels, top_label
from pipeline.model.explanation import Explanation, explanations, top_contributions
from pipeline.model.ngrams.features import NgramFeatures
from pipeline.model.ngrams.table import NgramTable
from pipeline.model.ngrams.vocabulary import TokenizedTexts, TrainingVocabulary, cell_values
from pipeline.model.saved import options_of, write_config

log = logging.getLogger(__name__)

# Training uses scikit-learn and scipy, imported inside fit(); loading and predicting need numpy only.


class ColumnSums(NamedTuple):
    """Per label, the sum of each column over its documents (with binary weighting, its document count), and its
    number of documents: all that naive Bayes and NBSVM's ratios read of the training matrix."""

    negative: np.ndarray
    positive: np.ndarray
    negative_documents: int
    positive_documents: int


class NgramLinearModel:
    """A linear score over n-gram columns, the log-odds of "positive"; one subclass per way to fit it.

    A subclass sets `kind`, its hyper-parameters as a frozen dataclass `Params` (the constructor takes
    them as keywords, model.json saves them), and fit_weights(). Saved as model.json (kind and options),
    vocabulary.json (column -> n-gram) and weights.npz (one weight per column, the intercept, and idf
    for tf-idf), read back with allow_pickle=False.
    """

    kind: ClassVar[str]
    Params: ClassVar[type[Any]]
    labels = LABELS
    # Kinds whose estimator reads presence only refuse other weightings rather than silently binarize.
    binary_only: ClassVar[bool] = False

    def __init__(self, features: Mapping[str, Any] | NgramFeatures | None = None, **options: Any) -> None:
        self.features = features if isinstance(features, NgramFeatures) else NgramFeatures(**(features or {}))
        self.params = self.Params(**options)
        if self.binary_only and self.features.weighting != "binary":
            raise PipelineError(f"{self.kind} reads presence only: set weighting to binary")
        # After fit(): the scikit-learn estimator, kept for tests that compare it with the numpy path.
        self.estimator: Any = None
        self._training: TrainingVocabulary | None = None
        # Set only during fit_counted(): the whole corpus's column sums, which a streamed fit's matrix (a sample) lacks.
        self._sums: ColumnSums | None = None
        self._table: NgramTable | None = None
        self._scratch = threading.local()  # scores()'s per-thread stamp: BentoML may call from several threads

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        """(weight per column, intercept, the fitted estimator) for the log-odds of positive."""
        raise NotImplementedError

    def column_sums(self, matrix: Any, positive: np.ndarray) -> ColumnSums:
        """Each label's column sums and document count: the whole corpus's during fit_counted(), else the matrix's."""
        if self._sums is not None:
            return self._sums
        return ColumnSums(
            np.asarray(matrix[positive == 0].sum(axis=0)).ravel(),
            np.asarray(matrix[positive == 1].sum(axis=0)).ravel(),
            int(np.sum(positive == 0)),
            int(np.sum(positive == 1)),
        )

    def use_sums(self, sums: ColumnSums | None) -> None:
        """Count-based parts read `sums` instead of the matrix (an ensemble passes them on to its members)."""
        self._sums = sums

    def estimator_matrix(self, matrix: Any) -> Any:
        """The estimator's input made from the n-gram matrix; NB-scaled kinds scale its columns."""
        return matrix

    @property
    def table(self) -> NgramTable:
        """Serving's view of the fitted vocabulary."""
        if self._table is None:
            raise PipelineError(f"{self.kind} model is not fitted")
        return self._table

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self:
        return self.fit_tokenized(TokenizedTexts.of(self.features, texts), labels)

    def fit_tokenized(self, texts: TokenizedTexts, labels: Sequence[str]) -> Self:
        """fit() on texts tokenized beforehand, so fits on parts of one corpus (CV folds) can share one tokenizer pass.

        They must have been tokenized with this model's features: other options give other tokens.
        """
        if texts.features != self.features:
            raise PipelineError(f"{self.kind}: texts tokenized with other features than the model's")
        check_training_labels(labels)
        training, matrix = TrainingVocabulary.learn(texts)
        log.debug("%s: %d documents, %d n-gram columns", self.kind, matrix.shape[0], matrix.shape[1])
        positive = np.array([label == LABELS[1] for label in labels], dtype=np.int64)
        coef, intercept, self.estimator = self.fit_weights(matrix, positive)
        self._training = training
        self._set_weights(NgramTable(self.features, training.tokens, training.keys), coef, intercept, training.idf)
        return self

    def fit_counted(self, training: TrainingVocabulary, sums: ColumnSums, matrix: Any, labels: Sequence[str]) -> Self:
        """Fit on a corpus streamed elsewhere (pipeline.model.linear.streaming): `training` and `sums` come from all
        of it, `matrix` holds the rows of `labels`, a sample of it on `training`'s columns. Count-based parts (naive
        Bayes, NBSVM's and NB-LR's ratios, their priors) read `sums`, so they are the whole corpus's; the solvers
        (SVM, logistic regression) and the ensemble's spreads read the sample."""
        if training.features != self.features:
            raise PipelineError(f"{self.kind}: a vocabulary learnt with other features than the model's")
        check_training_labels(labels)
        positive = np.array([label == LABELS[1] for label in labels], dtype=np.int64)
        self.use_sums(sums)
        try:
            coef, intercept, self.estimator = self.fit_weights(matrix, positive)
        finally:
            self.use_sums(None)
        self._training = training
        self._set_weights(NgramTable(self.features, training.tokens, training.keys), coef, intercept, training.idf)
        return self

    def estimator_input(self, texts: Sequence[str]) -> Any:
        """What `estimator` takes for these texts, made by the training path; only after fit()."""
        if self._training is None:
            raise PipelineError(f"{self.kind}: estimator_input needs a model fitted in this process")
        return self.estimator_matrix(self._training.matrix(texts))

    def _set_weights(self, table: NgramTable, coef: np.ndarray, intercept: float, idf: np.ndarray | None) -> None:
        if len(coef) != len(table.keys) or (idf is not None and len(idf) != len(table.keys)):
            raise ValueError(f"{len(table.keys)} n-grams but {len(coef)} weights")
        if (idf is None) != (self.features.weighting != "tfidf"):
            raise ValueError("idf weights are present exactly when weighting is tfidf")
        # A NaN or infinite weight would load, pass health checks and answer every text with a null score.
        for name, values in (("coef", coef), ("intercept", [intercept]), ("idf", [] if idf is None else idf)):
            bad = int(np.size(values) - np.isfinite(values).sum())
            if bad:
                raise ValueError(f"{name} holds {bad} values that are not finite")
        self._table = table
        self._coef = np.asarray(coef, dtype=np.float64)
        self._intercept = float(intercept)
        self._idf = None if idf is None else np.asarray(idf, dtype=np.float64)
        if table.compiled is not None:
            table.compiled.set_weights(self._coef)

    def rescale(self, factor: float) -> None:
        """Multiply every score by `factor` > 0: each text keeps its label and rank; its probability sharpens
        (factor > 1) or softens. train() fits the factor on out-of-fold scores (temperature scaling), because
        a margin model's raw scores sit near 0 and would call a clear review 51 % positive."""
        _ = self.table  # raises unless fitted
        if not factor > 0:
            raise PipelineError(f"a score scale must be positive, not {factor}")
        self._coef = self._coef * factor
        self._intercept *= factor
        if self.table.compiled is not None:
            self.table.compiled.set_weights(self._coef)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of positive per text: intercept + sum of weight * value over the text's n-gram cells."""
        compiled = self.table.compiled
        if compiled is not None and self.features.weighting == "binary":  # all of it in C, weights included
            return compiled.scores(self.table.prepared(texts), self._intercept)
        return self._summed(*self.table.cells(texts), len(texts))

    def reference_scores(self, texts: Sequence[str]) -> np.ndarray:
        """scores() from the regex path's cells: the specification the compiled and numpy paths are tested against."""
        return self._summed(*self.table.reference_cells(texts), len(texts))

    def _summed(self, documents: np.ndarray, columns: np.ndarray, count: int) -> np.ndarray:
        """Log-odds per document from its (document, column) cells, repeated n-grams counted as weighting says."""
        documents, _, contributions = self._contributions(documents, columns)
        return np.bincount(documents, weights=contributions, minlength=count) + self._intercept

    def _contributions(self, documents: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct (document, column) cells, documents ascending, and what each adds to its document's score.

        A repeated n-gram is one cell: counted once under binary weighting, by its count or tf-idf value otherwise.
        """
        width = len(self._coef)
        counts = None
        if self.features.weighting == "binary":
            stamp = getattr(self._scratch, "stamp", None)
            if stamp is None or len(stamp) != width:
                stamp = self._scratch.stamp = np.empty(width, dtype=np.int64)
            documents, columns = distinct_cells(documents, columns, stamp)
        else:
            cells, counts = np.unique(documents * width + columns, return_counts=True)
            documents, columns = cells // width, cells % width
        values = cell_values(documents, columns, counts, self.features.weighting, self._idf)
        return documents, columns, self._coef[columns] if values is None else self._coef[columns] * values

    def explain(self, texts: Sequence[str], top: int) -> list[Explanation]:
        """Per text, its `top` n-grams by absolute contribution (weight times value), the rest summed as `other`.

        The log-odds is the one scores() gives, from the same cells: the compiled scorer picks each text's top
        as it sums the score (NgramScorer.explain), the numpy path sums the contributions it ranks, so
        intercept + contributions + other equals the served score up to summation order (~1e-13).
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}")
        if not len(texts):
            return []
        compiled = self.table.compiled
        if compiled is None or self.features.weighting != "binary":
            return self._explanations(*self._contributions(*self.table.cells(texts)), len(texts), top)
        scores, documents, columns, rest = compiled.explain(self.table.prepared(texts), self._intercept, top)
        starts = np.searchsorted(documents, np.arange(len(texts) + 1))
        return explanations(
            scores.tolist(), self._probabilities(scores), self._intercept, self._coef[columns],
            self.table.names(columns), starts, rest,
        )  # fmt: skip

    def reference_explain(self, texts: Sequence[str], top: int) -> list[Explanation]:
        """explain() by the regex path and numpy's sort: the specification the faster paths are tested against."""
        return self._explanations(*self._contributions(*self.table.reference_cells(texts)), len(texts), top)

    def _explanations(
        self, documents: np.ndarray, columns: np.ndarray, contributions: np.ndarray, count: int, top: int
    ) -> list[Explanation]:
        """From distinct cells (documents ascending), as _summed() adds them up; columns break ties in magnitude."""
        scores = np.bincount(documents, weights=contributions, minlength=count) + self._intercept
        bounds = np.searchsorted(documents, np.arange(count + 1))
        chosen, starts, rest = top_contributions(contributions, columns, bounds, top)
        return explanations(
            scores.tolist(), self._probabilities(scores), self._intercept, contributions[chosen],
            self.table.names(columns[chosen]), starts, rest,
        )  # fmt: skip

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not len(texts):
            return []
        return self._probabilities(self.scores(texts))

    @staticmethod
    def _probabilities(scores: np.ndarray) -> list[dict[str, float]]:
        """The logistic of each log-odds, as both labels' probabilities."""
        with np.errstate(over="ignore"):  # exp(800) is inf, and 1 / (1 + inf) is the right 0.0
            positive, negative = 1.0 / (1.0 + np.exp(-scores)), 1.0 / (1.0 + np.exp(scores))
        return [{LABELS[0]: n, LABELS[1]: p} for n, p in zip(negative.tolist(), positive.tolist(), strict=True)]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [top_label(p) for p in self.predict_proba(texts)]

    def save(self, directory: Path) -> None:
        table = self.table
        write_config(directory, self, options_of(self.features, self.params))
        write_json(directory / "vocabulary.json", table.vocabulary(), compact=True)
        arrays = {"coef": self._coef, "intercept": np.array([self._intercept])}
        if self._idf is not None:
            arrays["idf"] = self._idf
        np.savez(directory / "weights.npz", **arrays)

    @classmethod
    def load(cls, directory: Path, options: Mapping[str, Any]) -> Self:
        model = cls(**options)
        vocabulary = read_json(directory / "vocabulary.json")
        if not isinstance(vocabulary, list) or not all(isinstance(ngram, str) for ngram in vocabulary):
            raise ValueError("vocabulary.json must be a list of n-grams")
        try:
            with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
                coef, intercept = arrays["coef"], arrays["intercept"]
                idf = arrays["idf"] if "idf" in arrays else None
        except (OSError, zipfile.BadZipFile) as error:  # a truncated or foreign file
            raise ValueError(f"weights.npz: {error}") from None
        model._set_weights(NgramTable.parse(model.features, vocabulary), coef, float(intercept[0]), idf)
        return model


def distinct_cells(documents: np.ndarray, columns: np.ndarray, stamp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (document, column) pairs, without sorting them all (~2.5x faster than np.unique here).

    `stamp` is scratch space, one int64 per column, of this thread only. Each document writes its cells'
    positions into it; a cell is kept where its column holds its own position, so exactly one cell per
    distinct column survives whichever write wins, and nothing needs resetting between documents.
    """
    order = np.argsort(documents, kind="stable")  # sorted runs, one per n-gram length: a cheap merge
    documents, columns = documents[order], columns[order]
    bounds = [0, *(np.flatnonzero(np.diff(documents)) + 1).tolist(), len(columns)]
    positions = np.arange(len(columns))
    keep = np.empty(len(columns), dtype=bool)
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        part, mine = columns[low:high], positions[low:high]
        stamp[part] = mine
        keep[low:high] = stamp[part] == mine
    return documents[keep], columns[keep]
