"""The vectorized tokenizer: a batch of texts to token ids by array operations, exactly as tokenizer() gives them."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Self

import numpy as np

from pipeline.model.ngrams import hash_index
from pipeline.model.ngrams.features import (
    CLAUSE_MARKS,
    NEGATED_PREFIX,
    NEGATION_CUES,
    SENTENCE_MARKS,
    TAIL_PREFIX,
    NgramFeatures,
)
from pipeline.model.ngrams.hash_index import HashIndex
from pipeline.model.text import TOKEN_PATTERN, tokenize

log = logging.getLogger(__name__)


@functools.cache
def character_classes() -> np.ndarray:
    """Each code point's class as TOKEN_PATTERN sees it: 0 space (\\s), 1 word (\\w), 2 other.

    Built once per process (~0.2 s, 1.1 MB) by running `re` itself over every code point, so the
    vectorized tokenizer cannot class a character differently from tokenize().
    """
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    classes = np.full(sys.maxunicode + 1, 2, dtype=np.uint8)
    classes[[match.start() for match in re.finditer(r"\w", everything)]] = 1
    classes[[match.start() for match in re.finditer(r"\s", everything)]] = 0
    return classes


def token_spans(text: str, powers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """tokenize(text) as arrays: the text's code points, and each token's start, end and hash.

    A token is a run of word characters or a run of other non-space characters, exactly the matches
    of TOKEN_PATTERN. Its hash is sum((code[k] + 1) * HASH_MULTIPLIER**k) mod 2**64 over its characters, so
    it does not depend on where the token stands; `powers` holds the multiplier's powers up to the
    longest token worth hashing, and longer tokens get a wrong hash that their length rules out anyway.
    """
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = character_classes()[codes]
    size = len(codes)
    edges = np.ones(size + 1, dtype=bool)
    np.not_equal(classes[1:], classes[:-1], out=edges[1 : max(size, 1)])
    bounds = np.flatnonzero(edges)
    starts, ends = bounds[:-1], bounds[1:]
    within = np.arange(size) - np.repeat(starts, ends - starts)
    terms = (codes.astype(np.uint64) + np.uint64(1)) * powers[np.minimum(within, len(powers) - 1)]  # +1: NUL counts
    prefix = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum(terms, out=prefix[1:])
    tokens = classes[starts] != 0
    starts, ends = starts[tokens], ends[tokens]
    return codes, starts, ends, prefix[ends] - prefix[starts]


def readings(token: str, tailing: bool, negating: bool) -> Iterator[tuple[bool, bool, str]]:
    """Each (in the tail, in a scope, token as written in the text) a vocabulary token can stand for.

    The prefixes are not word characters, but tokenize() yields runs of such characters, so one column can
    have two readings: "¬¬" is the text's "¬¬", or its "¬" inside a scope. Readings tokenize() would split
    ("»good" as written) cannot occur and are left out.
    """
    streams = [(False, token)]
    if tailing and token.startswith(TAIL_PREFIX):
        streams.append((True, token.removeprefix(TAIL_PREFIX)))
    for tail, word in streams:
        written_as = [(False, word)]
        if negating and word.startswith(NEGATED_PREFIX):
            written_as.append((True, word.removeprefix(NEGATED_PREFIX)))
        for scoped, written in written_as:
            if TOKEN_PATTERN.fullmatch(written):  # tokenize(written) == [written], without the list
                yield tail, scoped, written


@functools.cache
def ascii_table(marks: frozenset[str]) -> np.ndarray:
    """Which of the 128 ASCII code points are among `marks`; built once per process, not per scored batch."""
    table = np.zeros(128, dtype=bool)
    table[[ord(mark) for mark in marks]] = True
    return table


def token_has(marks: frozenset[str], codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which tokens hold at least one of `marks` (ASCII characters)."""
    table = ascii_table(marks)
    running = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(table[np.minimum(codes, 127)], out=running[1:])  # code 127 (DEL) is no mark; nor is anything above
    return running[ends] > running[starts]


