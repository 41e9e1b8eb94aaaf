"""Spark sessions and the JVM side of the connector.

Job code uses ``s3://`` URIs only; the mapping of ``s3://`` to the Hadoop S3A connector (and the
local endpoints) lives here, in the local session factory. On EMR the session comes from
``spark-submit`` as it is (EMRFS serves ``s3://``, the connector is on the classpath).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from ddbpipe import failures, interrupts
from ddbpipe.aws import AwsConfig, frozen_credentials
from ddbpipe.capacity import READER_JAR
from ddbpipe.errors import ConfigError, DdbpipeError, JobFailed
from ddbpipe.home import project_root

#: Jars that must come before Spark's own copies (Spark 3.5 ships gson 2.2.4; the connector
#: needs >= 2.8). Everything else goes on spark.jars.
_PREPEND = re.compile(r"^gson-.*\.jar$")
log = logging.getLogger(__name__)
T = TypeVar("T")


#: Heap of the local Spark JVM (driver and executor in one), at least: Spark's own default. Above
#: it, what its tasks may hold: the export's reader bounds each task's buffer
#: (capacity.READ_BUFFER_BYTES), so the heap is sized as an EMR executor's of as many tasks as
#: the master runs (cluster/executors.py); the connector's own reader needed 4g on 2 cores.
MIN_DRIVER_MEMORY_MB = 1024


def local_tasks(master: str) -> int:
    """The tasks a local master runs at once: ``local[N]``, ``local[*]`` (the machine's cores),
    ``local``; 1 for anything else."""
    m = re.match(r"^local(?:\[(\d+|\*)(?:,\d+)?\])?$", master)
    if not m or m.group(1) is None:
        return 1
    if m.group(1) == "*":
        return os.cpu_count() or 1
    return max(1, int(m.group(1)))


def default_driver_memory(master: str) -> str:
    """The local JVM's heap for ``master``: its tasks' read buffers and Spark's own share, at
    least :data:`MIN_DRIVER_MEMORY_MB` (1g on a 2-core machine)."""
    from ddbpipe.cluster.executors import executor_heap_mb

    return f"{max(MIN_DRIVER_MEMORY_MB, executor_heap_mb(local_tasks(master)))}m"


#: A JVM heap size as ``-Xmx`` takes it: a number of bytes, or of k, m, g or t.
_HEAP_SIZE = re.compile(r"^([1-9]\d*)([kKmMgGtT]?)$")
_UNIT_BYTES = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def driver_memory(master: str) -> str:
    """The local JVM's heap: ``DDBPIPE_DRIVER_MEMORY`` if set (checked), else
    :func:`default_driver_memory`."""
    value = os.environ.get("DDBPIPE_DRIVER_MEMORY", "").strip()
    if not value:
        return default_driver_memory(master)
    if not _HEAP_SIZE.match(value):
        raise ConfigError(
            f"DDBPIPE_DRIVER_MEMORY={value} is not a JVM heap size.",
            "Give a number with k, m or g (e.g. DDBPIPE_DRIVER_MEMORY=2g), or unset it for "
            "ddbpipe's default (the tasks' read buffers).")
    return value


def heap_mb(size: str) -> int:
    """MiB in a JVM heap size such as :func:`driver_memory` returns (rounded down)."""
    m = _HEAP_SIZE.match(size)
    if not m:
        raise ValueError(f"not a JVM heap size: {size}")
    return int(m.group(1)) * _UNIT_BYTES[m.group(2).lower()] // 2**20


def driver_java_options(master: str, memory: str, verbose: bool) -> str:
    """``spark.driver.extraJavaOptions`` of a local session: with a local master the JVM runs
    the tasks, so it commits and touches its heap ``memory`` at start, with a fixed young
    generation, as an EMR executor does
    (:func:`ddbpipe.cluster.executors.heap_java_options`); without ``verbose``, Spark's quiet
    logging."""
    from ddbpipe.cluster.executors import heap_java_options

    options = []
    if master == "local" or master.startswith("local["):
        options.append(heap_java_options(heap_mb(memory), local_tasks(master)))
    if not verbose:
        options.append(f"-Dlog4j2.configurationFile={QUIET_LOG4J.as_uri()}")
    return " ".join(options)


def jars_dir() -> Path:
    env = os.environ.get("DDBPIPE_JARS")
    return Path(env) if env else project_root() / ".cache/jars"


def local_jars() -> tuple[list[str], list[str]]:
    """(jars for spark.jars, jars to prepend to the driver class path)."""
    folder = jars_dir()
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    for needed, what in (("emr-dynamodb-hadoop", "emr-dynamodb-connector jar"),
                         (READER_JAR, f"{READER_JAR} (ddbpipe's input format, built from jvm/)")):
        if not any(needed in Path(j).name for j in jars):
            raise ConfigError(
                f"The {what} is not in {folder}.",
                "Run `make setup` (it resolves the jars from Maven Central and builds jvm/ into "
                ".cache/jars), or point DDBPIPE_JARS at a folder holding them.",
            )
    first = [j for j in jars if _PREPEND.match(Path(j).name)]
    rest = [j for j in jars if j not in first]
    return rest, first


#: Jars a local session puts on the driver's class path instead of ``spark.jars``: S3A and the
#: AWS SDK bundle it needs (~280 MB, shaded: nothing in it shadows Spark's own classes).
_LOCAL_CLASS_PATH = re.compile(r"^(aws-java-sdk-bundle|hadoop-aws)-.*\.jar$")


def session_jars(master: str) -> tuple[list[str], list[str]]:
    """(``spark.jars``, the driver's class path prefix) of a session on ``master``.

    A local session's tasks run in the driver's JVM, which copies every jar of ``spark.jars``
    into a spark-*/userFiles folder of the temporary folder at its first task; a clean exit
    deletes it, a killed run leaves it behind (a day of test runs filled this machine's disk).
    Locally the AWS SDK bundle (~280 MB of the ~300) and S3A go on the class path instead. Not
    every jar can: the connector's jar carries an older commons-lang3, which ahead of Spark's
    own stops Spark from starting. Cluster masters ship every jar to their executors."""
    rest, first = local_jars()
    if master.startswith("local"):
        moved = [j for j in rest if _LOCAL_CLASS_PATH.match(Path(j).name)]
        first, rest = first + moved, [j for j in rest if j not in moved]
    return rest, first


def submit_args(master: str) -> list[str]:
    """The spark-submit flags that put the connector and S3A on the class path of a Spark on
    ``master`` run from this machine (see :func:`session_jars`)."""
    rest, first = session_jars(master)
    return ["--master", master, "--jars", ",".join(rest), "--driver-class-path", ":".join(first)]


def s3a_conf(aws: AwsConfig) -> dict[str, str]:
    """Hadoop settings that make ``s3://`` URIs work locally through S3A."""
    conf = {
        "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.endpoint.region": aws.region,
        "fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider,"
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider,"
            "com.amazonaws.auth.EnvironmentVariableCredentialsProvider,"
            "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"
        ),
    }
    endpoint = aws.endpoint("s3")
    if endpoint:
        conf["fs.s3a.endpoint"] = endpoint
        conf["fs.s3a.path.style.access"] = "true"
        conf["fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    return conf


#: Spark's own logging for local runs without -v: errors only, and not the task failures that
#: ddbpipe reports itself as one line (ddbpipe.failures).
QUIET_LOG4J = Path(__file__).with_name("log4j2-quiet.properties")


def local_session(aws: AwsConfig, app_name: str, master: Optional[str] = None,
                  verbose: bool = True) -> Any:
    """A local SparkSession with the connector, S3A and the local endpoints configured;
    without ``verbose``, Spark logs only what ddbpipe does not say itself."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", _python())
    from pyspark.sql import SparkSession

    master = master or os.environ.get("DDBPIPE_SPARK_MASTER") or "local[*]"
    rest, first = session_jars(master)
    memory = driver_memory(master)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars", ",".join(rest))
        .config("spark.driver.extraClassPath", ":".join(first))
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
    )
    java_options = driver_java_options(master, memory, verbose)
    if java_options:
        builder = builder.config("spark.driver.extraJavaOptions", java_options)
    spark = builder.getOrCreate()
    if verbose or "DDBPIPE_SPARK_LOG_LEVEL" in os.environ:
        spark.sparkContext.setLogLevel(os.environ.get("DDBPIPE_SPARK_LOG_LEVEL", "WARN"))
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3a_conf(aws).items():
        hconf.set(key, value)
    creds = frozen_credentials(aws)
    if creds:  # in memory only: never in argv, SparkConf or logs
        hconf.set("fs.s3a.access.key", creds[0])
        hconf.set("fs.s3a.secret.key", creds[1])
        if creds[2]:
            hconf.set("fs.s3a.session.token", creds[2])
    return spark


def _python() -> str:
    import sys

    return sys.executable


def is_yarn(spark: Any) -> bool:
    return str(spark.sparkContext.master).startswith("yarn")


def is_local(spark: Any) -> bool:
    return str(spark.sparkContext.master).startswith("local")


def default_parallelism(spark: Any) -> int:
    return int(spark.sparkContext.defaultParallelism)


def jvm_class(spark: Any, name: str) -> Any:
    """A JVM class object loaded with the loader that sees ``spark.jars``."""
    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        return jvm.java.lang.Class.forName(name, True, loader)
    except Exception as err:
        raise ConfigError(
            f"Class {name} is not on Spark's classpath.",
            "Locally run `make setup` and use `ddbpipe export` (or spark-submit with "
            "`ddbpipe-submit-args`); on EMR the connector is in /usr/share/aws/emr/ddb/lib/.",
        ) from err


def connector_items(spark: Any, conf: dict[str, str], tasks: int) -> Any:
    """The connector's scan as a JVM RDD of items (``DynamoDBItemWritable``), ``tasks`` splits.

    ``conf`` is the connector's Hadoop configuration (:func:`ddbpipe.capacity.read_conf`). The
    items stay in the JVM: PySpark cannot unpickle them (decisions.md), so callers pipe them or
    save them from there.
    """
    from ddbpipe import capacity

    sc = spark.sparkContext
    jconf = sc._jvm.org.apache.hadoop.mapred.JobConf(sc._jsc.hadoopConfiguration())
    for key, value in conf.items():
        jconf.set(key, value)
    return sc._jsc.hadoopRDD(
        jconf,
        jvm_class(spark, os.environ.get("DDBPIPE_INPUT_FORMAT") or capacity.INPUT_FORMAT),
        jvm_class(spark, "org.apache.hadoop.io.Text"),
        jvm_class(spark, capacity.ITEM_WRITABLE),
        tasks,
    ).values()


def java_list(spark: Any, values: list[str]) -> Any:
    jlist = spark.sparkContext._jvm.java.util.ArrayList()
    for v in values:
        jlist.add(v)
    return jlist


def java_map(spark: Any, values: dict[str, str]) -> Any:
    jmap = spark.sparkContext._jvm.java.util.HashMap()
    for k, v in values.items():
        jmap.put(k, v)
    return jmap


def cancel_jobs() -> None:
    """Cancel every job of the active SparkContext (if there is one)."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is not None:
        sc.cancelAllJobs()


def collect(what: str, job: Callable[[], list[T]]) -> list[T]:
    """Run a Spark job; its failure reaches the caller as one ddbpipe error.

    A task that failed for a reason ddbpipe knows sent it along (:mod:`ddbpipe.failures`);
    anything else is told by its innermost Java exception. The traces are logged at debug level
    (``-v``)."""
    try:
        return job()
    except DdbpipeError:
        raise
    except Exception as err:
        log.debug("%s failed", what, exc_info=True)
        interrupts.check()
        known = failures.from_spark(err)
        if known is not None:
            raise known from err
        raise job_failed(what, err) from err


def each_partition(spark: Any, what: str, jrdd: Any, partitions: list[int],
                   done: Callable[[int, list[str]], None], at_once: int) -> None:
    """Compute the ``partitions`` of a JVM RDD of strings, each as a Spark job of its own (up to
    ``at_once`` at a time, from driver threads), calling ``done(partition, lines)`` in the
    driver as each one returns: what a run that can be resumed needs to record its progress
    partition by partition. The first failure cancels the rest and is raised (as :func:`collect`
    raises it); so is a signal (:class:`~ddbpipe.interrupts.Stop`)."""
    import threading
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    sc = spark.sparkContext
    stopping = threading.Event()

    def one(partition: int) -> None:
        if stopping.is_set():
            return
        ids = sc._gateway.new_array(sc._jvm.int, 1)
        ids[0] = partition
        lines = collect(what, lambda: [str(x) for x in jrdd.collectPartitions(ids)[0]])
        done(partition, lines)

    if not partitions:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(at_once, len(partitions))),
                              thread_name_prefix="ddbpipe-split")
    futures = [pool.submit(one, p) for p in partitions]
    try:
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in finished if f.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
    except BaseException:
        stopping.set()
        for f in futures:
            f.cancel()
        # A thread may submit its job just after a cancel: cancel until every thread is back.
        while not all(f.done() for f in futures):
            cancel_jobs()
            wait(futures, timeout=0.5)
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)


def root_cause(err: BaseException) -> str:
    """The innermost Java exception message of a Py4J error, else ``str(err)``."""
    java = getattr(err, "java_exception", None)
    if java is None:
        return str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    cause = java
    while cause.getCause() is not None and cause.getCause() != cause:
        cause = cause.getCause()
    return f"{cause.getClass().getName()}: {cause.getMessage()}"


def job_failed(what: str, err: BaseException) -> JobFailed:
    return JobFailed(f"{what} failed: {root_cause(err)}.",
                     "Run it again with -v for the Spark and Python traces.")
