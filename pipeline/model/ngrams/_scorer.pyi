"""Types of the compiled scorer (_scorer.pyx), for type checkers: the module itself has none."""

import numpy as np

def character_classes(size: int) -> np.ndarray: ...

class NgramScorer:
    columns: int
    def __init__(
        self,
        entries: list[str],
        place_ids: np.ndarray,
        cues: np.ndarray,
        keys: np.ndarray,
        base: int,
        ngram_range: tuple[int, int],
        negating: bool,
        tail_sentences: int,
    ) -> None: ...
    def set_weights(self, weights: np.ndarray) -> None: ...
    def scores(self, texts: list[str], intercept: float) -> np.ndarray: ...
    def explain(
        self, texts: list[str], intercept: float, top: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
    def cells(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]: ...
