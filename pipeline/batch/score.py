"""`sentiment score INPUT OUTPUT`: the champion over a corpus on Spark, as Parquet beside a rejects table.

OUTPUT holds one Parquet partition per input file (`input_file=NAME`) or per day (`scored_date=YYYY-MM-DD`), with
the kept id columns, `label`, `score` (the probability of `label`), `model`, `run_id` and `scored_at`. Rows that
cannot be scored go to OUTPUT/_rejects with the reason (readers of OUTPUT skip `_`-names, as Spark's own do).
A rerun replaces exactly the partitions this run owns, each swapped in whole by Spark's commit protocol (dynamic
partition overwrite), so a reader never sees half a partition and other inputs' partitions stay.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from pipeline.batch.inputs import Format, InputFiles, find_files, hadoop_uri, read_rows
from pipeline.batch.models import ResolvedModel, resolve_model
from pipeline.batch.session import first_line, hadoop_conf, jvm, spark_session
from pipeline.errors import PipelineError
from pipeline.files import write_json
from pipeline.labels import LABELS
from pipeline.params import Params

if TYPE_CHECKING:
    from pyspark import Accumulator
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

REJECTS = "_rejects"
SHOWN_CHARACTERS = 200  # of a rejected row's value, enough to find it


class ScoreParams(Params):
    """params.yaml `score:`; every key is also a `sentiment score` option, which wins."""

    # models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/PATH, an MLflow model folder or a saved model's folder
    model: str = "models:/movie-reviews-sentiment@champion"
    text_column: str = "text"
    keep: list[str] = Field(default_factory=list)  # id columns copied to the output
    format: Format = "auto"
    partition_by: Literal["input_file", "scored_date"] = "input_file"
    master: str = "local[*]"
    # local: the project's Arrow UDF in this environment; the others: mlflow.pyfunc.spark_udf builds the model's
    # logged environment on every node (for a cluster whose nodes lack this package).
    env_manager: Literal["local", "virtualenv", "uv", "conda"] = "local"
    spark_conf: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class ScoreSummary:
    rows: int
    scored: int
    rejected: int
    rejected_by_reason: dict[str, int]
    positive_share: float
    by_input: dict[str, int]
    model: str
    run_id: str | None
    seconds: float
    phase_seconds: dict[str, float]  # start (model, Spark, listing), scoring, rejects, summary: where the time went

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Phases:
    """Seconds per phase of the job, in order, each from the end of the one before."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.last = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(now - self.last, 3)
        self.last = now


def score(p: ScoreParams, input_uri: str, output_uri: str, summary: Path | None = None) -> ScoreSummary:
    """Score every row of INPUT into OUTPUT; see the module's docstring. Problems with the job itself (no input,
    an unknown model, no Java) are one PipelineError; problems with single rows are counted in the rejects."""
    clock = Phases()
    with tempfile.TemporaryDirectory(prefix="sentiment-score-") as scratch:
        if p.env_manager != "local" and "://" not in p.model and ":/" not in p.model:
            if not (Path(p.model) / "MLmodel").is_file():
                raise PipelineError(f"--env-manager {p.env_manager} needs an MLflow model, and {p.model} is not one")
        model = resolve_model(p.model, Path(scratch) / "model")
        log.info("model %s: %s (run %s)", p.model, model.name, model.run_id or "unknown")
        spark = spark_session(p.master, {**_s3_conf(input_uri, output_uri), **p.spark_conf})
        try:
            files = find_files(spark, input_uri, p.format)
            log.info("%d %s file(s), %.1f MB", len(files.paths), files.format, files.size / 1e6)
            clock.done("start")
            result = _run(spark, p, model, files, hadoop_uri(output_uri.rstrip("/")), clock)
        finally:
            spark.stop()
    _log_summary(result, output_uri)
    if summary is not None:
        write_json(summary, result.as_json())
    return result


