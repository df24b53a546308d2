"""The model card `select` writes for the model it serves: what it is for, what it learnt from, how well it does
where, and where it fails (Mitchell et al. 2019, "Model Cards for Model Reporting").

Everything in it is read from the stages' own outputs (the fetch manifest, the prepared splits, cv.json, test.json,
behaviour.json, the test predictions in plots/NAME/predictions.csv and the saved weights), so the card cannot claim
what the pipeline did not measure. card() builds the JSON (models/card.json), markdown() renders it for people
(models/model_card.md); the service's GET /model answers serving.card.summary() of the JSON.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.files import read_json, read_jsonl, sha256
from pipeline.labels import LABELS
from pipeline.model import NgramLinearModel, NltkNaiveBayes, load, tokenize

# The length bands of issue #18, in tokens of the reference tokenizer (pipeline.model.tokenize): a one-line
# comment, a paragraph, a full review.
LENGTH_BANDS = (("<=30", 0, 30), ("31-300", 31, 300), (">300", 301, math.inf))
# z for a two-sided 95 % interval.
Z_95 = 1.959963984540054
INTENDED_USE = (
    "Classifying the sentiment (negative or positive) of English movie reviews, from one-line comments to full "
    "reviews, with a probability that can be read as such. For ranking, triage and dashboards over many reviews; "
    "not for decisions about a single person, and not for text of other domains or languages without measuring "
    "it there first."
)


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927): unlike mean ± z·se it stays inside [0, 1] and is
    honest for small counts and for proportions near 0 or 1, which per-band test counts are."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def accuracy_with_interval(correct: int, total: int) -> dict[str, Any]:
    low, high = wilson_interval(correct, total)
    return {
        "documents": total,
        "correct": correct,
        "accuracy": correct / total if total else None,
        "interval_95": [low, high] if total else None,
    }


def band(tokens: int) -> str:
    return next(name for name, low, high in LENGTH_BANDS if low <= tokens <= high)


def held_out_breakdown(prepared: Path, predictions: Path, corpus_source: str) -> dict[str, Any]:
    """Test-split accuracy per source and per length band, each with its Wilson 95 % interval.

    evaluate's plots/NAME/predictions.csv has each test review's id, label and prediction; the review's text (for
    its length) and source come from the prepared test split. A review without a `source` of its own is the
    corpus's (the fetch manifest's), as every review is while fetch reads one source.
    """
    rows = {row["id"]: row for row in read_jsonl(prepared / "test.jsonl")}
    groups: dict[str, dict[str, list[int]]] = {"by_source": {}, "by_length": {name: [] for name, *_ in LENGTH_BANDS}}
    lengths: list[int] = []
    with predictions.open(newline="", encoding="utf-8") as handle:
        for prediction in csv.DictReader(handle):
            row = rows[prediction["id"]]
            right = int(prediction["actual"] == prediction["predicted"])
            tokens = len(tokenize(row["text"]))
            lengths.append(tokens)
            groups["by_source"].setdefault(str(row.get("source", corpus_source)), []).append(right)
            groups["by_length"][band(tokens)].append(right)
    result: dict[str, Any] = {
        key: {name: accuracy_with_interval(sum(hits), len(hits)) for name, hits in found.items()}
        for key, found in groups.items()
    }
    result["median_tokens"] = float(np.median(lengths)) if lengths else None
    return result


def cv_with_interval(cv: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """A CV mean with its spread over folds and the mean's rough 95 % interval (mean ± 1.96 standard errors, the
    folds taken as independent, which they are not quite: read it as a lower bound on the uncertainty)."""
    mean, std, folds = cv[metric], cv[f"{metric}_std"], cv["folds"]
    error = std / math.sqrt(folds)
    return {"mean": mean, "std": std, "folds": folds, "interval_95": [mean - Z_95 * error, mean + Z_95 * error]}


def top_ngrams(model_dir: Path, count: int) -> dict[str, Any]:
    """The n-grams that push hardest towards each label, by the served model's own weights.

    Linear kinds: the weight of each n-gram column (log-odds added by its presence, after temperature scaling), read
    from weights.npz and vocabulary.json. NLTK naive Bayes has no weight vector: its ranking is NLTK's
    most_informative_features() (the largest ratio of P(word = value | label) between the labels), and the figure
    shown is ln P(word = value | positive) - ln P(word = value | negative), what that word adds to its log-odds."""
    model = load(model_dir)
    if isinstance(model, NgramLinearModel):
        with np.load(model_dir / "weights.npz", allow_pickle=False) as arrays:
            weights = np.asarray(arrays["coef"], dtype=np.float64)
        names = read_json(model_dir / "vocabulary.json")
        order = np.argsort(weights, kind="stable")
        pairs = {
            LABELS[1]: [(names[i], float(weights[i])) for i in order[::-1][:count] if weights[i] > 0],
            LABELS[0]: [(names[i], float(weights[i])) for i in order[:count] if weights[i] < 0],
        }
        how = "the weight of the n-gram's presence: log-odds of positive it adds"
    elif isinstance(model, NltkNaiveBayes):
        pairs = {label: [] for label in LABELS}
        for name, value in model.classifier.most_informative_features(4 * count):
            part = model._contribution(name, value)  # the figure explain() reports
            if part is None or not value or part == 0:  # a word's absence, or no lean either way
                continue
            label = LABELS[1] if part > 0 else LABELS[0]
            if len(pairs[label]) < count:
                pairs[label].append((name if value is True else f"{name}={value}", part))
        for found in pairs.values():
            found.sort(key=lambda pair: -abs(pair[1]))
        how = (
            "NLTK's most_informative_features() (a word's value is its count when the model counts): "
            "ln P(word has that value | positive) - ln P(word has that value | negative)"
        )
    else:
        return {"how": f"not available for kind {model.kind}", LABELS[1]: [], LABELS[0]: []}
    return {"how": how, **{label: [{"ngram": n, "weight": w} for n, w in found] for label, found in pairs.items()}}


def data_section(raw: Path, prepared: Path) -> dict[str, Any]:
    """Where the training data came from and the digests that pin it: the fetch manifest's, and each split's."""
    manifest = read_json(raw / "manifest.json")
    summary = read_json(prepared / "summary.json")
    splits = {
        split: {
            "documents": sum(summary[split].values()),
            "per_label": summary[split],
            "sha256": sha256(prepared / f"{split}.jsonl"),
        }
        for split in ("train", "test")
    }
    return {
        "source": manifest["source"],
        "documents": manifest["documents"],
        "per_label": manifest["per_label"],
        "sha256": manifest["sha256"],
        **({"nltk_version": manifest["nltk_version"]} if "nltk_version" in manifest else {}),
        **splits,
    }


def limits(data: Mapping[str, Any], tests: Mapping[str, Any], behaviour: Mapping[str, Any]) -> list[dict[str, str]]:
    """Known limits, each with the project's measured figure where it has one, and saying so where it has none."""

    def cases(test: str) -> str:
        row = behaviour.get(test) or {}
        return f"{row.get('failed', '?')}/{row.get('cases', '?')}"

    short = tests["by_length"]["<=30"]
    short_figure = (
        f"{short['accuracy']:.1%} right on the {short['documents']} test documents of at most 30 tokens"
        if short["documents"]
        else "no test document has 30 tokens or fewer"
    )
    return [
        {
            "limit": "English only",
            "evidence": f"trained on {data['source']}, English; no other language was measured.",
        },
        {
            "limit": "Movie reviews only",
            "evidence": f"every training document is a movie review ({data['source']}); no other domain was measured.",
        },
        {
            "limit": "Very short texts",
            "evidence": (
                f"the test split's median review has {tests['median_tokens']:.0f} tokens and {short_figure}; on the "
                f"one-line behavioural cases it gets {cases('minimum_functionality')} clear one-liners and "
                f"{cases('negation')} negations wrong."
            ),
        },
        {
            "limit": "Sarcasm and irony",
            "evidence": (
                "not measured: no test or behavioural case targets it, and a bag of n-grams reads the words, not the "
                f'intent. The nearest measured case, contrast ("great cast, terrible script"): {cases("contrast")} '
                "wrong."
            ),
        },
    ]


