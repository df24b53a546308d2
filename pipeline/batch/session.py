"""The Spark session: embedded (`local[*]`) by default, a cluster by master URL; the checks that fail in one line."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

APP_NAME = "sentiment-score"

# An embedded session serves nobody: its driver and block manager listen on loopback only, and its web UI (which
# binds every interface) is off unless spark_conf turns it on. Output timestamps are UTC whatever the machine says.
LOCAL_DEFAULTS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
}
DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    # Partition values are file names and dates, read back as the strings they were written as.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    # Spark's own stage progress bar on the console: the progress of a long job.
    "spark.ui.showConsoleProgress": "true",
    # Only the partitions this run writes are replaced; other inputs' partitions under OUTPUT stay.
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # Arrow batches of at most this many rows reach the scorer: ~20 MB of 700-word reviews, a bounded worker.
    "spark.sql.execution.arrow.maxRecordsPerBatch": "5000",
}


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def java_available() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        return os.path.exists(os.path.join(java_home, "bin", "java"))
    return shutil.which("java") is not None


def spark_session(master: str, conf: Mapping[str, str]) -> SparkSession:
    """A SparkSession for `master`, or a PipelineError naming what is missing (pyspark, Java).

    On a local master the Python workers run this interpreter (PYSPARK_PYTHON, unless set): Spark's default is
    `python3` from PATH, which is not the environment that has pandas, pyarrow and this package. On a cluster
    the nodes' interpreter is the cluster's business (spark.pyspark.python in spark_conf, or the nodes' PATH).
    """
    # pyspark 4.3 warns on every pandas-based call that pandas >= 3 is "not yet fully supported"; the Arrow path
    # used here is tested with pandas 3 (tests/e2e/test_score.py), so the warning would only bury the progress lines.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise PipelineError(
            "pyspark is not installed: install the `spark` extra (pip install 'sentiment-pipeline[spark]', "
            "or `uv sync`, whose dev group includes it)"
        ) from None
    if not java_available():
        raise PipelineError(
            "Java was not found (JAVA_HOME or `java` on PATH): Spark needs a Java 17 or 21 runtime, "
            "e.g. Debian's openjdk-17-jre-headless"
        )
    if is_local(master):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {**(LOCAL_DEFAULTS if is_local(master) else {}), **DEFAULTS, **conf}
    builder = SparkSession.builder.master(master).appName(APP_NAME)
    for key, value in settings.items():
        builder = builder.config(key, value)
    log.info("starting Spark (master %s)", master)
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # py4j and the JVM launcher raise plain exceptions with the reason in the text
        raise PipelineError(f"Spark did not start on master {master}: {first_line(error)}") from None
    spark.sparkContext.setLogLevel("WARN")
    return spark


def jvm(spark: SparkSession) -> Any:
    """The driver's JVM through py4j (untyped): Hadoop's FileSystem API, one code path for local, HDFS and S3A."""
    return spark.sparkContext._jvm


def hadoop_conf(spark: SparkSession) -> Any:
    return spark.sparkContext._jsc.hadoopConfiguration()  # pyright: ignore[reportOptionalMemberAccess, reportOptionalCall]


def first_line(error: BaseException) -> str:
    """The reason in a JVM error's text, without py4j's preamble ("An error occurred while calling o75.x.") and the
    Java stack that follows: "java.io.FileNotFoundException: ..." becomes "FileNotFoundException: ..."."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("An error occurred while calling")]
    if not lines:
        return type(error).__name__
    reason = lines[0].lstrip(": ")
    return reason.rsplit(".", 1)[-1] if reason.startswith(("java.", "org.")) and ":" not in reason else reason
