"""Fast fires for MONTHLY rrule clocks of the common shape (spec 2.5 times), without dateutil.

A MONTHLY rule without BYYEARDAY, BYWEEKNO or an ordinal BYDAY ("1FR") picks, in each month
of its lattice (DTSTART's month + k × INTERVAL, BYMONTH kept), the days that match BYDAY and
BYMONTHDAY (a negative counts from the month's end), times them by BYHOUR × BYMINUTE ×
BYSECOND, and keeps the BYSETPOS positions of that sorted list; times before DTSTART are not
fires. That is dateutil's own reading, and a month's days depend only on its length and the
weekday of its 1st: 28 shapes, each computed once. The property tests in
tests/clocks/test_rrule_periodic.py hold this against dateutil.

Times → instants as `RRuleClock._instants` maps them: zoneinfo's offset (fold=0) of each
wall time, a time not after the last one given dropped (times meeting at one instant).
"""

from __future__ import annotations

from bisect import bisect_right
from calendar import monthrange
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du

__all__ = ["MonthlyRule", "monthly_rule"]


class MonthlyRule:
    """The month lattice, the day and time filters, and the shapes computed so far."""

    def __init__(self, options: dict[str, Any], first_wall: datetime) -> None:
        self.first_wall = first_wall
        self.interval: int = options["interval"]
        self.first_month = first_wall.year * 12 + first_wall.month - 1
        bymonth = options.get("bymonth")
        self.months = frozenset(bymonth) if bymonth else None
        byweekday = options.get("byweekday")
        self.weekdays = frozenset(day.weekday for day in byweekday) if byweekday else None
        monthdays = options.get("bymonthday") or ()
        self.monthdays = frozenset(day for day in monthdays if day > 0)
        self.from_end = frozenset(day for day in monthdays if day < 0)
        self.times = sorted(
            timedelta(hours=hour, minutes=minute, seconds=second)
            for hour in options["byhour"]
            for minute in options["byminute"]
            for second in options["bysecond"]
        )
        self.setpos = tuple(options.get("bysetpos") or ())
        self.shapes: dict[tuple[int, int], tuple[timedelta, ...]] = {}

    def _shape(self, length: int, first_weekday: int) -> tuple[timedelta, ...]:
        """The times of a month of `length` days whose 1st is `first_weekday`, from its start."""
        days = [
            day
            for day in range(1, length + 1)
            if (self.weekdays is None or (first_weekday + day - 1) % 7 in self.weekdays)
            and (
                not (self.monthdays or self.from_end)
                or day in self.monthdays
                or day - length - 1 in self.from_end
            )
        ]
        times = self.times
        every = [timedelta(days=day - 1) + moment for day in days for moment in times]
        if self.setpos:
            picked = set()
            for position in self.setpos:
                index = position - 1 if position > 0 else len(every) + position
                if 0 <= index < len(every):
                    picked.add(every[index])
            every = sorted(picked)
        shape = tuple(every)
        self.shapes[(length, first_weekday)] = shape
        return shape

    def instants(
        self, zone: ZoneInfo, lower: datetime, bound: datetime | None, fixed: bool = False
    ) -> Iterator[datetime]:
        """The rule's instants strictly after `lower` (UTC) and at or before `bound`, in order
        (`fixed` is not needed: each time's offset is looked up, a month has few)."""
        return chain.from_iterable(self._months(zone, lower, bound))

    def _months(
        self, zone: ZoneInfo, lower: datetime, bound: datetime | None
    ) -> Iterator[list[datetime]]:
        wall = lower.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
        index = max(0, (wall.year * 12 + wall.month - 1 - self.first_month) // self.interval)
        floor = lower
        shapes, months = self.shapes, self.months
        try:
            while True:
                number = self.first_month + index * self.interval
                year, month = divmod(number, 12)
                month += 1
                index += 1
                if year > 9999:
                    return
                if months is not None and month not in months:
                    continue
                first_weekday, length = monthrange(year, month)
                shape = shapes.get((length, first_weekday)) or self._shape(length, first_weekday)
                if not shape:
                    continue
                start = datetime(year, month, 1, tzinfo=UTC)  # a wall time labelled UTC
                kept: list[datetime] = []
                for shift in shape:
                    moment = start + shift
                    if index == 1 and moment.replace(tzinfo=None) < self.first_wall:
                        continue
                    offset = zone.utcoffset(moment)
                    assert offset is not None
                    instant = moment - offset
                    if not kept or instant > kept[-1]:
                        kept.append(instant)
                if kept and kept[0] <= floor:
                    kept = kept[bisect_right(kept, floor) :]
                if bound is not None and kept and kept[-1] > bound:
                    yield kept[: bisect_right(kept, bound)]
                    return
                if kept:
                    floor = kept[-1]
                    yield kept
        except (OverflowError, ValueError):  # past year 9999: the rule has ended
            return


def monthly_rule(options: dict[str, Any], first_wall: datetime) -> MonthlyRule | None:
    """The month-by-month form of a MONTHLY rule (explicit dateutil `options`), or None."""
    if options["freq"] != du.MONTHLY or options.get("byyearday") or options.get("byweekno"):
        return None
    if any(day.n for day in options.get("byweekday") or ()):
        return None
    return MonthlyRule(options, first_wall)
