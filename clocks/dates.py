"""Fixed-date clocks (`at = [...]`): fire once at each listed time (spec 2.3).

A naive date is wall time in the clock's zone: in a gap it fires at the first instant after the
gap, in a fold at the first occurrence. An aware date (explicit UTC offset) is taken as given.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime

from clocks.base import Clock
from clocks.errors import ClockError
from clocks.interval import to_utc_instant
from clocks.localtime import get_zone

__all__ = ["DatesClock"]


@dataclass(frozen=True, kw_only=True, eq=False)
class DatesClock(Clock):
    """Fires at each of `dates`, in time order, each instant once.

    >>> from datetime import UTC
    >>> clock = DatesClock(name="year-end", timezone="Europe/Berlin",
    ...                    dates=(datetime(2027, 12, 31, 23), datetime(2026, 12, 31, 23)))
    >>> clock.next_fire(datetime(2026, 1, 1, tzinfo=UTC)).isoformat()
    '2026-12-31T22:00:00+00:00'
    """

    dates: tuple[datetime, ...]
    # The dates as UTC instants, deduplicated and sorted once.
    instants: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = get_zone(self.timezone)
        if not self.dates:
            raise ClockError(
                "no dates: a fixed-date clock needs at least one date in 'at'",
                field="at",
                value=self.dates,
            )
        instants = sorted({to_utc_instant(moment, zone) for moment in self.dates})
        object.__setattr__(self, "instants", tuple(instants))
        if self.start is not None:
            object.__setattr__(self, "start", to_utc_instant(self.start, zone))
        if self.end is not None:
            object.__setattr__(self, "end", to_utc_instant(self.end, zone))

    @property
    def kind(self) -> str:
        return "dates"

    def describe(self) -> str:
        zone = get_zone(self.timezone)
        first = self.instants[0].astimezone(zone).isoformat()
        if len(self.instants) == 1:
            return f"at {first}"
        last = self.instants[-1].astimezone(zone).isoformat()
        return f"at {len(self.instants)} dates from {first} to {last}"

    def next_fire(self, after: datetime) -> datetime | None:
        index = bisect_right(self.instants, self._lower_bound(after))
        if index == len(self.instants):
            return None
        return self._within_end(self.instants[index])

    def previous_fire(self, at_or_before: datetime) -> datetime | None:
        """The last date at or before `at_or_before` (within start and end), or None."""
        moment = at_or_before
        if self.end is not None and moment > self.end:
            moment = self.end
        index = bisect_right(self.instants, moment)
        if index == 0:
            return None
        fire = self.instants[index - 1]
        if self.start is not None and fire < self.start:
            return None
        return fire

    def fires_between(self, after: datetime, until: datetime) -> tuple[datetime, ...]:
        """The dates in (after, until], within start and end, found by bisection."""
        lower = self._lower_bound(after)
        upper = until if self.end is None else min(until, self.end)
        return self.instants[
            bisect_right(self.instants, lower) : bisect_right(self.instants, upper)
        ]
