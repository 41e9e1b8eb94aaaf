"""Import an export folder from S3 into a DynamoDB table, losslessly and throttled.

``run(spark, cfg)``; the flow, one module per step: :mod:`~ddbpipe.importer.options`
(argv -> :class:`ImportConfig`), :mod:`~ddbpipe.importer.sources` (what the folder holds, reading
its files), :mod:`~ddbpipe.importer.target` (the table's keys, ``--create-table``),
:mod:`~ddbpipe.importer.plan` (budget, tasks, file groups), :mod:`~ddbpipe.importer.tasks` (what
the Python executors run), :mod:`~ddbpipe.importer.writer` (BatchWriteItem to DynamoDB),
:mod:`~ddbpipe.importer.state` (the run state in S3 that ``--resume`` continues from),
:mod:`~ddbpipe.importer.driver` (the order of it all) and :mod:`~ddbpipe.importer.report`.
"""

from ddbpipe.importer.driver import JOB, Checked, main, preflight, run
from ddbpipe.importer.options import MODES, ImportConfig, Mode, add_options, config_from_args
from ddbpipe.importer.plan import WritePlan, group_files, plan_write, shares
from ddbpipe.importer.report import ImportResult
from ddbpipe.importer.sources import DataFile, LineFormat, Source, SourceFormat, detect
from ddbpipe.importer.tasks import TaskConfig
from ddbpipe.importer.writer import BatchWriter, WriteStats

__all__ = [
    "JOB",
    "MODES",
    "BatchWriter",
    "Checked",
    "DataFile",
    "ImportConfig",
    "ImportResult",
    "LineFormat",
    "Mode",
    "Source",
    "SourceFormat",
    "TaskConfig",
    "WritePlan",
    "WriteStats",
    "add_options",
    "config_from_args",
    "detect",
    "group_files",
    "main",
    "plan_write",
    "preflight",
    "run",
    "shares",
]
