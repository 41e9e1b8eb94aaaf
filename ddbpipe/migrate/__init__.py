"""``ddbpipe migrate``: Data Pipeline definitions -> ddbpipe schedules and one-off runs.

:mod:`.definition` reads a definition (file or API form), :mod:`.expressions` evaluates its
``#{...}``, :mod:`.period` turns a Schedule into a Scheduler expression, :mod:`.mapping` builds the
command and the field-by-field account, :mod:`.report` prints it.
"""

from ddbpipe.migrate.definition import Definition, parse, parse_values, read_json
from ddbpipe.migrate.mapping import Migration, Row, migrate
from ddbpipe.migrate.report import command, render

__all__ = ["Definition", "Migration", "Row", "command", "migrate", "parse", "parse_values",
           "read_json", "render"]