def in_last_sentences(
    codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, documents: np.ndarray, count: int
) -> np.ndarray:
    """features.last_sentences() as arrays: which tokens stand in their text's last `count` sentences.

    A token is in them when fewer than `count` sentence ends (not counting the text's final token) lie
    at or after it in its text.
    """
    last = np.ones(len(starts), dtype=bool)
    last[:-1] = documents[1:] != documents[:-1]
    sentence_end = token_has(SENTENCE_MARKS, codes, starts, ends) & ~last
    running = np.cumsum(sentence_end)
    before = running - sentence_end
    text_total = running[np.flatnonzero(last)][np.searchsorted(documents[last], documents)]
    return text_total - before < count


def negation_scopes(
    codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, documents: np.ndarray, cue: np.ndarray
) -> np.ndarray:
    """features.negation_marked() as arrays: which tokens stand inside a scope, so take NEGATED_PREFIX.

    A cue opens a scope, a token holding a CLAUSE_MARKS character or a document's start closes it;
    every other token is inside exactly when the last such event before it was a cue.
    """
    clause = token_has(CLAUSE_MARKS, codes, starts, ends)
    first = np.ones(len(starts), dtype=bool)
    first[1:] = documents[1:] != documents[:-1]
    last_event = np.where(cue | clause | first, np.arange(len(starts)), 0)
    np.maximum.accumulate(last_event, out=last_event)
    return cue[last_event] & ~cue & ~clause


@dataclasses.dataclass(frozen=True, eq=False)
class Entries:
    """A vocabulary's tokens as written in a text, and each one's id in each place it can stand.

    The vectorized and the compiled tokenizers both find a text's tokens among these, then read the id
    for where the token stands: plain, inside a negation scope, in the repeated tail, or both.
    """

    written: list[str]
    # (in the tail, in a scope) -> each entry's id when it stands there (-1: dropped, 0: unknown)
    place_ids: dict[tuple[bool, bool], np.ndarray]
    cues: np.ndarray  # which entries open a negation scope

    @classmethod
    def of(cls, features: NgramFeatures, tokens: Sequence[str]) -> Self:
        """The entries of `tokens` (token i has id i + 1) under these features."""
        dropped = [word for word in features.dropped() if tokenize(word) == [word]]
        negating, tailing = features.mark_negation, bool(features.tail_sentences)
        places: dict[tuple[bool, bool], dict[str, int]] = {
            (tail, scoped): {} for tail in (False, True) for scoped in (False, True)
        }
        plain, prefixes = places[False, False], (TAIL_PREFIX, NEGATED_PREFIX)
        for number, token in enumerate(tokens, start=1):
            if not token.startswith(prefixes):  # most tokens: one reading, itself (readings() ~5x slower)
                if TOKEN_PATTERN.fullmatch(token):
                    plain[token] = number
                continue
            for tail, scoped, written in readings(token, tailing, negating):
                places[tail, scoped][written] = number
        for word in dropped:  # a dropped word is dropped wherever it stands
            for ids in places.values():
                ids[word] = -1
        cues = NEGATION_CUES if negating else frozenset()
        written = list(dict.fromkeys([*chain.from_iterable(places.values()), *cues]))
        return cls(
            written=written,
            place_ids={
                place: np.array([ids.get(entry, 0) for entry in written], dtype=np.int64)
                for place, ids in places.items()
            },
            cues=np.array([entry in cues for entry in written], dtype=bool),
        )


