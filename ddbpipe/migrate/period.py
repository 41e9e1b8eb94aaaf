"""A Data Pipeline ``Schedule`` period as an EventBridge Scheduler expression.

Data Pipeline runs every ``N minutes|hours|days|weeks|months`` from ``startDateTime`` (or from
the activation). Scheduler's ``rate()`` knows minutes, hours and days and starts counting when the
schedule is created; a start time is kept with ``cron()`` where one exists (one day, one week, a
number of hours that divides 24), and a monthly period needs one (the day of the month).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

_PERIOD = re.compile(r"^\s*(\d+)\s+(minute|hour|day|week|month)s?\s*$", re.IGNORECASE)
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class BadPeriod(ValueError):
    pass


@dataclass(frozen=True)
class Expression:
    text: str
    note: Optional[str] = None


def parse_start(text: str) -> datetime:
    """``startDateTime``/``endDateTime``: ``YYYY-MM-DDTHH:MM:SS`` in UTC."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise BadPeriod(f"{text!r} is not a date-time like 2024-01-31T03:00:00") from None


def expression(period: str, start: Optional[datetime]) -> Expression:
    """The Scheduler expression that runs as often as ``period``, at ``start``'s time if given."""
    m = _PERIOD.match(period)
    if not m or int(m.group(1)) == 0:
        raise BadPeriod(f"period {period!r} is not like '1 Day', '6 Hours' or '15 minutes'")
    n, unit = int(m.group(1)), m.group(2).lower()
    plural = "" if n == 1 else "s"
    if unit == "month":
        if start is None:
            raise BadPeriod(f"period {period!r} needs a startDateTime to tell the day of the "
                            "month (Scheduler's rate() has no months)")
        months = "*" if n == 1 else f"{start.month}/{n}"
        return Expression(f"cron({start.minute} {start.hour} {start.day} {months} ? *)",
                          f"monthly on day {start.day} at {start:%H:%M} UTC")
    if unit == "day" and n == 1 and start is not None:
        return Expression(f"cron({start.minute} {start.hour} * * ? *)",
                          f"daily at {start:%H:%M} UTC, the startDateTime's time")
    if unit == "week" and n == 1 and start is not None:
        day = _DAYS[start.weekday()]
        return Expression(f"cron({start.minute} {start.hour} ? * {day} *)",
                          f"every {day} at {start:%H:%M} UTC, the startDateTime's day and time")
    if unit == "hour" and start is not None and 24 % n == 0:
        return Expression(f"cron({start.minute} {start.hour % n}/{n} * * ? *)",
                          f"every {n} hour{plural} from {start.hour % n:02d}:{start.minute:02d} "
                          "UTC, the startDateTime's phase")
    if unit == "week":
        n, unit, plural = n * 7, "day", "s"
    note = None
    if start is not None:
        note = ("rate() counts from the schedule's creation; the startDateTime's phase "
                f"({start:%Y-%m-%dT%H:%M:%S}) is not kept")
    return Expression(f"rate({n} {unit}{plural})", note)
