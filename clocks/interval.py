"""Interval clocks: the k-th fire is `start + k × interval`, computed from the anchor (spec 2.3).

Two kinds of interval:
- elapsed (seconds, minutes, hours only): plain UTC arithmetic; `5m` across a fall-back
  change gives 02:55+02:00 then 02:00+01:00.
- calendar (days, weeks, months, years, possibly plus hours/minutes/seconds): the calendar
  part moves the anchor's *local wall time* in the clock's zone, so 09:00 stays 09:00 across
  DST; months clamp to the month end from the anchor (Jan 31 + 1 month = Feb 28, + 2 months =
  Mar 31). A wall time in a gap moves forward by the gap (Berlin 02:30 → 03:30+02:00); an
  ambiguous one takes the first occurrence. Any h/m/s part is then added as elapsed time.

Finding the fire after a time is O(1) for elapsed intervals and a few evaluations for calendar
ones (estimate k from the average length, then step by one), whatever the distance to the anchor.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from clocks.base import Clock
from clocks.durations import DurationParts, duration_parts, format_duration
from clocks.errors import ClockError
from clocks.localtime import first_instant, get_zone, to_wall

if TYPE_CHECKING:
    import pendulum

__all__ = ["IntervalClock", "to_utc_instant"]

_SECONDS_PER_DAY = 86400
# Mean Gregorian lengths, for the first estimate of k only.
_MEAN_YEAR_DAYS = 365.2425
_MEAN_MONTH_DAYS = _MEAN_YEAR_DAYS / 12


def to_utc_instant(moment: datetime, zone: ZoneInfo) -> datetime:
    """An aware UTC instant for `moment`, whole seconds (truncated).

    Aware: taken as given (an explicit offset wins over the zone). Naive: wall time in `zone`
    (gap → first instant after it, fold → first occurrence).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        instant = first_instant(moment, zone)
    else:
        instant = moment.astimezone(UTC)
    return instant.replace(microsecond=0)


