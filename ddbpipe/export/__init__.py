"""Export DynamoDB tables to S3 through Spark and the emr-dynamodb-connector.

``run(spark, cfg)`` exports every table of ``cfg`` to its own run folder. The flow, one module
per step: :mod:`~ddbpipe.export.options` (argv -> :class:`ExportConfig`),
:mod:`~ddbpipe.export.driver` (checks, plan, the Spark scan, per table),
:mod:`~ddbpipe.export.partwriter` (a process per partition: item lines -> data files in S3),
:mod:`~ddbpipe.export.folder` (the run folder: start, orphans, commit, abort) and
:mod:`~ddbpipe.export.report` (what a table's export did). The partition writer is not imported
here: ``python -m ddbpipe.export.partwriter`` must find it unloaded (see
:mod:`~ddbpipe.export.messages`).
"""

from ddbpipe.export.driver import JOB, export_table, main, preflight, run
from ddbpipe.export.folder import check_bucket, check_writable
from ddbpipe.export.messages import WriterConfig
from ddbpipe.export.options import ExportConfig, add_options, config_from_args
from ddbpipe.export.report import TableResult

__all__ = [
    "JOB",
    "ExportConfig",
    "TableResult",
    "WriterConfig",
    "add_options",
    "check_bucket",
    "check_writable",
    "config_from_args",
    "export_table",
    "main",
    "preflight",
    "run",
]
