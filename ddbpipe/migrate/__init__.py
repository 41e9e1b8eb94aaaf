"""``ddbpipe migrate``: Data Pipeline definitions -> ddbpipe schedules and one-off runs.

:mod:`.account` reads pipelines from the Data Pipeline API, :mod:`.definition` reads a
definition (file or API form), :mod:`.expressions` evaluates its
``#{...}``, :mod:`.period` turns a Schedule into a Scheduler expression, :mod:`.mapping` builds the
command and the field-by-field account, :mod:`.report` prints it.
"""

from ddbpipe.migrate.account import Pipeline, list_ids
from ddbpipe.migrate.account import read as read_pipelines
from ddbpipe.migrate.definition import Definition, parse, parse_values, read_json
from ddbpipe.migrate.mapping import Migration, Row, migrate
from ddbpipe.migrate.report import command, render

__all__ = ["Definition", "Migration", "Pipeline", "Row", "command", "list_ids", "migrate", "parse",
           "parse_values", "read_json", "read_pipelines", "render"]
