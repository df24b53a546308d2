"""What runs in Spark's Python workers: Arrow batches of texts in, the label and its probability out.

The model is the service's own (pipeline.model.load, the compiled scorer when built), loaded once per Python
worker process and kept for every later task (Spark reuses its Python workers), never once per batch. Labels
and scores come from pipeline.serving.rules.label_scores, what `/predict_batch` answers with, so a review gets
the same answer online and offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.model import SentimentModel, load
from pipeline.serving.rules import label_scores

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Accumulator

_LOADED: dict[str, SentimentModel] = {}


def loaded(directory: str) -> SentimentModel:
    """The model saved in `directory`, loaded on this process's first call for it."""
    model = _LOADED.get(directory)
    if model is None:
        model = _LOADED[directory] = load(Path(directory))
    return model


class ArrowScorer:
    """The function given to DataFrame.mapInArrow: rows with a null `reason` are scored, every column but `text`
    and `reason` passes through, and `label`, `score` follow. Rows with a reason are only counted (`rejected`, a
    Spark accumulator): the job writes them to the rejects in a second pass over the input, run only when this
    count says there are any, so a clean corpus is read once (at 1M reviews the second pass cost 12 % of the job).

    `model_file` is the name the model folder was shipped under (SparkContext.addFile): each executor, local or
    on a cluster, finds its own copy with SparkFiles.get.
    """

    def __init__(self, model_file: str, rejected: Accumulator[int]) -> None:
        self.model_file = model_file
        self.rejected = rejected

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        from pyspark import SparkFiles

        model = loaded(SparkFiles.get(self.model_file))
        for batch in batches:
            reasons = batch.column(batch.schema.get_field_index("reason"))
            if reasons.null_count < batch.num_rows:
                self.rejected.add(batch.num_rows - reasons.null_count)
                batch = batch.filter(reasons.is_null())
            texts = batch.column(batch.schema.get_field_index("text")).to_pylist()
            labels, scores = label_scores(model, texts)
            kept = [name for name in batch.schema.names if name not in ("text", "reason")]
            yield pa.RecordBatch.from_arrays(
                [*(batch.column(batch.schema.get_field_index(n)) for n in kept), pa.array(labels), pa.array(scores)],
                names=[*kept, "label", "score"],
            )