@dataclasses.dataclass(frozen=True, eq=False)  # arrays have no one truth value to compare by
class HashedTokenizer:
    """A vocabulary's tokenizer() with array operations rather than re.findall per text (~4x faster).

    Each token of a text is found among the entries (the vocabulary's tokens as written) by its hash,
    then compared character by character, so a hash collision can never pick a wrong token: the ids are
    exactly tokenizer()'s, as tests check. Negation scopes and the tail are found with arrays too.
    """

    features: NgramFeatures
    powers: np.ndarray  # HASH_MULTIPLIER**k modulo 2**64 up to the longest entry: token_spans() hashes with it
    entries: HashIndex  # an entry's hash -> the entry
    codes: np.ndarray  # the entries' characters, joined by spaces...
    starts: np.ndarray  # ...each entry's first character among them...
    lengths: np.ndarray  # ...and its length
    # (in the tail, in a scope) -> each entry's id when it stands there (-1: dropped, 0: unknown)
    place_ids: dict[tuple[bool, bool], np.ndarray]
    cues: np.ndarray  # which entries open a negation scope

    @classmethod
    def build(cls, features: NgramFeatures, tokens: Sequence[str]) -> Self | None:
        """The tokenizer of `tokens` (token i has id i + 1), or None when two entries share a hash.

        Per entry (a token as written) it keeps its hash, length and characters, whether it is a cue,
        and its id in each place a token can stand: plain, inside a negation scope, in the repeated
        tail, and both.
        """
        found = Entries.of(features, tokens)
        entries = found.written
        longest = max(map(len, entries), default=1)
        multiplier = hash_index.HASH_MULTIPLIER
        powers = np.array([pow(multiplier, k, 2**64) for k in range(longest + 1)], dtype=np.uint64)
        codes, starts, ends, hashes = token_spans(" ".join(entries), powers)
        if len(starts) != len(entries):
            raise ValueError("vocabulary has a token that tokenize() would split")
        if len(np.unique(hashes)) != len(hashes) or np.any(hashes == HashIndex.EMPTY):
            log.warning("two vocabulary tokens share a hash; this model tokenizes with the slower regex path")
            return None
        return cls(
            features=features,
            powers=powers,
            entries=HashIndex(hashes),
            codes=codes,
            starts=starts,
            lengths=ends - starts,
            place_ids=found.place_ids,
            cues=found.cues,
        )

    def ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each kept token's id (0: unknown) and document, as NgramTable.regex_ids() gives them: the texts are
        tokenized as one, joined by spaces."""
        texts = [text.lower() for text in texts] if self.features.lowercase else list(texts)
        codes, starts, ends, hashes = token_spans(" ".join(texts), self.powers)
        lengths = ends - starts
        slot = self.entries.find(hashes)
        candidates = np.flatnonzero(slot >= 0)
        candidates = candidates[self.lengths[slot[candidates]] == lengths[candidates]]
        exact = candidates[:0]
        if len(candidates):  # compare each candidate with its entry, character by character
            sizes = lengths[candidates]
            firsts = np.cumsum(sizes) - sizes
            within = np.arange(firsts[-1] + sizes[-1]) - np.repeat(firsts, sizes)
            text_characters = codes[np.repeat(starts[candidates], sizes) + within]
            entry_characters = self.codes[np.repeat(self.starts[slot[candidates]], sizes) + within]
            exact = candidates[np.logical_and.reduceat(text_characters == entry_characters, firsts)]
        text_starts = np.cumsum([0, *(len(text) + 1 for text in texts[:-1])])
        documents = np.searchsorted(text_starts, starts, side="right") - 1
        entry = slot[exact]
        scoped = None
        if self.features.mark_negation:
            cue = np.zeros(len(starts), dtype=bool)
            cue[exact] = self.cues[entry]
            scoped = negation_scopes(codes, starts, ends, documents, cue)[exact]

        def ids_as(tail: bool) -> np.ndarray:
            """Each token's id where it stands (0 unless it matched an entry exactly)."""
            ids = np.zeros(len(starts), dtype=np.int64)
            plain = self.place_ids[tail, False][entry]
            ids[exact] = plain if scoped is None else np.where(scoped, self.place_ids[tail, True][entry], plain)
            return ids

        ids = ids_as(tail=False)
        kept = ids >= 0
        if not self.features.tail_sentences:
            return ids[kept], documents[kept]
        # tokenizer() gives each text's tokens, a stream break (id 0), then its tail's tokens.
        tail_ids = ids_as(tail=True)
        in_tail = in_last_sentences(codes, starts, ends, documents, self.features.tail_sentences) & (tail_ids >= 0)
        every_id = np.concatenate([ids[kept], np.zeros(len(texts), dtype=np.int64), tail_ids[in_tail]])
        owners = np.concatenate([documents[kept], np.arange(len(texts)), documents[in_tail]])
        order = np.argsort(owners, kind="stable")
        return every_id[order], owners[order]