def card(
    *,
    name: str,
    version: int | None,
    candidate: str,
    kind: str,
    trained_at: str,
    metric: str,
    model_dir: Path,
    raw: Path,
    prepared: Path,
    cv: Mapping[str, Any],
    test: Mapping[str, Any],
    behaviour: Mapping[str, Any],
    floors: Mapping[str, float],
    predictions: Path,
    top: int = 10,
) -> dict[str, Any]:
    """The card of one trained candidate as JSON-ready data; every figure from the files named."""
    data = data_section(raw, prepared)
    breakdown = held_out_breakdown(prepared, predictions, data["source"])
    correct = round(test["accuracy"] * test["documents"])
    rates = {
        test_name: {key: row[key] for key in ("cases", "failed", "failure_rate")} | {"floor": floors.get(test_name)}
        for test_name, row in behaviour.items()
        if isinstance(row, dict) and "failure_rate" in row
    }
    return {
        "name": name,
        "version": version,
        "candidate": candidate,
        "kind": kind,
        "trained_at": trained_at,
        "intended_use": INTENDED_USE,
        "data": data,
        "selection": {"metric": metric, "cv": cv_with_interval(cv, metric)},
        "metrics": {
            "cv": {key: cv_with_interval(cv, key) for key in ("accuracy", "f1_macro", "roc_auc")},
            "test": {
                "accuracy": accuracy_with_interval(correct, test["documents"]),
                "f1_macro": test["f1_macro"],
                "roc_auc": test["roc_auc"],
            },
            "test_by_source": breakdown["by_source"],
            "test_by_length": breakdown["by_length"],
            "test_median_tokens": breakdown["median_tokens"],
        },
        "calibration": {
            "cv": {key: cv["calibration"][key] for key in ("brier", "log_loss", "ece")},
            "test": {key: test["calibration"][key] for key in ("brier", "log_loss", "ece")},
        },
        "behaviour": rates,
        "limits": limits(data, breakdown, behaviour),
        "top_ngrams": top_ngrams(model_dir, top),
    }


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def _interval(values: Sequence[float] | None) -> str:
    return "—" if values is None else f"{100 * values[0]:.1f}-{100 * values[1]:.1f} %"


