"""Business-day calendars and the per-clock filters of spec 2.5, as pure data.

The daemon side builds a `Calendar` (it reads the `holidays` package); here a calendar is
closed dates with their names plus weekend days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time

__all__ = ["DAY_NAMES", "ON_CLOSED_DAY", "Calendar", "ClosedDayPolicy", "Filters"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ON_CLOSED_DAY = ("skip", "next_business_day", "previous_business_day")
ClosedDayPolicy = str


@dataclass(frozen=True)
class Calendar:
    """Which local days are closed, and why.

    >>> us = Calendar("us", closed={date(2026, 11, 26): "Thanksgiving Day (US)"})
    >>> us.closed_reason(date(2026, 11, 26)), us.closed_reason(date(2026, 11, 29))
    ('Thanksgiving Day (US)', 'Sunday')
    >>> us.closed_reason(date(2026, 11, 27)) is None
    True
    """

    name: str
    closed: Mapping[date, str] = field(default_factory=dict)
    weekend: frozenset[int] = frozenset({5, 6})  # Monday = 0

    def closed_reason(self, day: date) -> str | None:
        """The name of what closes `day` (a holiday, a listed date, a weekend day), or None."""
        reason = self.closed.get(day)
        if reason is not None:
            return reason
        if day.weekday() in self.weekend:
            return DAY_NAMES[day.weekday()]
        return None

    def is_open(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.closed


@dataclass(frozen=True)
class Filters:
    """What spec 2.5 does to a clock's own times, in order: calendar → exclude → between.

    `between` is (start, end) wall times, start ≤ t < end, an end before the start spanning
    midnight; `exclude_days` removes whole local days, `exclude_times` single wall times.
    """

    calendar: Calendar | None = None
    on_closed_day: ClosedDayPolicy = "skip"
    between: tuple[time, time] | None = None
    exclude_days: frozenset[date] = frozenset()
    exclude_times: frozenset[datetime] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.calendar or self.between or self.exclude_days or self.exclude_times)

    def in_window(self, wall: time) -> bool:
        if self.between is None:
            return True
        start, end = self.between
        if start < end:
            return start <= wall < end
        return wall >= start or wall < end

    def window_text(self) -> str:
        assert self.between is not None
        start, end = self.between
        return f"outside {start.strftime('%H:%M')}–{end.strftime('%H:%M')}"
