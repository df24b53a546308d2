"""The input side of a scoring job: which files, in what format, and each row's text or the reason it has none.

Every row comes out with the same columns: the kept id columns, `text` (a string, or null when the row is
rejected), `reason` (null, or why the row cannot be scored) and `input_file` (the file it came from). Rows are
judged in the JVM, before any Python runs, so a malformed row costs nothing but a line in the rejects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath as Path
from typing import TYPE_CHECKING, Any, Literal

from pipeline.batch.session import first_line, hadoop_conf, jvm
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

Format = Literal["auto", "csv", "jsonl", "parquet"]
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CORRUPT = "_corrupt_record"
RECORD = "_record"
TYPE_SAMPLE_ROWS = 10_000  # rows of a JSON input whose values decide a kept column's type


@dataclass(frozen=True)
class InputFiles:
    paths: tuple[str, ...]  # URIs, in a stable order
    names: tuple[str, ...]  # the file names: the input_file column and its partition values
    encoded: tuple[str, ...]  # the same names as Spark's _metadata.file_name gives them (URI-encoded)
    format: Format
    size: int  # bytes


def hadoop_uri(uri: str) -> str:
    """`s3://` is what people type and what EMR reads; open-source Hadoop reads S3 through its S3A connector."""
    return "s3a://" + uri[len("s3://") :] if uri.startswith("s3://") else uri


def _filesystem_error(uri: str, error: Exception, spark: SparkSession) -> PipelineError:
    text = str(error)
    if "S3AFileSystem not found" in text or 'No FileSystem for scheme "s3' in text:
        hadoop = jvm(spark).org.apache.hadoop.util.VersionInfo.getVersion()
        return PipelineError(
            f"{uri}: this Spark has no S3A connector; give it hadoop-aws {hadoop} and the AWS SDK bundle, e.g. "
            f"score.spark_conf {{spark.jars.packages: 'org.apache.hadoop:hadoop-aws:{hadoop}'}} (docs/scoring.md)"
        )
    return PipelineError(f"{uri}: {first_line(error)}")


def find_files(spark: SparkSession, uri: str, file_format: Format) -> InputFiles:
    """The files INPUT names: a file, a folder (every file under it but hidden ones: `_SUCCESS`, `.crc`) or a
    glob; on any filesystem Spark's Hadoop can open. None found, or names Spark cannot tell apart: one line."""
    java = jvm(spark)
    conf = hadoop_conf(spark)
    path = java.org.apache.hadoop.fs.Path(hadoop_uri(uri))
    try:
        filesystem = path.getFileSystem(conf)
        matches = filesystem.globStatus(path) or []
        statuses = []
        for status in matches:
            if status.isDirectory():
                listing = filesystem.listFiles(status.getPath(), True)
                while listing.hasNext():
                    statuses.append(listing.next())
            else:
                statuses.append(status)
    except Exception as error:  # Py4JJavaError: the JVM's exception is in its text
        raise _filesystem_error(uri, error, spark) from None
    files = sorted(
        (str(status.getPath().toUri().toString()), str(status.getPath().getName()), int(status.getLen()))
        for status in statuses
        if not str(status.getPath().getName()).startswith(("_", "."))
    )
    encoded = tuple(path.rsplit("/", 1)[-1] for path, _, _ in files)
    if not files:
        raise PipelineError(f"{uri}: no such file, or no files in it")
    names = [name for _, name, _ in files]
    if len(set(names)) < len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise PipelineError(f"{uri}: several files are named {', '.join(twice[:3])}; input file names must be unique")
    paths = tuple(path for path, _, _ in files)
    file_format = _format(uri, names, file_format)
    return InputFiles(paths, tuple(names), encoded, file_format, sum(size for *_, size in files))


def _format(uri: str, names: Sequence[str], file_format: Format) -> Format:
    if file_format != "auto":
        return file_format
    found: set[Format | None] = {SUFFIXES.get(Path(name).suffix.lower()) for name in names}
    if None in found or len(found) != 1:
        raise PipelineError(
            f"{uri}: cannot tell the format from the file names ({', '.join(names[:3])}); "
            f"name files *.csv, *.jsonl or *.parquet, or pass --format"
        )
    (only,) = found
    assert only is not None
    return only


def read_rows(spark: SparkSession, files: InputFiles, text_column: str, keep: Sequence[str]) -> DataFrame:
    """Every input row as (keep..., text, reason, input_file); see the module's docstring."""
    from pyspark.sql import functions as F

    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}
    try:
        rows, text, reason = readers[files.format](spark, files, text_column, keep)
    except PipelineError:
        raise
    except Exception as error:  # AnalysisException and friends: an unreadable file
        raise PipelineError(f"cannot read the input as {files.format}: {first_line(error)}") from None
    # Keyed by name, not path: Spark and Hadoop's listing spell a local path's URI differently (file:/ and file:///),
    # and names are unique (find_files). A map literal, not a join: one lookup per row, no shuffle or broadcast.
    pairs = [F.lit(value) for pair in zip(files.encoded, files.names, strict=True) for value in pair]
    input_file = F.create_map(*pairs)[F.col("_metadata.file_name")]
    columns = [*(F.col(f"`{name}`") for name in keep), text.alias("text"), reason.alias("reason")]
    return rows.select(*columns, input_file.alias("input_file"))