def _ngrams(rows: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"`{row['ngram']}` ({row['weight']:+.3f})" for row in rows) or "—"


def markdown(summary: Mapping[str, Any]) -> str:
    """The card for people: models/model_card.md, the MLflow model version's description and artifact."""
    data, metrics, calibration = summary["data"], summary["metrics"], summary["calibration"]
    selection = summary["selection"]["cv"]
    version = summary["version"] if summary["version"] is not None else "unregistered"
    lines = [
        f"# Model card: {summary['name']} version {version}",
        "",
        f"`{summary['candidate']}` ({summary['kind']}), registered {summary['trained_at']} by `select`. "
        "Written by the select stage from the pipeline's own outputs (pipeline/model_card.py); "
        "`GET /model` on the service answers its summary.",
        "",
        "## Intended use",
        "",
        summary["intended_use"],
        "",
        "## Training data",
        "",
        f"- source `{data['source']}`: {data['documents']:,} documents "
        f"({', '.join(f'{n:,} {label}' for label, n in data['per_label'].items())}), sha256 `{data['sha256']}`",
        f"- train split: {data['train']['documents']:,} documents, sha256 `{data['train']['sha256']}` "
        "(the model and every selection score)",
        f"- test split: {data['test']['documents']:,} documents, sha256 `{data['test']['sha256']}` (reported only)",
        "",
        "## Metrics",
        "",
        f"Chosen by train-split CV {summary['selection']['metric']}: {_percent(selection['mean'])} "
        f"± {100 * selection['std']:.2f} over {selection['folds']} folds (mean's 95 % interval "
        f"{_interval(selection['interval_95'])}).",
        "",
        "| where | documents | accuracy | 95 % interval |",
        "|---|---|---|---|",
    ]
    test = metrics["test"]["accuracy"]
    lines.append(
        f"| test split, all | {test['documents']} | {_percent(test['accuracy'])} | {_interval(test['interval_95'])} |"
    )
    groups = [(f"source {source}", row) for source, row in metrics["test_by_source"].items()]
    groups += [(f"tokens {band}", metrics["test_by_length"][band]) for band, *_ in LENGTH_BANDS]  # JSON sorts keys
    for group, row in groups:
        lines.append(
            f"| test, {group} | {row['documents']} | {_percent(row['accuracy'])} | {_interval(row['interval_95'])} |"
        )
    lines += [
        "",
        "Intervals on the test split are Wilson score intervals; a band with few documents has a wide one. "
        f"Test F1 macro {metrics['test']['f1_macro']:.4f}, ROC AUC {metrics['test']['roc_auc']:.4f}; "
        f"the test split's median review has {metrics['test_median_tokens']:.0f} tokens.",
        "",
        "## Calibration",
        "",
        "| | Brier | log loss | ECE |",
        "|---|---|---|---|",
    ]
    for where in ("cv", "test"):
        row = calibration[where]
        label = "train-split CV (out of fold)" if where == "cv" else "test split"
        lines.append(f"| {label} | {row['brier']:.4f} | {row['log_loss']:.4f} | {row['ece']:.4f} |")
    lines += ["", "## Behavioural tests", "", "| test | failed | floor (select) |", "|---|---|---|"]
    for test_name, row in summary["behaviour"].items():
        floor = "—" if row["floor"] is None else f"{row['floor']:.2f}"
        lines.append(f"| {test_name} | {row['failed']}/{row['cases']} ({row['failure_rate']:.1%}) | {floor} |")
    lines += ["", "## Known limits", ""]
    lines += [f"- **{row['limit']}**: {row['evidence']}" for row in summary["limits"]]
    ngrams = summary["top_ngrams"]
    lines += [
        "",
        "## Top-weighted n-grams",
        "",
        f"By {ngrams['how']}. `¬` marks a word in a negation's scope, `»` one of the review's last sentences.",
        "",
        f"- positive: {_ngrams(ngrams[LABELS[1]])}",
        f"- negative: {_ngrams(ngrams[LABELS[0]])}",
        "",
    ]
    return "\n".join(lines)