def _run(
    spark: SparkSession, p: ScoreParams, model: ResolvedModel, files: InputFiles, output: str, clock: Phases
) -> ScoreSummary:
    from pyspark.sql import functions as F

    rows = read_rows(spark, files, p.text_column, p.keep)
    since_ms = int(jvm(spark).java.lang.System.currentTimeMillis())
    scored_at = datetime.now(UTC).replace(microsecond=0)
    stamp = [
        F.lit(model.name).alias("model"),
        F.lit(model.run_id).cast("string").alias("run_id"),
        F.lit(scored_at).alias("scored_at"),
    ]
    if p.partition_by == "scored_date":
        stamp.append(F.lit(scored_at.date()).alias("scored_date"))
    owned = list(files.names) if p.partition_by == "input_file" else [scored_at.date().isoformat()]

    if p.env_manager == "local":
        rejected_rows = spark.sparkContext.accumulator(0)
        scored = _arrow_scored(spark, rows, model, rejected_rows)
    else:
        rejected_rows = None
        scored = _mlflow_scored(rows.where(F.col("reason").isNull()).drop("reason"), model, p)
    _write(scored.select("*", *stamp), output, p.partition_by, "scoring")
    clock.done("scoring")
    if rejected_rows is None or rejected_rows.value:
        value = F.substring(F.coalesce(F.col("text"), F.lit("")), 1, SHOWN_CHARACTERS)
        rejected = rows.where(F.col("reason").isNotNull()).select(
            *(F.col(f"`{name}`") for name in p.keep), "input_file", "reason", value.alias("text_start"), *stamp
        )
        _write(rejected, f"{output}/{REJECTS}", p.partition_by, "rejects")
    _clear_stale(spark, output, p.partition_by, owned, since_ms)
    clock.done("rejects")
    return _summarize(spark, output, p.partition_by, owned, model, clock)


def _arrow_scored(spark: SparkSession, rows: DataFrame, model: ResolvedModel, rejected: Accumulator[int]) -> DataFrame:
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    from pipeline.batch.udf import ArrowScorer

    spark.sparkContext.addFile(str(model.model_dir), recursive=True)
    schema = StructType(
        [f for f in rows.schema.fields if f.name not in ("text", "reason")]
        + [StructField("label", StringType()), StructField("score", DoubleType())]
    )
    return rows.mapInArrow(ArrowScorer(model.model_dir.name, rejected), schema)


def _mlflow_scored(accepted: DataFrame, model: ResolvedModel, p: ScoreParams) -> DataFrame:
    """The same columns through mlflow.pyfunc.spark_udf, which builds the model's logged environment on each node."""
    import mlflow
    from pyspark.sql import functions as F

    if model.mlflow_dir is None:
        raise PipelineError(f"--env-manager {p.env_manager} needs an MLflow model, and {p.model} is not one")
    # Under `uv run` (or `python -m uv run`), uv tells child processes its parent interpreter, and the `uv pip
    # install` MLflow runs inside the new environment then installed into that interpreter instead: the model's
    # environment came up without mlflow ("No module named 'mlflow'"). The new environment is its own.
    os.environ.pop("UV_INTERNAL__PARENT_INTERPRETER", None)
    try:
        probabilities = mlflow.pyfunc.spark_udf(
            accepted.sparkSession,
            str(model.mlflow_dir),
            result_type="label string, negative double, positive double",
            env_manager=p.env_manager,
        )
    except Exception as error:  # MLflow's ShellCommandException and friends: the environment could not be built
        raise PipelineError(f"--env-manager {p.env_manager}: the model's environment: {first_line(error)}") from None
    answer: Any = probabilities(F.col("text"))  # a struct Column; pyspark types a UDF's result loosely
    label_score = F.when(answer["label"] == LABELS[1], answer[LABELS[1]]).otherwise(answer[LABELS[0]])
    kept = [F.col(f"`{name}`") for name in accepted.columns if name != "text"]
    return accepted.select(*kept, answer["label"].alias("label"), label_score.alias("score"))


