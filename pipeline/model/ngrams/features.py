"""The n-gram options saved with a linear model, and the reference tokenizer they define."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from itertools import chain

from pipeline.errors import PipelineError
from pipeline.model.text import PUNCTUATION, SNOWBALL_LANGUAGES, Memo, stemmer, tokenize

# Stopword-list entries that carry sentiment: NLTK's english list has them, and dropping "not" turns
# "not good" into "good". tokenize() splits "don't" into "don", "'", "t", so those halves count too.
NEGATIONS = frozenset({
    "no", "not", "nor", "never", "t", "ain", "aren", "couldn", "didn", "doesn", "don", "hadn", "hasn",
    "haven", "isn", "mightn", "mustn", "needn", "shan", "shouldn", "wasn", "weren", "won", "wouldn",
})  # fmt: skip

WEIGHTINGS = ("binary", "count", "tfidf")
# An n-gram's key packs its token ids into one int64 (id1 * base**2 + id2 * base + id3), hence 3.
MAX_NGRAM = 3
# Negation marking (Das & Chen 2001, Pang et al. 2002): the words a cue opens a scope with. "t" is the
# tail of "n't", which tokenize() splits off ("didn't" -> "didn", "'", "t").
NEGATION_CUES = frozenset({"not", "no", "never", "t"})
# A punctuation token holding one of these closes the scope ("," "." "!!!" "?!" "...").
CLAUSE_MARKS = frozenset(".,:;!?")
# Prefix of a token inside a scope. "¬" is not a word character, so a marked word ("¬good") is never a
# token of the text; only runs of such characters can meet ("¬¬" written, or "¬" in a scope), rare enough
# to share a column.
NEGATED_PREFIX = "¬"
# Prefix of a token repeated from a text's last sentences (NgramFeatures.tail_sentences) and of a character
# n-gram of a word (char_ngram_range). Like "¬", neither is a word character, so these columns never meet a
# word of the text, nor each other.
TAIL_PREFIX = "»"
CHAR_PREFIX = "¤"
# A token holding one of these ends a sentence, for tail_sentences.
SENTENCE_MARKS = frozenset(".!?")
# Put between the token streams a tokenizer joins (the text, its tail, each character n-gram). Its id is
# always 0 (unknown), so no n-gram holding it is a column and no n-gram spans two streams.
STREAM_BREAK = " "


@dataclasses.dataclass(frozen=True)
class NgramFeatures:
    """How raw text becomes n-gram columns for the linear models; saved in model.json so serving repeats it."""

    lowercase: bool = True
    # The word list itself. Negations (NEGATIONS) are taken out of it, and the list saved is the one applied.
    stopwords: tuple[str, ...] = ()
    # Drop one-character punctuation tokens. Off by default: "!" and "?" are signal in n-grams.
    remove_punctuation: bool = False
    # A Snowball stemmer language, or None. Stemming needs NLTK when serving and takes the slower regex path.
    stem: str | None = None
    # Shortest and longest n-gram in tokens: [1, 2] is unigrams and bigrams.
    ngram_range: tuple[int, int] = (1, 2)
    # Keep the n-grams found in at least this many training documents...
    min_document_count: int = 1
    # ...and of those at most this many, the most widespread first (None: all of them).
    max_features: int | None = None
    # Column values: binary (presence), count, or tfidf ((1 + ln count) * smoothed idf, rows L2-normalized).
    weighting: str = "binary"
    # Prefix NEGATED_PREFIX to the tokens between a negation cue and the next clause punctuation, so
    # "not a good film ," gives "¬a ¬good ¬film": the unigram "good" then stops counting for the review.
    # Scopes are found with arrays when serving (fast_tokenizer.negation_scopes), so marking costs no regex path.
    mark_negation: bool = False
    # The n-grams of the text's last this-many sentences once more, their tokens prefixed TAIL_PREFIX (and
    # negation-marked as in the whole text): a review's verdict is often in its closing sentences. 0: none.
    tail_sentences: int = 0
    # Also each word's character n-grams, shortest and longest ([3, 5]), the word padded with "<" and ">":
    # each is a column of its own (a unigram, never joined into word n-grams). None: none.
    char_ngram_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stopwords", tuple(word for word in self.stopwords if word not in NEGATIONS))
        object.__setattr__(self, "ngram_range", tuple(self.ngram_range))
        if self.char_ngram_range is not None:
            object.__setattr__(self, "char_ngram_range", tuple(self.char_ngram_range))
            if len(self.char_ngram_range) != 2 or not 1 <= self.char_ngram_range[0] <= self.char_ngram_range[1]:
                raise PipelineError(
                    f"char_ngram_range {list(self.char_ngram_range)} must be [low, high], 1 <= low <= high"
                )
        if self.tail_sentences < 0:
            raise PipelineError("tail_sentences must be 0 or more")
        if len(self.ngram_range) != 2 or not 1 <= self.ngram_range[0] <= self.ngram_range[1] <= MAX_NGRAM:
            raise PipelineError(f"ngram_range {list(self.ngram_range)} must be [low, high] with 1 <= low <= high <= 3")
        if self.weighting not in WEIGHTINGS:
            raise PipelineError(f"weighting '{self.weighting}' is not one of {', '.join(WEIGHTINGS)}")
        if self.min_document_count < 1 or (self.max_features is not None and self.max_features < 1):
            raise PipelineError("min_document_count and max_features must be at least 1")
        if self.stem is not None and self.stem not in SNOWBALL_LANGUAGES:
            raise PipelineError(f"unknown Snowball language {self.stem!r}")

    @property
    def vectorizable(self) -> bool:
        """Whether serving may tokenize with array operations (fast_tokenizer) rather than tokenizer() per text."""
        return (
            # Stems need NLTK, one token at a time.
            self.stem is None
            # A cue is found by its lower-cased spelling; with case kept, "NOT" would need entries of its own.
            and (self.lowercase or not self.mark_negation)
            # Character n-grams are made by tokenizer() only.
            and not self.char_ngram_range
        )

    def readable(self, ngram: str) -> str:
        """A vocabulary n-gram as an explanation names it: its tokens joined by spaces, negation-scoped ones still
        prefixed NEGATED_PREFIX ("not ¬good"); an n-gram of the repeated tail, whose every token carries
        TAIL_PREFIX, has them taken off and is written once with "» " in front ("» not ¬good"): it is a column of
        its own, counted beside the same words' plain one. A character n-gram keeps CHAR_PREFIX."""
        tokens = ngram.split(" ")
        # A lone "»" is the text's own (the tail's reading of a token is never empty); "»»" may be either, as it
        # shares one column, and reads as the tail.
        if self.tail_sentences and all(token.startswith(TAIL_PREFIX) and token != TAIL_PREFIX for token in tokens):
            return f"{TAIL_PREFIX} " + " ".join(token.removeprefix(TAIL_PREFIX) for token in tokens)
        return ngram

    def dropped(self) -> frozenset[str]:
        return frozenset(self.stopwords) | (PUNCTUATION if self.remove_punctuation else frozenset())

    def tokenizer(self) -> Callable[[str], list[str]]:
        """text -> the tokens n-grams are made of. This is the reference: the vectorized serving path must equal it."""
        dropped = self.dropped()
        if self.mark_negation:  # a stopword is dropped inside a negation scope too
            dropped |= {NEGATED_PREFIX + word for word in dropped}
        stems = stemmer(self.stem) if self.stem else None
        char_ngram_range = self.char_ngram_range
        # word -> its character n-grams: words repeat, so each is built once
        grams = Memo(lambda word: character_ngrams(word, char_ngram_range)) if char_ngram_range else None

        def clean(kept: list[str]) -> list[str]:
            if dropped:
                kept = [token for token in kept if token not in dropped]
            if stems is not None:
                kept = stems.map(kept)
            return kept

        def tokens(text: str) -> list[str]:
            raw = tokenize(text.lower() if self.lowercase else text)
            marked = negation_marked(raw) if self.mark_negation else raw
            kept = clean(marked)
            if self.tail_sentences:  # sentence ends are clause punctuation, which marking never prefixes
                tail = clean(last_sentences(marked, self.tail_sentences))
                kept = [*kept, STREAM_BREAK, *(TAIL_PREFIX + token for token in tail)]
            if grams is not None:
                kept += chain.from_iterable(grams.map([word for word in clean(raw) if word.isalnum()]))
            return kept

        return tokens


