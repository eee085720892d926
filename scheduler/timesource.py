"""What tells the daemon the time: a `TimeSource`, swappable in tests.

"clock" means a schedule in clockd; whatever reads the time is a time source.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class TimeSource(Protocol):
    def now(self) -> datetime:
        """The wall time, aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for elapsed time and jump detection)."""


class SystemTime:
    """The real wall time and CLOCK_MONOTONIC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FixedTime:
    """A time source that moves only when told to, e.g. in tests:

    >>> source = FixedTime(datetime(2026, 1, 1, tzinfo=UTC))
    >>> source.advance(seconds=90)  # wall and monotonic move together
    >>> source.jump(hours=2)        # only the wall time moves (an NTP step)
    """

    def __init__(self, start: datetime, monotonic: float = 1000.0) -> None:
        self._now = start.astimezone(UTC)
        self._monotonic = monotonic

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self._now += step
        self._monotonic += step.total_seconds()

    def jump(self, **delta: float) -> None:
        self._now += timedelta(**delta)


SYSTEM_TIME = SystemTime()


def whole_second(moment: datetime) -> datetime:
    """`moment` in UTC without its fraction of a second (times have whole-second resolution)."""
    return moment.astimezone(UTC).replace(microsecond=0)