def _write(frame: DataFrame, uri: str, partition_by: str, what: str) -> None:
    log.info("writing %s to %s", what, uri)
    try:
        frame.write.mode("overwrite").partitionBy(partition_by).parquet(uri)
    except Exception as error:
        # Spark's text for a failed job is pages of JVM and Python stack: the line names it, -v logs it whole.
        log.debug("writing %s failed", uri, exc_info=True)
        reason = first_line(error)
        raise PipelineError(f"writing {uri} failed: {reason} (`sentiment -v score ...` logs all of it)") from None


def _clear_stale(spark: SparkSession, output: str, partition_by: str, owned: Sequence[str], since_ms: int) -> None:
    """A partition this run owns but wrote no row to (every row of a file rejected; no rejects this time) still
    holds an earlier run's rows: removed, so OUTPUT says what this run found. "Wrote" means holds a file no older
    than the run (the filesystem's clock, read through the same JVM)."""
    java = jvm(spark)
    conf = hadoop_conf(spark)
    escape = java.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils.escapePathName
    for root in (output, f"{output}/{REJECTS}"):
        base = java.org.apache.hadoop.fs.Path(root)
        filesystem = base.getFileSystem(conf)
        for value in owned:
            partition = java.org.apache.hadoop.fs.Path(base, f"{partition_by}={escape(value)}")
            if not filesystem.exists(partition):
                continue
            times = [status.getModificationTime() for status in filesystem.listStatus(partition)]
            if not any(t >= since_ms for t in times):
                log.info("removing %s: this run wrote nothing there", partition.toString())
                filesystem.delete(partition, True)


def _summarize(
    spark: SparkSession, output: str, partition_by: str, owned: Sequence[str], model: ResolvedModel, clock: Phases
) -> ScoreSummary:
    """Counts read back from what was written (Parquet footers and one small column), never from the input."""
    from pyspark.sql import functions as F

    def read(uri: str) -> DataFrame | None:
        try:
            return spark.read.parquet(uri).where(F.col(partition_by).cast("string").isin(list(owned)))
        except Exception:  # nothing written there (no rejects, ever)
            return None

    by_input: dict[str, int] = {}
    scored, positive = 0, 0
    written = read(output)
    if written is not None:
        counts = written.groupBy("input_file").agg(
            F.count(F.lit(1)).alias("rows"), F.sum((F.col("label") == LABELS[1]).cast("long")).alias("positive")
        )
        for row in counts.collect():
            by_input[row["input_file"]] = int(row["rows"])
            scored += int(row["rows"])
            positive += int(row["positive"] or 0)
    reasons: dict[str, int] = {}
    rejects = read(f"{output}/{REJECTS}")
    if rejects is not None:
        reasons = {row["reason"]: int(row["count"]) for row in rejects.groupBy("reason").count().collect()}
    rejected = sum(reasons.values())
    clock.done("summary")
    return ScoreSummary(
        rows=scored + rejected,
        scored=scored,
        rejected=rejected,
        rejected_by_reason=dict(sorted(reasons.items())),
        positive_share=positive / scored if scored else 0.0,
        by_input=dict(sorted(by_input.items())),
        model=model.name,
        run_id=model.run_id,
        seconds=round(sum(clock.phases.values()), 3),
        phase_seconds=clock.phases,
    )


def _log_summary(result: ScoreSummary, output: str) -> None:
    for name, count in result.by_input.items():
        log.info("%s: %d scored", name, count)
    for reason, count in result.rejected_by_reason.items():
        log.info("rejected %d: %s", count, reason)
    log.info(
        "scored %d of %d rows (%.1f%% positive) with %s in %.1f s (%.0f rows/s); rejects: %d, in %s/%s",
        result.scored,
        result.rows,
        100 * result.positive_share,
        result.model,
        result.seconds,
        result.rows / result.seconds if result.seconds else 0,
        result.rejected,
        output.rstrip("/"),
        REJECTS,
    )


def _s3_conf(*uris: str) -> dict[str, str]:
    """S3A settings from the standard AWS environment when a URI is on S3: credentials from the AWS chain, and an
    endpoint (a moto server, MinIO, a VPC endpoint) from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, path-style."""
    if not any(uri.startswith(("s3://", "s3a://")) for uri in uris):
        return {}
    conf = {
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
        )
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf
