"""Watch that DynamoDB still answers while the connector reads in the JVM.

The connector retries every failed request for 10 minutes (a constant of connector 5.0.0) and
logs nothing the user sees meanwhile, so a lost endpoint would stall an export silently. While
the export's Spark job runs, :class:`EndpointWatch` asks DynamoDB for the table's description
every few seconds (DescribeTable: no read capacity used); after ``unreachable_after`` seconds
without an answer it records an :class:`~ddbpipe.errors.EndpointUnreachable` and cancels the
Spark job, and it says that it waits while it does.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable, Optional

from ddbpipe.errors import EndpointUnreachable
from ddbpipe.throttle import SAY_EVERY_SECONDS, UNREACHABLE_SECONDS, is_retryable, say_waiting

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class EndpointWatch:
    def __init__(self, ddb: DynamoDBClient, table: str, where: str, cancel: Callable[[], None],
                 interval: float = 5.0, unreachable_after: float = UNREACHABLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 say: Callable[[str], None] = say_waiting) -> None:
        self.ddb, self.table, self.where, self.cancel = ddb, table, where, cancel
        self.interval, self.unreachable_after = interval, unreachable_after
        self._clock, self._say = clock, say
        self.error: Optional[EndpointUnreachable] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ddbpipe-endpoint-watch",
                                        daemon=True)

    def __enter__(self) -> EndpointWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def check(self) -> bool:
        """One probe: True when DynamoDB answered (whatever it said)."""
        try:
            self.ddb.describe_table(TableName=self.table)
        except Exception as err:
            return is_retryable(err) != "unreachable"
        return True

    def _run(self) -> None:
        down_since: Optional[float] = None
        said = 0.0
        while not self._stop.wait(self.interval):
            if self.check():
                down_since = None
                continue
            now = self._clock()
            down_since = now if down_since is None else down_since
            down = now - down_since
            if down >= self.unreachable_after:
                self.error = EndpointUnreachable(
                    f"Nothing answers at {self.where}: no connection for {down:.0f} s while "
                    f"exporting {self.table}.",
                    "Check the network and the endpoint (--endpoint-url, --region), then re-run.")
                self.cancel()
                return
            if now - said >= SAY_EVERY_SECONDS:
                said = now
                self._say(f"{self.where} does not answer ({down:.0f} s); the export waits up to "
                          f"{self.unreachable_after:.0f} s")