def character_ngrams(word: str, ngram_range: tuple[int, int]) -> tuple[str, ...]:
    """STREAM_BREAK before each of the word's prefixed character n-grams, so none joins another."""
    low, high = ngram_range
    padded = f"<{word}>"
    spans = [(start, n) for n in range(low, min(high, len(padded)) + 1) for start in range(len(padded) - n + 1)]
    return tuple(chain.from_iterable((STREAM_BREAK, CHAR_PREFIX + padded[a : a + n]) for a, n in spans))


def negation_marked(tokens: list[str]) -> list[str]:
    """Tokens after a cue, up to the next clause punctuation, get NEGATED_PREFIX; cues and the punctuation do not.

    It runs before stopwords and punctuation are dropped, so a dropped "," still closes the scope and a dropped
    stopword still lies inside one.
    """
    marked, negated = [], False
    for token in tokens:
        if token.lower() in NEGATION_CUES:
            negated = True
            marked.append(token)
        elif not CLAUSE_MARKS.isdisjoint(token):
            negated = False
            marked.append(token)
        else:
            marked.append(NEGATED_PREFIX + token if negated else token)
    return marked


def last_sentences(tokens: list[str], count: int) -> list[str]:
    """The tokens of the last `count` sentences (all of them if there are fewer): a sentence ends with a
    token holding ".", "!" or "?", and the text's final sentence need not."""
    ends = [i for i, token in enumerate(tokens) if not SENTENCE_MARKS.isdisjoint(token)]
    if ends and ends[-1] == len(tokens) - 1:
        ends.pop()
    return tokens[ends[-count] + 1 :] if len(ends) >= count else tokens
