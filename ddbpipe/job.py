"""What the export and import jobs share: their spark-submit entry point and their local command.

A job is argv -> frozen config -> ``run(spark, cfg)``, which returns its results; printing them is
the entry point's job (:func:`print_summary`, handed to ``run`` as its ``report``). Under
``spark-submit`` (an EMR step) the session comes as it is; ``ddbpipe export|import`` first runs
the job's preflight checks (a second, no Spark), then starts a local session with the connector,
S3A and the endpoints.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Sequence

from ddbpipe.aws import AwsConfig, add_aws_options, resolve
from ddbpipe.errors import DdbpipeError, one_line
from ddbpipe.interrupts import trapped


class Summarized(Protocol):
    def summary(self) -> str: ...


#: What a job's ``run`` hands each result to when it is final (a table exported, an import
#: finished), before it goes on or raises.
Report = Callable[[Summarized], None]


def print_summary(result: Summarized) -> None:
    """The entry points' report: the result's summary line on stdout."""
    print(result.summary(), flush=True)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    add_options: Callable[[argparse.ArgumentParser], None]
    config_from_args: Callable[[argparse.Namespace, AwsConfig], Any]
    preflight: Callable[[Any], Any]
    #: ``run(spark, cfg, checked, report)``: ``checked`` is what ``preflight(cfg)`` returned, or
    #: None for run to do the checks itself; ``report`` receives each final result.
    run: Callable[[Any, Any, Any, Report], Any]

    def main(self, argv: Optional[Sequence[str]] = None, spark: Any = None) -> int:
        """Entry point of ``jobs/<name>_table.py`` (``spark-submit``, an EMR step)."""
        return submit_main(self, argv, spark)

    def parser(self, prog: str) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=prog, description=self.description)
        self.add_options(parser)
        add_aws_options(parser)
        return parser


def submit_main(job: Job, argv: Optional[Sequence[str]] = None, spark: Any = None) -> int:
    """Entry point of ``jobs/<job>.py`` under ``spark-submit``: one-line errors, exit codes."""
    args = job.parser(f"{job.name}_table.py").parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        aws = resolve(args.region, args.endpoint_url, args.profile)
        cfg = job.config_from_args(args, aws)
        if spark is None:
            from pyspark.sql import SparkSession

            from ddbpipe.spark import is_local, s3a_conf

            spark = SparkSession.builder.appName(f"ddbpipe-{job.name}").getOrCreate()
            if is_local(spark):  # EMR serves s3:// itself; a local spark-submit needs S3A
                hconf = spark.sparkContext._jsc.hadoopConfiguration()
                for key, value in s3a_conf(aws).items():
                    hconf.set(key, value)
        _run_trapped(job, spark, cfg, None)
        return 0
    except DdbpipeError as err:
        print(one_line(err), file=sys.stderr)
        return err.exit_code


def _run_trapped(job: Job, spark: Any, cfg: Any, checked: Any) -> Any:
    """``job.run`` with Ctrl-C and SIGTERM cancelling its Spark jobs (see ddbpipe.interrupts)."""
    from ddbpipe.spark import cancel_jobs

    with trapped(cancel_jobs):
        return job.run(spark, cfg, checked, print_summary)


def register_local(sub: argparse._SubParsersAction[argparse.ArgumentParser], job: Job,
                   help_text: str) -> None:
    """``ddbpipe <job>``: the same options, run on a local Spark."""
    parser = sub.add_parser(job.name, help=help_text, description=job.description)
    job.add_options(parser)
    add_aws_options(parser)
    parser.add_argument("--master", help="Spark master (default local[*])")
    parser.set_defaults(func=lambda args: _run_local(job, args))


def _run_local(job: Job, args: argparse.Namespace) -> int:
    from ddbpipe.spark import local_session

    aws = resolve(args.region, args.endpoint_url, args.profile)
    cfg = job.config_from_args(args, aws)
    checked = job.preflight(cfg)  # fail in a second, before Spark starts
    spark = local_session(aws, f"ddbpipe-{job.name}", args.master,
                          verbose=bool(getattr(args, "verbose", False)))
    try:
        _run_trapped(job, spark, cfg, checked)  # the checks are not repeated
    finally:
        _stop(spark)
    return 0


def _stop(spark: Any, timeout: float = 60.0) -> None:
    """Stop the local Spark. From a thread of its own: after a signal the main thread's py4j
    connection may be mid-call; the JVM may be gone with the same Ctrl-C (the job's own error
    is what the user is told, never this one)."""
    import threading
    import warnings

    def stop() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                spark.stop()
            except Exception:
                logging.getLogger(__name__).debug("stopping Spark failed", exc_info=True)

    worker = threading.Thread(target=stop, name="ddbpipe-spark-stop", daemon=True)
    worker.start()
    worker.join(timeout)