def _check_columns(found: Sequence[str], text_column: str, keep: Sequence[str], files: InputFiles) -> None:
    missing = [name for name in (text_column, *keep) if name not in found]
    if missing:
        raise PipelineError(
            f"{files.names[0]}{' and others' if len(files.names) > 1 else ''} has no column "
            f"{', '.join(repr(m) for m in missing)} (columns: {', '.join(found)}); "
            "name the text column with --text-column and id columns with --keep"
        )


def _text_reason(value: Column, blank_or_missing: Column | None = None) -> tuple[Column, Column]:
    """(text, reason) for a string column: null is missing, whitespace alone is empty (as the API's rule). The text
    stays on rejected rows too: the rejects show its start."""
    from pyspark.sql import functions as F

    reason = (
        F.when(value.isNull(), F.lit("missing text"))
        .when(value.rlike(r"^(?U)\s*$"), F.lit("empty text"))
        .otherwise(F.lit(None).cast("string"))
    )
    if blank_or_missing is not None:
        reason = F.when(blank_or_missing.isNotNull(), blank_or_missing).otherwise(reason)
    return value, reason


def _read_csv(spark: SparkSession, files: InputFiles, text_column: str, keep: Sequence[str]) -> Any:
    """Header row, every column a string (CSV has no types to keep), quoted fields may hold newlines (reviews do);
    a row Spark cannot parse against the header is set aside as malformed rather than guessed at."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    options = {"header": True, "multiLine": True, "escape": '"'}
    header = spark.read.options(**options).csv(list(files.paths)).schema
    _check_columns(header.names, text_column, keep, files)
    schema = header.add(CORRUPT, StringType())
    rows = (
        spark.read.options(**options, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
        .schema(schema)
        .csv(list(files.paths))
    )
    malformed = F.when(F.col(CORRUPT).isNotNull(), F.lit("malformed CSV row"))
    text, reason = _text_reason(F.col(f"`{text_column}`"), malformed)
    return rows, F.coalesce(F.col(CORRUPT), text), reason


def _read_jsonl(spark: SparkSession, files: InputFiles, text_column: str, keep: Sequence[str]) -> Any:
    """One JSON object per line, each read whole as a VARIANT: a text that is a number or a list is rejected by
    its JSON type, where a schema would have turned it into the string "42". Kept columns take the type their
    values have in the first TYPE_SAMPLE_ROWS rows."""
    from pyspark.sql import functions as F

    records = spark.read.option("singleVariantColumn", RECORD).json(list(files.paths))

    def path(name: str) -> str:
        return "$['" + name.replace("'", "\\'") + "']"

    record = F.col(RECORD)
    text_type = F.schema_of_variant(F.variant_get(record, path(text_column), "variant"))
    value = F.coalesce(
        F.try_variant_get(record, path(text_column), "string"),
        F.to_json(F.variant_get(record, path(text_column), "variant")),
    )
    bad = (
        F.when(record.isNull(), F.lit("malformed JSON line"))
        .when(text_type.isNull() | (text_type == "VOID"), F.lit("missing text"))
        .when(text_type != "STRING", F.concat(F.lit("text is "), text_type, F.lit(", not a string")))
    )
    text, reason = _text_reason(value, bad)
    kept = []
    if keep:
        sample = records.limit(TYPE_SAMPLE_ROWS).select(
            *(F.schema_of_variant_agg(F.variant_get(record, path(n), "variant")).alias(n) for n in keep)
        )
        types = sample.first()
        found = [n for n in keep if types is not None and types[n] not in (None, "VOID")]
        _check_columns([*found, text_column], text_column, keep, files)
        assert types is not None
        kept = [F.try_variant_get(record, path(n), types[n]).alias(n) for n in keep]
    rows = records.select(record, *kept, F.col("_metadata"))
    return rows, text, reason


def _read_parquet(spark: SparkSession, files: InputFiles, text_column: str, keep: Sequence[str]) -> Any:
    """Typed columns: a text column that is not a string rejects every row, naming its type."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    rows = spark.read.parquet(*files.paths)
    _check_columns(rows.columns, text_column, keep, files)
    field = rows.schema[text_column]
    if isinstance(field.dataType, StringType):
        text, reason = _text_reason(F.col(f"`{text_column}`"))
    else:
        text = F.lit(None).cast("string")
        reason = F.lit(f"text is {field.dataType.simpleString()}, not a string")
    return rows, text, reason