@dataclass(frozen=True, kw_only=True, eq=False)
class IntervalClock(Clock):
    """Fires at `start + k × interval`, k = 0, 1, 2, ...

    `start` is the anchor. A clock without one (`start=None`) is anchored when first loaded:
    callers compute with `clock.anchored(moment)`.

    >>> import pendulum
    >>> clock = IntervalClock(name="c", interval=pendulum.duration(minutes=5),
    ...                       start=datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.next_fire(datetime(2026, 1, 1, 0, 7, tzinfo=UTC)).isoformat()
    '2026-01-01T00:10:00+00:00'
    """

    interval: pendulum.Duration
    _parts: DurationParts = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    # Derived once: the anchor's wall time, the elapsed step, the mean length of a step.
    _anchor_wall: datetime | None = field(init=False, repr=False, compare=False)
    _step: timedelta = field(init=False, repr=False, compare=False)
    _mean_seconds: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = get_zone(self.timezone)
        object.__setattr__(self, "_zone", zone)
        text = _interval_text(self.interval)
        if not isinstance(self.interval, timedelta) or self.interval <= timedelta(0):
            raise ClockError(
                f"invalid interval '{text}': a duration must be greater than zero",
                field="interval",
                value=self.interval,
            )
        if self.interval.microseconds:
            raise ClockError(
                f"invalid interval '{text}': whole seconds only",
                field="interval",
                value=self.interval,
            )
        parts = duration_parts(self.interval)
        if min(parts) < 0:
            raise ClockError(
                f"invalid interval '{text}': every part of an interval must be positive",
                field="interval",
                value=self.interval,
            )
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_step", timedelta(seconds=parts.seconds))
        years, months, days, seconds = parts
        mean_days = years * _MEAN_YEAR_DAYS + months * _MEAN_MONTH_DAYS + days
        object.__setattr__(self, "_mean_seconds", mean_days * _SECONDS_PER_DAY + seconds)
        object.__setattr__(self, "_anchor_wall", None)
        if self.start is not None:
            object.__setattr__(self, "start", to_utc_instant(self.start, zone))
            object.__setattr__(self, "_anchor_wall", to_wall(self.start, zone))
        if self.end is not None:
            object.__setattr__(self, "end", to_utc_instant(self.end, zone))
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ClockError(
                f"end '{self.end.isoformat()}' is before start '{self.start.isoformat()}': "
                "an interval clock needs end at or after start",
                field="end",
                value=self.end,
            )

    @property
    def kind(self) -> str:
        return "interval"

    @property
    def is_anchored(self) -> bool:
        return self.start is not None

    @property
    def needs_anchor(self) -> bool:
        return self.start is None

    @property
    def is_elapsed(self) -> bool:
        """True when the interval is fixed elapsed time (seconds, minutes, hours only)."""
        return not self._parts.is_calendar

    def describe(self) -> str:
        text = f"every {format_duration(self.interval)}"
        if self._parts.is_calendar and self.timezone != "UTC":
            text += f" ({self.timezone})"
        return text

    def anchored(self, moment: datetime) -> IntervalClock:
        """This clock anchored at `moment` (whole second) when it has no `start`; else itself."""
        if self.start is not None:
            return self
        return dataclasses.replace(self, start=to_utc_instant(moment, self._zone))

    # --- the k-th fire -------------------------------------------------------------

    def fire_at(self, k: int) -> datetime | None:
        """The k-th fire (k ≥ 0), ignoring `end`; None past the representable range."""
        anchor = self._anchor()
        if k < 0:
            raise ValueError("k must be >= 0")
        if k == 0:
            return anchor  # an explicit offset in start is taken as given
        try:
            if self._anchor_wall is None or not self._parts.is_calendar:
                return anchor + k * self._step
            years, months, days, _ = self._parts
            wall = _add_months(self._anchor_wall, k * (12 * years + months))
            wall += timedelta(days=k * days)
            # fold=0: the first occurrence in a fold; in a gap, the offset from before the
            # change, i.e. the wall time moved forward by the length of the gap.
            instant = wall.replace(tzinfo=self._zone, fold=0).astimezone(UTC)
            return instant + k * self._step
        except (OverflowError, ValueError):
            return None

    def index_after(self, after: datetime) -> int | None:
        """The smallest k with `fire_at(k) > after` (k ≥ 0), or None when there is none."""
        found = self._first_after(after)
        return None if found is None else found[0]

    def _first_after(self, after: datetime) -> tuple[int, datetime] | None:
        """(k, fire_at(k)) for the smallest k with `fire_at(k) > after`."""
        anchor = self._anchor()
        after = after.astimezone(UTC)
        if after < anchor:
            return 0, anchor
        if self._anchor_wall is None or not self._parts.is_calendar:
            k = (after - anchor) // self._step + 1
            fire = self.fire_at(k)
            return None if fire is None else (k, fire)
        # Estimate k on the wall clock (exact for whole days away from gaps), then adjust.
        wall_distance = to_wall(after, self._zone) - self._anchor_wall
        k = max(int(wall_distance.total_seconds() // self._mean_seconds), 0)
        fire = self.fire_at(k)
        while k > 0 and (fire is None or fire > after):
            k -= 1
            fire = self.fire_at(k)
        # Now fire_at(k) <= after (k = 0 is the anchor, and after >= anchor).
        while True:
            k += 1
            fire = self.fire_at(k)
            if fire is None:
                return None
            if fire > after:
                return k, fire

    # --- the Clock interface -----------------------------------------------------------

    def next_fire(self, after: datetime) -> datetime | None:
        lower = self._lower_bound(after)
        if self.end is not None and lower >= self.end:
            return None
        found = self._first_after(lower)
        return None if found is None else self._within_end(found[1])

    def previous_fire(self, at_or_before: datetime) -> datetime | None:
        """The last fire at or before `at_or_before` (within start and end), or None."""
        moment = at_or_before.astimezone(UTC)
        if self.end is not None and moment > self.end:
            moment = self.end
        if moment < self._anchor():
            return None
        k = self.index_after(moment)
        if k is None:
            # Past the representable range: the last representable fire is far behind; step
            # back from an estimate is not worth it for dates beyond year 9999.
            return None
        return self.fire_at(k - 1) if k > 0 else None

    def fires(self, after: datetime, until: datetime | None = None) -> Iterator[datetime]:
        """Fires strictly after `after`, at or before `until`, each computed from the anchor."""
        lower = self._lower_bound(after)
        k = self.index_after(lower)
        if k is None:
            return
        previous = lower
        while True:
            fire = self.fire_at(k)
            if fire is None or self._within_end(fire) is None:
                return
            if until is not None and fire > until:
                return
            # Two wall days can map to one instant only across a whole-day gap (Samoa, 2011).
            if fire > previous:
                yield fire
                previous = fire
            k += 1

    def _anchor(self) -> datetime:
        if self.start is None:
            raise ClockError(
                f"interval clock '{self.name}' has no anchor: anchor it with "
                "clock.anchored(moment) before computing fires",
                field="start",
            )
        return self.start


def _add_months(wall: datetime, months: int) -> datetime:
    """`wall` moved by `months` calendar months, the day clamped to the month's last day."""
    if months == 0:
        return wall
    index = wall.year * 12 + (wall.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(wall.day, calendar.monthrange(year, month)[1]) if 1 <= year <= 9999 else wall.day
    return wall.replace(year=year, month=month, day=day)


def _interval_text(interval: object) -> str:
    if isinstance(interval, timedelta):
        try:
            return format_duration(interval)
        except (TypeError, ValueError):
            pass
    return str(interval)
