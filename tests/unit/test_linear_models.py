"""The n-gram linear models: exported numpy weights reproduce the scikit-learn estimator, tokens match tokenize()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import model as model_module
from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import NgramFeatures, create, load, tokenize

LINEAR_KINDS = (
    "multinomial_nb", "bernoulli_nb", "logistic_regression", "nbsvm", "nb_logistic_regression", "linear_ensemble",
)  # fmt: skip
ALL_MEMBERS = [{"kind": kind} for kind in LINEAR_KINDS if kind != "linear_ensemble"]

# Every kind with each weighting it accepts, on uni- to trigrams.
VARIANTS = [
    ("multinomial_nb", {"weighting": "binary"}),
    ("multinomial_nb", {"weighting": "count"}),
    ("multinomial_nb", {"weighting": "tfidf", "ngram_range": [1, 3]}),
    ("bernoulli_nb", {"ngram_range": [1, 3], "min_document_count": 2}),
    ("logistic_regression", {"weighting": "binary", "stopwords": ["the", "a", "is", "not"]}),
    ("logistic_regression", {"weighting": "tfidf", "remove_punctuation": True}),
    ("nbsvm", {"ngram_range": [1, 3]}),
    ("nbsvm", {"ngram_range": [2, 2], "max_features": 40}),
    ("nbsvm", {"mark_negation": True}),
    ("nb_logistic_regression", {"ngram_range": [1, 3]}),
    ("linear_ensemble", {}),
    ("linear_ensemble", {"mark_negation": True, "stopwords": ["the", "a"]}),
]

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


def predicted_positive(fitted, texts: list[str]) -> np.ndarray:
    """P(positive) from the fitted scikit-learn estimator itself, on the training path's features."""
    matrix = fitted.estimator_input(texts)
    if hasattr(fitted.estimator, "predict_proba"):
        return fitted.estimator.predict_proba(matrix)[:, 1]
    return 1.0 / (1.0 + np.exp(-fitted.estimator.decision_function(matrix)))  # NBSVM: logistic of the margin


