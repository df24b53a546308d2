# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled hot path: raw texts to n-gram columns to scores, as the vectorized and reference paths do.

What it computes is specified by NgramFeatures.tokenizer() (the reference) and HashedTokenizer.ids() +
ngram_keys() (the numpy path); tests compare all three on every corpus review. Per text it scans the
characters once, classing each as `re` does for TOKEN_PATTERN (space, word, other: Py_UNICODE_ISSPACE and
Py_UNICODE_ISALNUM or "_", exactly sre's \\s and \\w), looks each token up among the vocabulary's entries
(by a 64-bit hash, then compared character by character, so a collision can never pick a wrong token),
marks negation scopes and the tail while walking the tokens, then packs n-gram keys from the token ids
(exact integers, never hashed) and probes one open-addressing table whose slots hold key, weight, column
and a per-text stamp in one 24-byte record: a repeated n-gram counts once without a sort. Keeping the
record together mattered most (separate key, weight and stamp arrays were 2.3x slower in the issue's
measurements).

An explanation (NgramScorer.explain) is that same pass, each text's top columns by |weight| picked as its score is
summed, so explaining costs little more than scoring.

The GIL is released while texts are scored, so a server's event loop keeps running beside a scoring
thread; one lock per scorer guards its stamps and scratch space.
"""

from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

import numpy as np

ctypedef fused character_t:
    uint8_t
    uint16_t
    uint32_t

cdef extern from *:
    """
    #if defined(__GNUC__)
    #define scorer_prefetch(address) __builtin_prefetch(address)
    #else
    #define scorer_prefetch(address)
    #endif
    """
    void scorer_prefetch(const void *address) nogil

cdef extern from "Python.h":
    int PyUnicode_KIND(object)
    void *PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void *data, Py_ssize_t index) nogil
    bint Py_UNICODE_ISSPACE(Py_UCS4) nogil
    bint Py_UNICODE_ISALNUM(Py_UCS4) nogil
    ctypedef void *PyThread_type_lock
    PyThread_type_lock PyThread_allocate_lock()
    void PyThread_free_lock(PyThread_type_lock)
    int PyThread_acquire_lock(PyThread_type_lock, int) nogil
    void PyThread_release_lock(PyThread_type_lock) nogil

# Classes as TOKEN_PATTERN sees them. A token is a run of WORD or a run of OTHER characters.
DEF SPACE = 0
DEF WORD = 1
DEF OTHER = 2
# Token flags: holds a CLAUSE_MARKS character (closes a negation scope), a SENTENCE_MARKS one (ends a sentence).
DEF CLAUSE = 1
DEF SENTENCE = 2

cdef uint64_t EMPTY = 0xFFFFFFFFFFFFFFFFULL  # never a key: n-gram keys are below 2**63
cdef uint64_t MULTIPLIER = 0x9E3779B97F4A7C15ULL  # hash_index.HASH_MULTIPLIER: spreads keys over slots
DEF PREFETCH = 12  # how many probes ahead a slot is fetched; 8 to 16 measured alike


cdef packed struct Slot:
    uint64_t key
    double weight
    uint32_t stamp  # the last text (by number) that counted this n-gram
    int32_t column


cdef struct Picking:
    # One text's distinct columns as the walk sums them (`offered` of them: weight and column), and its largest
    # contributions among them in rank order (explanation.top_features()): `held` positions of at most `top`;
    # `rest` sums the weights of the others.
    double *weights
    int32_t *columns
    Py_ssize_t offered
    Py_ssize_t *best
    Py_ssize_t top
    Py_ssize_t held
    double rest


cdef inline double magnitude(double weight) noexcept nogil:
    return weight if weight >= 0 else -weight


cdef inline bint ranks_above(const Picking *picking, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    """Larger |weight| first; equal ones by lower column, so every path shows the same n-grams."""
    cdef double mine = magnitude(picking.weights[i]), theirs = magnitude(picking.weights[j])
    return mine > theirs or (mine == theirs and picking.columns[i] < picking.columns[j])


cdef inline void pick(Picking *picking, Py_ssize_t i) noexcept nogil:
    """Offer column i to the top: insertion into a short sorted run (top is small)."""
    cdef Py_ssize_t j
    if picking.held == picking.top:
        if not ranks_above(picking, i, picking.best[picking.top - 1]):
            picking.rest += picking.weights[i]
            return
        picking.rest += picking.weights[picking.best[picking.top - 1]]  # the last of the top drops out
        picking.held -= 1
    j = picking.held
    while j > 0 and ranks_above(picking, i, picking.best[j - 1]):
        picking.best[j] = picking.best[j - 1]
        j -= 1
    picking.best[j] = i
    picking.held += 1


cdef void choose(Picking *picking) noexcept nogil:
    """The text's top among its offered columns. The walk copies each one's weight and column out of its slot
    as it sums the score, so this reads two short arrays in order, and once the top is full one comparison with
    a register refuses nearly every column (ranking slots by pointer after the walk cost ~9 ns a column)."""
    cdef Py_ssize_t i
    cdef double floor = 0.0, rest = 0.0, weight
    picking.held, picking.rest = 0, 0.0
    for i in range(picking.offered):
        weight = picking.weights[i]
        if picking.held == picking.top and magnitude(weight) < floor:
            rest += weight
            continue
        pick(picking, i)
        if picking.held == picking.top:
            floor = magnitude(picking.weights[picking.best[picking.top - 1]])
    picking.rest += rest


cdef uint8_t ASCII_CLASSES[128]
cdef uint8_t ASCII_MARKS[128]
cdef int _c
for _c in range(128):
    ASCII_CLASSES[_c] = (
        SPACE if _c == 32 or 9 <= _c <= 13 or 28 <= _c <= 31
        else WORD if 48 <= _c <= 57 or 65 <= _c <= 90 or 97 <= _c <= 122 or _c == 95
        else OTHER
    )
    ASCII_MARKS[_c] = CLAUSE | SENTENCE if chr(_c) in ".!?" else CLAUSE if chr(_c) in ",:;" else 0


cdef inline int character_class(Py_UCS4 c) noexcept nogil:
    if c < 128:
        return ASCII_CLASSES[c]
    if Py_UNICODE_ISSPACE(c):
        return SPACE
    if Py_UNICODE_ISALNUM(c):
        return WORD
    return OTHER


cdef inline int marks_of(Py_UCS4 c) noexcept nogil:
    """CLAUSE_MARKS ".,:;!?" and SENTENCE_MARKS ".!?": all ASCII."""
    return ASCII_MARKS[c] if c < 128 else 0


cdef inline uint64_t mixed(uint64_t h) noexcept nogil:
    # splitmix64's finalizer: FNV-1a alone leaves the low bits of short tokens poorly spread
    h ^= h >> 30
    h *= 0xBF58476D1CE4E5B9ULL
    h ^= h >> 27
    h *= 0x94D049BB133111EBULL
    h ^= h >> 31
    return h


cdef inline int grow(void **buffer, size_t size) noexcept nogil:
    """realloc into *buffer; -1 (the old buffer kept) when memory runs out."""
    cdef void *grown = realloc(buffer[0], size)
    if grown == NULL:
        return -1
    buffer[0] = grown
    return 0


def character_classes(Py_ssize_t size):
    """The class of each of the first `size` code points, as this module sees them (tests compare with `re`)."""
    classes = np.empty(size, dtype=np.uint8)
    cdef uint8_t[::1] view = classes
    cdef Py_ssize_t c
    for c in range(size):
        view[c] = character_class(<Py_UCS4>c)
    return classes


cdef class NgramScorer:
    """One vocabulary's compiled tokenizer, n-gram table and weights.

    entries: the vocabulary's tokens as written in a text (a token may stand for several ids: plain, in a
    negation scope, in the tail); place_ids[place, e] is entry e's id where it stands, place = 2 * in_tail
    + in_scope (-1: dropped, 0: unknown); cues[e] whether entry e opens a negation scope; keys[c] column c's
    n-gram key (token ids packed with `base`).
    """

    cdef uint32_t *entry_codes
    cdef int64_t *entry_starts
    cdef int64_t *entry_lengths
    cdef int32_t *entry_slots
    cdef uint64_t entry_mask
    cdef int64_t[:, ::1] place_ids
    cdef uint8_t[::1] cues
    cdef Slot *slots
    cdef uint64_t slot_mask
    cdef int slot_shift
    cdef int64_t base
    cdef int low, high, negating, tail_sentences
    cdef uint32_t stamp
    cdef PyThread_type_lock lock
    # per-call scratch, grown as texts need: each token's entry and flags, then the id stream
    cdef int32_t *token_entries
    cdef uint8_t *token_flags
    cdef int64_t *stream
    cdef uint64_t *keys  # the stream's n-gram keys, then each key's home slot
    cdef uint64_t *homes
    cdef double *distinct_weights  # explain(): each distinct column's weight and column, as the score sums them
    cdef int32_t *distinct_columns
    cdef Py_ssize_t capacity
    cdef readonly Py_ssize_t columns

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()

    def __init__(self, list entries, place_ids, cues, keys, int64_t base, tuple ngram_range,
                 bint negating, int tail_sentences):
        cdef Py_ssize_t count = len(entries), total = 0, e, i, size
        cdef uint64_t h
        cdef str entry
        cdef Py_UCS4 character
        self.place_ids = np.ascontiguousarray(place_ids, dtype=np.int64)
        self.cues = np.ascontiguousarray(cues, dtype=np.uint8)
        if self.place_ids.shape[0] != 4 or self.place_ids.shape[1] != count or self.cues.shape[0] != count:
            raise ValueError("place_ids must be 4 x entries and cues one per entry")
        self.base, self.low, self.high = base, ngram_range[0], ngram_range[1]
        self.negating, self.tail_sentences = negating, tail_sentences
        for entry in entries:
            total += PyUnicode_GET_LENGTH(entry)
        self.entry_codes = <uint32_t *>malloc(max(total, 1) * sizeof(uint32_t))
        self.entry_starts = <int64_t *>malloc(max(count, 1) * sizeof(int64_t))
        self.entry_lengths = <int64_t *>malloc(max(count, 1) * sizeof(int64_t))
        size = 16
        while size < 2 * count:
            size *= 2
        self.entry_mask = size - 1
        self.entry_slots = <int32_t *>malloc(size * sizeof(int32_t))
        if not (self.entry_codes and self.entry_starts and self.entry_lengths and self.entry_slots):
            raise MemoryError()
        for i in range(size):
            self.entry_slots[i] = -1
        total = 0
        for e in range(count):
            entry = entries[e]
            if len(entry) == 0 or character_class(entry[0]) == SPACE:
                raise ValueError(f"entry {entry!r} is not a token")
            self.entry_starts[e], self.entry_lengths[e] = total, len(entry)
            h = 0xCBF29CE484222325ULL
            for i in range(len(entry)):
                character = entry[i]
                self.entry_codes[total + i] = character
                if character_class(character) != character_class(entry[0]):
                    raise ValueError(f"entry {entry!r} is not one token")
                h = (h ^ <uint64_t>character) * 0x100000001B3ULL
            total += len(entry)
            i = mixed(h) & self.entry_mask
            while self.entry_slots[i] >= 0:
                if self._same(self.entry_slots[i], &self.entry_codes[self.entry_starts[e]], len(entry)):
                    raise ValueError(f"entry {entry!r} is listed twice")
                i = (i + 1) & self.entry_mask
            self.entry_slots[i] = e
        self._build_columns(np.ascontiguousarray(keys, dtype=np.int64))

    cdef void _build_columns(self, const int64_t[::1] keys) except *:
        cdef Py_ssize_t count = keys.shape[0], c
        cdef uint64_t size = 16, i
        cdef int bits = 4
        while size < 2 * <uint64_t>count:  # at most half full: probe chains stay short
            size *= 2
            bits += 1
        self.slot_mask, self.slot_shift, self.columns = size - 1, 64 - bits, count
        self.slots = <Slot *>malloc(size * sizeof(Slot))
        if not self.slots:
            raise MemoryError()
        for i in range(size):
            self.slots[i].key, self.slots[i].weight, self.slots[i].stamp, self.slots[i].column = EMPTY, 0.0, 0, -1
        for c in range(count):
            if keys[c] < 0:
                raise ValueError("n-gram keys are never negative")
            i = (<uint64_t>keys[c] * MULTIPLIER) >> self.slot_shift
            while self.slots[i].key != EMPTY:
                if self.slots[i].key == <uint64_t>keys[c]:
                    raise ValueError("vocabulary lists an n-gram twice")
                i = (i + 1) & self.slot_mask
            self.slots[i].key, self.slots[i].column = keys[c], c

    def __dealloc__(self):
        free(self.entry_codes)
        free(self.entry_starts)
        free(self.entry_lengths)
        free(self.entry_slots)
        free(self.slots)
        free(self.token_entries)
        free(self.token_flags)
        free(self.stream)
        free(self.keys)
        free(self.homes)
        free(self.distinct_weights)
        free(self.distinct_columns)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def set_weights(self, weights):
        """One weight per column, in column order; copied into the table's records."""
        cdef const double[::1] values = np.ascontiguousarray(weights, dtype=np.float64)
        cdef uint64_t i
        if values.shape[0] != self.columns:
            raise ValueError(f"{self.columns} columns but {values.shape[0]} weights")
        with nogil:
            PyThread_acquire_lock(self.lock, 1)
            for i in range(self.slot_mask + 1):
                if self.slots[i].column >= 0:
                    self.slots[i].weight = values[self.slots[i].column]
            PyThread_release_lock(self.lock)

    cdef bint _same(self, Py_ssize_t e, const uint32_t *codes, Py_ssize_t length) noexcept nogil:
        cdef Py_ssize_t k, start = self.entry_starts[e]
        if self.entry_lengths[e] != length:
            return False
        for k in range(length):
            if self.entry_codes[start + k] != codes[k]:
                return False
        return True

    cdef int _reserve(self, Py_ssize_t characters) noexcept nogil:
        """Scratch for a text of this many characters: at most that many tokens, twice that in the stream
        (text and tail), and at most 3x the stream in n-gram keys."""
        cdef Py_ssize_t tokens = characters + 1, stream = 2 * characters + 2, keys = 3 * stream
        if tokens <= self.capacity:
            return 0
        if (grow(<void **>&self.token_entries, tokens * sizeof(int32_t)) < 0
                or grow(<void **>&self.token_flags, tokens * sizeof(uint8_t)) < 0
                or grow(<void **>&self.stream, stream * sizeof(int64_t)) < 0
                or grow(<void **>&self.keys, keys * sizeof(uint64_t)) < 0
                or grow(<void **>&self.homes, keys * sizeof(uint64_t)) < 0
                or grow(<void **>&self.distinct_weights, keys * sizeof(double)) < 0
                or grow(<void **>&self.distinct_columns, keys * sizeof(int32_t)) < 0):
            return -1
        self.capacity = tokens
        return 0

    cdef Py_ssize_t _tokens(self, const character_t *data, Py_ssize_t length, uint32_t *codes) noexcept nogil:
        """Each token's entry (-1: none) and flags into the scratch arrays; the number of tokens. Specialized per
        string kind (1, 2 or 4 bytes a character), so the loop never asks which."""
        cdef Py_ssize_t i = 0, start, tokens = 0
        cdef Py_UCS4 c
        cdef int cls, flags
        cdef uint64_t h
        cdef int32_t slot, e
        while i < length:
            c = data[i]
            cls = character_class(c)
            if cls == SPACE:
                i += 1
                continue
            start, flags, h = i, 0, 0xCBF29CE484222325ULL
            while True:
                codes[i - start] = c
                flags |= marks_of(c)
                h = (h ^ <uint64_t>c) * 0x100000001B3ULL
                i += 1
                if i >= length:
                    break
                c = data[i]
                if character_class(c) != cls:
                    break
            slot = mixed(h) & self.entry_mask
            e = -1
            while self.entry_slots[slot] >= 0:
                if self._same(self.entry_slots[slot], codes, i - start):
                    e = self.entry_slots[slot]
                    break
                slot = (slot + 1) & self.entry_mask
            self.token_entries[tokens], self.token_flags[tokens] = e, flags
            tokens += 1
        return tokens

    cdef Py_ssize_t _ids(self, int kind, void *data, Py_ssize_t length, uint32_t *codes) noexcept nogil:
        """The text's kept token ids into self.stream (tokens, 0 as a stream break, the tail's); their count."""
        cdef Py_ssize_t tokens, t, kept = 0, tail_start = 0, ends_seen = 0
        cdef int32_t e
        cdef int64_t ident
        cdef bint negated = False, scoped
        # 1. tokens: runs of one class other than space, each looked up among the entries
        if kind == 1:
            tokens = self._tokens(<const uint8_t *>data, length, codes)
        elif kind == 2:
            tokens = self._tokens(<const uint16_t *>data, length, codes)
        else:
            tokens = self._tokens(<const uint32_t *>data, length, codes)
        # 2. scopes (features.negation_marked) and the plain stream; flags keep bit 4 for "in a scope"
        for t in range(tokens):
            e = self.token_entries[t]
            scoped = False
            if self.negating:
                if e >= 0 and self.cues[e]:
                    negated = True
                elif self.token_flags[t] & CLAUSE:
                    negated = False
                else:
                    scoped = negated
            if scoped:
                self.token_flags[t] |= 4
            ident = self.place_ids[1 if scoped else 0, e] if e >= 0 else 0
            if ident >= 0:
                self.stream[kept] = ident
                kept += 1
        if not self.tail_sentences:
            return kept
        # 3. the tail (features.last_sentences): after the tail_sentences-th last sentence end, not
        # counting a sentence end that is the text's final token
        self.stream[kept] = 0
        kept += 1
        t = tokens - 2
        while t >= 0:
            if self.token_flags[t] & SENTENCE:
                ends_seen += 1
                if ends_seen == self.tail_sentences:
                    tail_start = t + 1
                    break
            t -= 1
        for t in range(tail_start, tokens):
            e = self.token_entries[t]
            ident = self.place_ids[3 if self.token_flags[t] & 4 else 2, e] if e >= 0 else 0
            if ident >= 0:
                self.stream[kept] = ident
                kept += 1
        return kept

    cdef inline Slot *_find(self, uint64_t key, uint64_t i) noexcept nogil:
        """The slot holding `key`, probing from its home slot `i`, or NULL."""
        while True:
            if self.slots[i].key == key:
                return &self.slots[i]
            if self.slots[i].key == EMPTY:
                return NULL
            i = (i + 1) & self.slot_mask

    cdef void _next_stamp(self) noexcept nogil:
        cdef uint64_t i
        self.stamp += 1
        if self.stamp == 0:  # wrapped after 2**32 texts: forget every old stamp once
            for i in range(self.slot_mask + 1):
                self.slots[i].stamp = 0
            self.stamp = 1

    cdef int _walk(self, Py_ssize_t kept, double *score, int64_t document,
                   int64_t **cells, Py_ssize_t *used, Py_ssize_t *room, Picking *picking) noexcept nogil:
        """Each n-gram of the stream: adds a distinct column's weight to *score (and, with `picking`, copies its
        weight and column out for choose()), or appends every found (document, column) cell to *cells when cells
        is not NULL. -1 when memory runs out.

        All keys are packed first and probed after, each probe prefetching the slot PREFETCH keys ahead:
        the table is megabytes, so nearly every probe is a cache miss, and this overlaps them.
        """
        cdef int n
        cdef Py_ssize_t j, k, count = 0, q
        cdef uint64_t key
        cdef bint known
        cdef Slot *slot
        cdef void *grown
        cdef uint64_t *keys = self.keys
        cdef uint64_t *homes = self.homes
        # locals, not picking's fields: written through a pointer the compiler must assume may alias the slots,
        # they cost ~10 ns a column
        cdef double *weights = self.distinct_weights if picking != NULL else NULL
        cdef int32_t *columns = self.distinct_columns
        cdef Py_ssize_t offered = 0
        for n in range(self.low, self.high + 1):
            for j in range(0, kept - n + 1):
                key, known = 0, True
                for k in range(n):
                    if self.stream[j + k] <= 0:
                        known = False
                        break
                    key = key * <uint64_t>self.base + <uint64_t>self.stream[j + k]
                if known:
                    keys[count] = key
                    homes[count] = (key * MULTIPLIER) >> self.slot_shift
                    count += 1
        for q in range(min(count, PREFETCH)):
            scorer_prefetch(&self.slots[homes[q]])
        self._next_stamp()
        for q in range(count):
            if q + PREFETCH < count:
                scorer_prefetch(&self.slots[homes[q + PREFETCH]])
            slot = self._find(keys[q], homes[q])
            if slot == NULL:
                continue
            if cells == NULL:
                if slot.stamp != self.stamp:
                    slot.stamp = self.stamp
                    score[0] += slot.weight
                    if weights != NULL:
                        weights[offered], columns[offered] = slot.weight, slot.column
                        offered += 1
            else:
                if used[0] == room[0]:
                    grown = realloc(cells[0], 4 * room[0] * sizeof(int64_t))
                    if grown == NULL:
                        return -1
                    cells[0], room[0] = <int64_t *>grown, 2 * room[0]
                cells[0][2 * used[0]], cells[0][2 * used[0] + 1] = document, slot.column
                used[0] += 1
        if picking != NULL:
            picking.weights, picking.columns, picking.offered = weights, columns, offered
        return 0

    cdef object _run(self, list texts, double *scores, bint want_cells, Py_ssize_t top=0):
        """Scores into `scores`; or, with want_cells, every (document, column) cell; or, with top > 0, scores and
        each text's top columns too (see explain())."""
        cdef Py_ssize_t count = len(texts), d, longest = 0, kept, h
        cdef int *kinds = <int *>malloc(max(count, 1) * sizeof(int))
        cdef void **datas = <void **>malloc(max(count, 1) * sizeof(void *))
        cdef Py_ssize_t *lengths = <Py_ssize_t *>malloc(max(count, 1) * sizeof(Py_ssize_t))
        cdef uint32_t *codes = NULL
        cdef int64_t *cells = NULL
        cdef Py_ssize_t used = 0, room = 1024
        cdef int failed = 0
        cdef Picking picking
        cdef Picking *picks = NULL
        cdef void *grown
        cdef str text
        picking.best = NULL
        try:
            if kinds == NULL or datas == NULL or lengths == NULL:
                raise MemoryError()
            for d in range(count):
                text = texts[d]  # a TypeError here names what is not a str
                kinds[d], datas[d], lengths[d] = PyUnicode_KIND(text), PyUnicode_DATA(text), len(text)
                longest = max(longest, lengths[d])
            codes = <uint32_t *>malloc((longest + 1) * sizeof(uint32_t))
            if want_cells or top > 0:
                cells = <int64_t *>malloc(2 * room * sizeof(int64_t))
            if top > 0:  # a text has at most `columns` distinct columns, so no run needs more room
                picking.top = min(top, max(self.columns, 1))
                picking.best = <Py_ssize_t *>malloc(picking.top * sizeof(Py_ssize_t))
                picks = &picking
            if codes == NULL or ((want_cells or top > 0) and cells == NULL) or (top > 0 and picking.best == NULL):
                raise MemoryError()
            with nogil:  # `texts` holds every text, so their data stays put while the GIL is released
                PyThread_acquire_lock(self.lock, 1)
                if self._reserve(longest) < 0:
                    failed = 1
                else:
                    for d in range(count):
                        kept = self._ids(kinds[d], datas[d], lengths[d], codes)
                        if want_cells:
                            failed = self._walk(kept, NULL, d, &cells, &used, &room, NULL)
                        else:
                            scores[d] = 0.0
                            failed = self._walk(kept, &scores[d], d, NULL, NULL, NULL, picks)
                            if picks != NULL and not failed:
                                choose(picks)
                                # this text's top as (document, column) cells; Python reads their weights back
                                for h in range(picking.held):
                                    if used == room:
                                        grown = realloc(cells, 4 * room * sizeof(int64_t))
                                        if grown == NULL:
                                            failed = 1
                                            break
                                        cells, room = <int64_t *>grown, 2 * room
                                    cells[2 * used], cells[2 * used + 1] = d, picking.columns[picking.best[h]]
                                    used += 1
                                scores[count + d] = picking.rest
                        if failed:
                            break
                PyThread_release_lock(self.lock)
            if failed:
                raise MemoryError()
            if not want_cells and top <= 0:
                return None
            found = np.empty((used, 2), dtype=np.int64)
            if used:
                found.reshape(-1)[:] = <int64_t[:2 * used]>cells
            return found[:, 0].copy(), found[:, 1].copy()
        finally:
            free(kinds)
            free(datas)
            free(lengths)
            free(codes)
            free(cells)
            free(picking.best)

    def scores(self, list texts, double intercept):
        """intercept + the sum of each text's distinct columns' weights (binary weighting), one per text."""
        result = np.empty(len(texts), dtype=np.float64)
        cdef double[::1] view = result
        if len(texts):
            self._run(texts, &view[0], False)
        return result + intercept

    def explain(self, list texts, double intercept, Py_ssize_t top):
        """scores(), and what an explanation shows of each text: (scores, documents, columns, rest).

        Each text's `top` distinct columns by |weight| (equal ones by lower column: explanation.top_features(),
        the specification) come as (document, column) pairs, largest first, and `rest` sums the weights of the
        text's other columns. They are picked as the score is summed, from the same slots, so intercept + their
        weights + rest is that score up to summation order, and nothing per match leaves C.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}")
        both = np.empty(2 * len(texts), dtype=np.float64)  # the scores, then each text's rest
        cdef double[::1] view = both
        if not texts:
            return both, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), both
        documents, columns = self._run(texts, &view[0], False, top)
        return both[: len(texts)] + intercept, documents, columns, both[len(texts) :]

    def cells(self, list texts):
        """(document, column) of every occurrence of a vocabulary n-gram, as NgramTable.cells() gives them."""
        if not texts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return self._run(texts, NULL, True)

