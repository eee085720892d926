"""The cron clock: a cron expression (spec 2.4) read in the clock's zone with cronie's DST rules (spec 2.3).

Fixed-time expressions (neither the minute nor the hour field starts with `*`):
a wall time in a spring-forward gap fires once, at the first instant after the gap; a wall
time in a fall-back fold fires once, at its first occurrence. Wildcard expressions follow real
time: gap wall times do not fire, fold wall times fire at both occurrences.

>>> from datetime import UTC, datetime
>>> clock = CronClock(name="nightly", expression="30 2 * * *", timezone="Europe/Berlin")
>>> clock.next_fire(datetime(2025, 3, 29, 12, 0, tzinfo=UTC)).isoformat()
'2025-03-30T01:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from clocks.base import Clock
from clocks.cronexpr import CronExpression, parse_cron
from clocks.errors import ClockError
from clocks.localtime import all_instants, first_instant, get_zone, to_wall

__all__ = ["CronClock", "CronExpression", "parse_cron"]

_ONE_SECOND = timedelta(seconds=1)
# No real zone changes its offset twice within a day, so equal offsets at both ends of an
# interval of at most a day mean no transition inside it.
_QUIET_SPAN = timedelta(days=1)

# Zones whose offset never changes (tzdata's fixed zones); others may have transitions.
_FIXED_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal",
                          "Zulu", "Etc/Zulu", "GMT", "Etc/GMT", "Etc/Greenwich", "Greenwich",
                          "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0"})  # fmt: skip


def is_fixed_offset_zone(name: str) -> bool:
    """True for UTC and the Etc/GMT±N zones, which have no DST and no transitions."""
    return name in _FIXED_ZONES or (
        name.startswith("Etc/GMT") and name[7:8] in ("+", "-") and name[8:].isdigit()
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class CronClock(Clock):
    """A clock firing at the wall times matched by a cron expression in `timezone`.

    >>> CronClock(name="c", expression="@daily").describe()
    'cron @daily (UTC)'
    """

    expression: str
    # Derived in __post_init__ (the dataclass is frozen, hence object.__setattr__).
    _cron: CronExpression = field(init=False, repr=False)
    _zone: ZoneInfo = field(init=False, repr=False)
    _fixed_offset: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cron", parse_cron(self.expression))
        object.__setattr__(self, "_zone", get_zone(self.timezone))
        object.__setattr__(self, "_fixed_offset", is_fixed_offset_zone(self.timezone))

    @property
    def kind(self) -> str:
        return "cron"

    @property
    def cron(self) -> CronExpression:
        """The parsed expression."""
        return self._cron

    @property
    def is_wildcard(self) -> bool:
        """True when the minute or hour field starts with `*` (cronie's DST rule)."""
        return self.cron.is_wildcard

    def describe(self) -> str:
        return f"cron {self.expression} ({self.timezone})"

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after `after` (aware), in UTC; None past `end`."""
        if after.tzinfo is None:
            raise ClockError(
                f"cron clock '{self.name}': 'after' must be timezone-aware, got {after.isoformat()}"
            )
        lower = self._lower_bound(after).replace(microsecond=0)
        try:
            fire = self._next_instant(lower)
            # A `start` with a fraction of a second: the whole second before it is not a fire.
            while fire is not None and self.start is not None and fire < self.start:
                fire = self._next_instant(fire)
        except OverflowError:  # past the end of the calendar (year 9999)
            return None
        return self._within_end(fire)

    def _next_instant(self, lower: datetime) -> datetime | None:
        """The first fire instant strictly after `lower` (UTC, whole second)."""
        cron, zone = self._cron, self._zone
        local = lower.astimezone(zone)
        offset = local.utcoffset()
        assert offset is not None
        wall = cron.next_wall(local.replace(tzinfo=None))
        if wall is None:
            return None
        # Fast path: read the next wall time with the current offset; it is the answer when the
        # offset does not change up to it (so no gap and no second pass lies in between) and,
        # for fixed-time expressions, this is the wall time's first (or only) occurrence.
        candidate = (wall - offset).replace(tzinfo=UTC)
        if self._fixed_offset:  # no transitions ever: every wall time is one instant
            return candidate
        if (
            candidate - lower <= _QUIET_SPAN
            and candidate.astimezone(zone).utcoffset() == offset
            and (cron.is_wildcard or zone.utcoffset(wall) == offset)
        ):
            return candidate
        return self._next_instant_near_transition(lower, local.replace(tzinfo=None), offset)

    def _next_instant_near_transition(
        self, lower: datetime, lower_wall: datetime, offset: timedelta
    ) -> datetime | None:
        """The general case: walk matching wall times in order and keep the smallest fire > lower.

        In a fold, wall order is not instant order (02:30+01 is after 02:50+02), so the walk
        starts early enough to see second-pass wall times behind `lower_wall`, and stops once a
        wall time's first instant cannot beat the best fire found (first instants never decrease
        as wall time increases).
        """
        cron, zone = self._cron, self._zone
        later_offset = (lower + _QUIET_SPAN).astimezone(zone).utcoffset()
        assert later_offset is not None
        behind = max(offset - later_offset, timedelta(0))  # the size of a coming fold
        best: datetime | None = None
        wall = cron.next_wall(lower_wall - behind)
        while wall is not None:
            instants = all_instants(wall, zone)
            if not instants:  # in a gap
                after_gap = first_instant(wall, zone)
                if best is not None and after_gap >= best:
                    break
                if not cron.is_wildcard and after_gap > lower:
                    best = after_gap
                # Every other wall time of this gap maps to the same instant (or nothing).
                wall = cron.next_wall(to_wall(after_gap, zone) - _ONE_SECOND)
                continue
            if best is not None and instants[0] >= best:
                break
            for instant in instants if cron.is_wildcard else instants[:1]:
                if instant > lower and (best is None or instant < best):
                    best = instant
            wall = cron.next_wall(wall)
        return best