@pytest.mark.parametrize(("kind", "features"), VARIANTS)
def test_exported_model_equals_the_trained_estimator(kind: str, features: dict, prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    _, test_texts, _ = read_split(prepared / "test.jsonl")
    fitted = create(kind, {"features": features}).fit(texts, labels)
    fitted.save(tmp_path / "model")
    exported = load(tmp_path / "model")
    assert exported._table._hashed, "every variant here serves by the vectorized path"
    everything = texts + test_texts
    expected = predicted_positive(fitted, everything)
    probabilities = exported.predict_proba(everything)
    assert np.allclose([p["positive"] for p in probabilities], expected, rtol=1e-9, atol=1e-12)
    assert exported.predict(everything) == ["positive" if p > 0.5 else "negative" for p in expected]
    assert fitted.estimator.predict(fitted.estimator_input(test_texts)).tolist() == [
        int(label == "positive") for label in exported.predict(test_texts)
    ]


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_saved_files_are_json_and_npz_without_pickles(kind: str, prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    create(kind, {}).fit(texts, labels).save(tmp_path / "model")
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "model.json",
        "vocabulary.json",
        "weights.npz",
    ]
    with np.load(tmp_path / "model" / "weights.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype == np.float64 for name in arrays.files)


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


@pytest.mark.parametrize(("negation", "tail"), [(False, 0), (True, 0), (False, 2), (True, 3)])
def test_vectorized_tokens_equal_tokenize(negation: bool, tail: int, prepared: Path) -> None:
    """The serving path's token ids are tokenize()'s, token for token, on text built to trip it."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    features = {"stopwords": ["the", "a", "and", "not"], "remove_punctuation": True, "mark_negation": negation}
    features["tail_sentences"] = tail
    tricky = TRICKY + NEGATION_TRICKY
    fitted = create("multinomial_nb", {"features": features}).fit(texts + tricky, labels + ["positive"] * len(tricky))
    table = fitted._table
    assert table._hashed, "this vocabulary should take the vectorized path"
    if negation:
        assert any(token.startswith(model_module.NEGATED_PREFIX) for token in table.tokens)
    if tail:
        prefix = model_module.TAIL_PREFIX + model_module.NEGATED_PREFIX * negation
        assert any(token.startswith(prefix) for token in table.tokens)
    shouted = [text.upper() for text in tricky]
    for batch in (tricky, shouted, texts, tricky[2:3], NEGATION_TRICKY[1:3], []):
        hashed, regex = table._hashed_ids(batch), table.regex_ids(batch)
        assert hashed[0].tolist() == regex[0].tolist() and hashed[1].tolist() == regex[1].tolist()
    # Every token of the tricky texts is known, so the ids spell the texts back exactly.
    ids, _ = table._hashed_ids(tricky)
    kept = [token for text in tricky for token in fitted.features.tokenizer()(text)]
    assert [table.tokens[number - 1] if number else model_module.STREAM_BREAK for number in ids.tolist()] == kept


def test_case_kept_negation_marking_takes_the_regex_path(prepared: Path) -> None:
    """A cue is matched lower-cased, so a model that keeps case and marks negation must not hash."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    features = {"lowercase": False, "mark_negation": True}
    fitted = create("multinomial_nb", {"features": features}).fit(texts, labels)
    assert not fitted._table._hashed
    shouted = ["NOT good at all", "Never boring. Not once"]
    served = [p["positive"] for p in fitted.predict_proba(shouted)]
    assert np.allclose(served, predicted_positive(fitted, shouted), rtol=1e-9, atol=1e-12)


def test_a_hash_collision_never_picks_the_wrong_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """With multiplier 1 a hash is the sum of code points, so anagrams collide: the character check must catch it."""
    monkeypatch.setattr(model_module, "HASH_MULTIPLIER", 1)
    fitted = create("multinomial_nb", {"features": {"ngram_range": [1, 1]}}).fit(
        ["ab cd", "ef"], ["positive", "negative"]
    )
    assert fitted._table._hashed
    ids, _ = fitted._table._hashed_ids(["ba ab dc"])
    assert [fitted._table.tokens[number - 1] if number else None for number in ids.tolist()] == [None, "ab", None]
    # Two vocabulary tokens with one hash: the model falls back to the regex path and stays exact.
    clashing = create("multinomial_nb", {"features": {"ngram_range": [1, 1]}}).fit(
        ["ab", "ba"], ["positive", "negative"]
    )
    assert not clashing._table._hashed
    assert clashing.predict(["ab", "ba"]) == ["positive", "negative"]


def test_a_batch_scores_each_text_as_alone(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    fitted = create("logistic_regression", {"features": {"weighting": "tfidf"}}).fit(texts, labels)
    batch = [*texts[:5], "", "unknown words only", *TRICKY]
    assert fitted.predict_proba(batch) == [fitted.predict_proba([text])[0] for text in batch]
    assert fitted.predict_proba([]) == []
    assert fitted.predict_proba(["nothing known here"])[0] == fitted.predict_proba([""])[0]


def test_serving_imports_neither_sklearn_nor_scipy(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    create("nbsvm", {}).fit(texts, labels).save(tmp_path / "model")
    script = (
        "import sys; from pathlib import Path; from pipeline.model import load; "
        f"print(load(Path({str(tmp_path / 'model')!r})).predict(['a superb film'])); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'nltk'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == ["['positive']", "[]"]


def test_stopwords_keep_negations() -> None:
    features = NgramFeatures(stopwords=("the", "not", "no", "never", "don", "t", "is"))
    assert features.stopwords == ("the", "is")
    assert features.tokenizer()("The film is NOT good, don't go") == ["film", "not", "good", ",", "don", "'", "t", "go"]


def test_vocabulary_limits(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    everything = create("multinomial_nb", {"features": {"ngram_range": [1, 2]}}).fit(texts, labels)
    common = create("multinomial_nb", {"features": {"ngram_range": [1, 2], "min_document_count": 3}}).fit(texts, labels)
    top = create("multinomial_nb", {"features": {"ngram_range": [1, 2], "max_features": 7}}).fit(texts, labels)
    sizes = [len(model._table.keys) for model in (everything, common, top)]
    assert sizes[0] > sizes[1] > sizes[2] == 7
    counts = np.asarray((everything.estimator_input(texts) > 0).sum(axis=0)).ravel()
    assert sizes[1] == (counts >= 3).sum()
    assert set(top._table.vocabulary()) <= set(common._table.vocabulary())


def test_bad_options_are_named() -> None:
    with pytest.raises(PipelineError, match="bernoulli_nb reads presence only"):
        create("bernoulli_nb", {"features": {"weighting": "tfidf"}})
    with pytest.raises(PipelineError, match=r"ngram_range \[1, 4\]"):
        create("nbsvm", {"features": {"ngram_range": [1, 4]}})
    with pytest.raises(PipelineError, match="weighting 'bm25'"):
        create("logistic_regression", {"features": {"weighting": "bm25"}})
    with pytest.raises(PipelineError, match="unexpected keyword argument 'beta'"):
        create("nbsvm", {"beta": 0.25})
    with pytest.raises(PipelineError, match="not fitted"):
        create("nbsvm", {}).predict_proba(["text"])
    with pytest.raises(PipelineError, match="no n-gram is in 5 training documents"):
        create("multinomial_nb", {"features": {"min_document_count": 5}}).fit(["good", "bad"], ["positive", "negative"])


def test_corrupt_weights_are_named(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    folder = tmp_path / "model"
    create("multinomial_nb", {}).fit(texts, labels).save(folder)
    (folder / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PipelineError, match="unreadable"):
        load(folder)
    np.savez(folder / "weights.npz", coef=np.zeros(3), intercept=np.zeros(1))
    with pytest.raises(PipelineError, match="n-grams but 3 weights"):
        load(folder)


def test_tokenize_is_the_reference() -> None:
    """The tokens the tests above compare against are still NLTK's WordPunct tokens."""
    assert tokenize("Don't miss it!!!") == ["Don", "'", "t", "miss", "it", "!!!"]


def test_negation_marks_tokens_up_to_clause_punctuation() -> None:
    tokens = NgramFeatures(mark_negation=True, stopwords=("a",), remove_punctuation=True).tokenizer()
    assert tokens("Not a GOOD film, but I didn't hate it... Never -- ever!") == [
        "not", "¬good", "¬film", "but", "i", "didn", "t", "¬hate", "¬it", "...", "never", "¬--", "¬ever",
    ]  # fmt: skip
    assert NgramFeatures().tokenizer()("not good") == ["not", "good"]


def test_tail_sentences_repeat_the_last_sentences_prefixed() -> None:
    tokens = NgramFeatures(mark_negation=True, tail_sentences=2, stopwords=("a",)).tokenizer()
    assert tokens("A dull start. It is not good, fine! Loved it.") == [
        "dull", "start", ".", "it", "is", "not", "¬good", ",", "fine", "!", "loved", "it", ".",
        " ", "»it", "»is", "»not", "»¬good", "»,", "»fine", "»!", "»loved", "»it", "».",
    ]  # fmt: skip
    assert NgramFeatures(tail_sentences=3).tokenizer()("one sentence") == ["one", "sentence", " ", "»one", "»sentence"]


def test_character_ngrams_are_columns_of_their_own() -> None:
    tokens = NgramFeatures(char_ngram_range=(3, 4), stopwords=("a",)).tokenizer()
    assert tokens("A fun, odd film!") == [
        "fun", ",", "odd", "film", "!",
        " ", "¤<fu", " ", "¤fun", " ", "¤un>", " ", "¤<fun", " ", "¤fun>",
        " ", "¤<od", " ", "¤odd", " ", "¤dd>", " ", "¤<odd", " ", "¤odd>",
        " ", "¤<fi", " ", "¤fil", " ", "¤ilm", " ", "¤lm>", " ", "¤<fil", " ", "¤film", " ", "¤ilm>",
    ]  # fmt: skip


@pytest.mark.parametrize("features", [{"tail_sentences": 2, "mark_negation": True}, {"char_ngram_range": [3, 5]}])
def test_tail_and_character_ngram_models_serve_as_trained(features: dict, prepared: Path, tmp_path: Path) -> None:
    """A tail model serves by the vectorized path, a character n-gram one by the regex path; both score as trained."""
    _, texts, labels = read_split(prepared / "train.jsonl")
    _, test_texts, _ = read_split(prepared / "test.jsonl")
    fitted = create("linear_ensemble", {"features": features, "members": ALL_MEMBERS}).fit(texts, labels)
    fitted.save(tmp_path / "model")
    exported = load(tmp_path / "model")
    prefix = "»" if "tail_sentences" in features else "¤"
    assert exported._table._hashed == (prefix == "»")
    streams = [{part.startswith(prefix) for part in ngram.split(" ")} for ngram in exported._table.vocabulary()]
    assert {True} in streams  # the prefixed columns exist...
    assert {True, False} not in streams  # ...and no n-gram spans the stream break
    if prefix == "¤":  # character n-grams are never joined into word n-grams
        assert all(" " not in ngram for ngram in exported._table.vocabulary() if ngram.startswith(prefix))
    everything = [*texts, *test_texts, *TRICKY]
    expected = predicted_positive(fitted, everything)
    served = [p["positive"] for p in exported.predict_proba(everything)]
    assert np.allclose(served, expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(PipelineError, match="tail_sentences"):
        NgramFeatures(tail_sentences=-1)
    with pytest.raises(PipelineError, match="char_ngram_range"):
        NgramFeatures(char_ngram_range=(4, 2))


def test_ensemble_is_the_sum_of_its_standardized_members(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    ensemble = create("linear_ensemble", {"members": ALL_MEMBERS}).fit(texts, labels)
    scores = np.zeros(len(texts))
    for spec in ALL_MEMBERS:
        member = create(spec["kind"], {}).fit(texts, labels).scores(texts)
        scores += member / member.std()
    assert np.allclose(ensemble.scores(texts), scores, rtol=1e-9, atol=1e-9)
    assert ensemble.options()["members"][0] == {"kind": "multinomial_nb", "alpha": 1.0}


def test_ensemble_members_are_checked() -> None:
    with pytest.raises(PipelineError, match="member kind 'nltk_naive_bayes' is not an n-gram linear model"):
        create("linear_ensemble", {"members": [{"kind": "nltk_naive_bayes"}]})
    with pytest.raises(PipelineError, match="share the ensemble's features"):
        create("linear_ensemble", {"members": [{"kind": "nbsvm", "features": {}}]})
    with pytest.raises(PipelineError, match="at least one member"):
        create("linear_ensemble", {"members": []})
    with pytest.raises(PipelineError, match="nbsvm reads presence only"):
        create("linear_ensemble", {"features": {"weighting": "tfidf"}})
    with pytest.raises(PipelineError, match="unexpected keyword argument 'beta'"):
        create("linear_ensemble", {"members": [{"kind": "nbsvm", "beta": 0.25}]})


def test_hash_index_finds_every_key_past_long_probe_chains() -> None:
    """Keys built to share one slot make a chain far longer than PROBE_ROUNDS: the sorted fallback must find them."""
    inverse = pow(model_module.HASH_MULTIPLIER, -1, 2**64)  # key * multiplier == j: every key hashes to slot 0
    crowded_keys = np.array([j * inverse % 2**64 for j in range(1, 65)], dtype=np.uint64)
    crowded = model_module._HashIndex(crowded_keys)
    assert crowded.find(crowded_keys).tolist() == list(range(64))
    assert crowded.find(crowded_keys + np.uint64(1)).tolist() == [-1] * 64
    rng = np.random.default_rng(0)
    keys = rng.choice(2**40, size=5_000, replace=False).astype(np.uint64)
    absent = np.setdiff1d(rng.choice(2**40, size=2_000, replace=False).astype(np.uint64), keys)
    index = model_module._HashIndex(keys)
    assert index.find(np.concatenate([keys[::-1], absent])).tolist() == [*range(4_999, -1, -1), *[-1] * len(absent)]
    assert model_module._HashIndex(np.zeros(0, dtype=np.uint64)).find(keys).tolist() == [-1] * len(keys)
