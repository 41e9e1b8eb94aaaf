"""Rewrite an export folder in another format (``ddbpipe convert``).

:mod:`~ddbpipe.convert.options` (argv -> :class:`ConvertConfig`), :mod:`~ddbpipe.convert.driver`
(detect the source, start the destination, the Spark job, commit or empty it),
:mod:`~ddbpipe.convert.tasks` (read with the importer's readers, write with the export's file
writer) and :mod:`~ddbpipe.convert.report` (what it did).
"""

from ddbpipe.convert.driver import JOB, main, preflight, run
from ddbpipe.convert.options import ConvertConfig, add_options, config_from_args
from ddbpipe.convert.report import ConvertResult

__all__ = ["JOB", "ConvertConfig", "ConvertResult", "add_options", "config_from_args", "main",
           "preflight", "run"]
