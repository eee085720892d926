"""The rrule clock: an RFC 5545 RRULE from `start` (DTSTART, wall time in the clock's zone), spec 2.5.

python-dateutil computes the wall times; this module maps them to instants by RFC 5545
3.3.5: a wall time in a DST gap is read with the offset before the gap (New York
2007-03-11 02:30 → 03:30 EDT), an ambiguous one is its first occurrence; computed times that
meet at one instant fire once. `start` fires only when it matches the rule. COUNT counts
the rule's own times from `start`, so it holds whatever `after` is asked.

Finding the fire after a time does not walk from `start`: the rule is restarted at the
period (year, month, week, day, hour, minute, second × INTERVAL) that holds the time, with
every default dateutil would take from DTSTART given explicitly — the same lattice, so the
same times. A rule with COUNT has at most COUNT times: they are computed once. Two common
shapes skip dateutil after the first use (`periodic`): rules WEEKLY or finer without parts
tied to the calendar (`clocks.rrule_periodic`) and MONTHLY rules without an ordinal BYDAY
(`clocks.rrule_monthly`).

>>> from datetime import UTC
>>> clock = RRuleClock(name="m", rule="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
...                    start=datetime(2026, 1, 1, 18), timezone="America/New_York")
>>> clock.next_fire(datetime(2026, 1, 1, tzinfo=UTC)).isoformat()
'2026-01-30T23:00:00+00:00'
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from clocks.base import Clock
from clocks.cron import is_fixed_offset_zone
from clocks.errors import ClockError
from clocks.localtime import first_instant, get_zone
from clocks.rrule_monthly import MonthlyRule, monthly_rule
from clocks.rrule_periodic import PeriodicRule, periodic_rule
from clocks.rrule_text import RRuleParts, parse_rrule

__all__ = ["RRuleClock", "rfc_instant"]

_FREQ = {"YEARLY": du.YEARLY, "MONTHLY": du.MONTHLY, "WEEKLY": du.WEEKLY, "DAILY": du.DAILY,
         "HOURLY": du.HOURLY, "MINUTELY": du.MINUTELY, "SECONDLY": du.SECONDLY}  # fmt: skip
_COUNT_LIMIT = 100_000
_CHUNK = 64  # fires computed at once for next_fire (restarting dateutil costs ~20 µs)
_CHUNK_MAX = 4096  # a long walk's chunks double up to this


def rfc_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """RFC 5545 3.3.5: a gap wall time takes the offset before the gap; a fold its first pass.
    (zoneinfo's fold=0 is exactly that.)"""
    return wall.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, kw_only=True, eq=False)
class RRuleClock(Clock):
    """Fires at the times of `rule` from `start` (required; naive = wall time in `timezone`)."""

    rule: str
    parts: RRuleParts = field(init=False, repr=False)
    _zone: ZoneInfo = field(init=False, repr=False)
    _wall_start: datetime = field(init=False, repr=False)
    _options: dict[str, Any] = field(init=False, repr=False)
    _counted: tuple[datetime, ...] | None = field(init=False, repr=False)
    _chunk: tuple[datetime, tuple[datetime, ...]] = field(init=False, repr=False)
    _cursor: list[int] = field(init=False, repr=False)
    _periodic: PeriodicRule | MonthlyRule | bool | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        zone = get_zone(self.timezone)
        parts = parse_rrule(self.rule)
        if self.start is None:
            raise ClockError(
                "an rrule clock needs 'start' (its DTSTART, a wall time such as 2026-01-01T09:00:00)",
                field="start",
            )
        start = self.start
        wall = start.astimezone(zone).replace(tzinfo=None) if start.tzinfo else start
        wall = wall.replace(microsecond=0)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_wall_start", wall)
        object.__setattr__(self, "_options", _explicit_options(parts, wall))
        object.__setattr__(
            self, "start", rfc_instant(wall, zone) if not start.tzinfo else start.astimezone(UTC)
        )
        end = self.end
        if parts.until is not None:
            until = _until_instant(parts.until, zone)
            end = until if end is None else min(end, until)
        object.__setattr__(self, "end", end)
        counted = None
        if parts.count is not None:
            if parts.count > _COUNT_LIMIT:
                raise ClockError(
                    f"invalid rrule '{self.rule}': COUNT: {parts.count} is over {_COUNT_LIMIT}; "
                    "use UNTIL or no COUNT",
                    field="COUNT",
                )
            counted = tuple(
                self._instants(
                    du.rrule(count=parts.count, dtstart=wall.replace(tzinfo=UTC), **self._options)
                )
            )
        object.__setattr__(self, "_counted", counted)
        object.__setattr__(self, "_periodic", counted is None)  # True: not computed yet
        object.__setattr__(self, "_chunk", (self.start, ()))
        object.__setattr__(self, "_cursor", [0])

    @property
    def kind(self) -> str:
        return "rrule"

    @property
    def periodic(self) -> PeriodicRule | MonthlyRule | None:
        """Without COUNT, a faster form of the rule when it has one: times that repeat in a
        fixed cycle, dateutil computing one cycle (on first use: a rule that never fires scans
        to year 9999, as it would anyway) and the rest shifts of it (`clocks.rrule_periodic`);
        or a MONTHLY rule month by month without dateutil (`clocks.rrule_monthly`)."""
        periodic = self._periodic
        if periodic is True:
            periodic = periodic_rule(self._options, self._wall_start) or monthly_rule(
                self._options, self._wall_start
            )
            object.__setattr__(self, "_periodic", periodic)
        return periodic if isinstance(periodic, PeriodicRule | MonthlyRule) else None

    def describe(self) -> str:
        return f"rrule {self.rule} from {self._wall_start.isoformat()} ({self.timezone})"

    def _instants(
        self,
        walls: Iterator[datetime] | Any,
        lower: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[datetime]:
        """Wall times → instants in order, each instant once, after `lower`, up to `end` and
        `until` (and never past year 9999).

        The offset is looked up once per stretch of wall time without a change (`_offset_span`),
        not per time: this loop is what a walk of the rule costs on top of dateutil."""
        zone = self._zone
        bound = self.end if until is None or (self.end is not None and self.end < until) else until
        floor = lower  # the last instant given (or `lower`): times at or before it are not fires
        fixed = is_fixed_offset_zone(self.timezone)
        # Wall times come labelled UTC (see `_walls_from`): an instant is one subtraction away.
        offset, high, served = timedelta(0), _MIN_LABELLED, 0
        try:
            for wall in walls:  # never decreasing: one comparison says the span still holds
                if fixed:
                    instant = wall
                else:
                    if wall >= high:
                        # A rule with several times a day gets week-long spans, a sparse one
                        # day-long ones (probing further would cost more than it saves).
                        days = 7 if served > 1 else 1
                        offset, high = _offset_span(zone, wall.replace(tzinfo=None), days)
                        high, served = high.replace(tzinfo=UTC), 0
                    served += 1
                    instant = wall - offset
                if floor is not None and instant <= floor:
                    continue  # before `lower`, or met the previous one at one instant (a gap)
                if bound is not None and instant > bound:
                    return
                floor = instant
                yield instant
        except (OverflowError, ValueError):  # past year 9999: the rule has ended
            return

    def _walls_from(self, lower: datetime) -> Iterator[datetime]:
        """The rule's wall times from the period holding wall time `lower` (or from start)."""
        dtstart = _period_start(self.parts, self._wall_start, lower - timedelta(hours=3))
        # Labelled UTC, so that dateutil hands out aware datetimes whose fields are wall times:
        # `_instants` then needs one subtraction a time, not a `replace` (the costly part).
        return iter(du.rrule(dtstart=dtstart.replace(tzinfo=UTC), cache=False, **self._options))

    def fires(self, after: datetime, until: datetime | None = None) -> Iterator[datetime]:
        # Not a generator itself: the iterator handed out is the one that computes (one layer
        # of generator per fire, not two).
        lower = self._lower_bound(after)
        if self._counted is not None:
            return self._counted_fires(lower, until)
        periodic = self.periodic
        if periodic is not None:
            bound = (
                self.end if until is None or (self.end is not None and self.end < until) else until
            )
            fixed = is_fixed_offset_zone(self.timezone)
            return periodic.instants(self._zone, lower, bound, fixed)
        wall = lower.astimezone(self._zone).replace(tzinfo=None)
        return self._instants(self._walls_from(wall), lower, until)

    def _counted_fires(self, lower: datetime, until: datetime | None) -> Iterator[datetime]:
        assert self._counted is not None
        index = bisect_right(self._counted, lower)
        for instant in self._counted[index:]:
            if until is not None and instant > until:
                return
            yield instant

    def next_fire(self, after: datetime) -> datetime | None:
        # A walk asks for the fire after the one given last: the cursor says where it is in the
        # chunk computed last (checked, so a stale cursor only costs the search below; a naive
        # `after` is never equal to an aware fire, and is refused below).
        chunk_lower, chunk = self._chunk
        cursor = self._cursor
        position = cursor[0]
        if position + 1 < len(chunk) and chunk[position] == after:
            cursor[0] = position + 1
            return chunk[position + 1]
        if after.tzinfo is None:
            raise ClockError(f"rrule clock '{self.name}': 'after' must be timezone-aware")
        # Another time inside the chunk computed last (an immutable tuple: every fire in
        # (chunk_lower, chunk[-1]], in order). Every fire is at or after `start`: no
        # `_lower_bound` needed here.
        if chunk and chunk_lower <= after < chunk[-1]:
            position = bisect_right(chunk, after)
            object.__setattr__(self, "_cursor", [position])
            return chunk[position]
        lower = self._lower_bound(after)
        # A walk that goes on from the end of the last chunk gets a larger one (restarting
        # dateutil costs ~20 µs); a lookup far away starts small again.
        size = _CHUNK
        if chunk and lower == chunk[-1]:
            size = min(_CHUNK_MAX, 2 * len(chunk))
        chunk = tuple(islice(self.fires(lower), size))
        object.__setattr__(self, "_chunk", (lower, chunk))
        object.__setattr__(self, "_cursor", [0])
        return chunk[0] if chunk else None


_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)
_MIN_LABELLED = datetime.min.replace(tzinfo=UTC)


def _offset_span(zone: ZoneInfo, wall: datetime, days: int) -> tuple[timedelta, datetime]:
    """RFC 5545's offset of `wall` (zoneinfo's fold=0: before a gap, first pass of a fold) and
    the end of a stretch [wall, high) of wall times, at most `days` days, that all have it.
    Real zones change at most once a day: equal offsets at each day's end mean no change
    between; the stretch ends at the last day that still has it (or just after `wall`)."""
    offset = zone.utcoffset(wall)
    assert offset is not None
    high = wall + _ONE_SECOND
    for day in range(1, days + 1):
        following = wall + day * _DAY
        if zone.utcoffset(following) != offset:
            break
        high = following
    return offset, high


def _until_instant(until: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(until, datetime):
        return until if until.tzinfo is not None else rfc_instant(until, zone)
    following = datetime.combine(until + timedelta(days=1), time())
    return first_instant(following, zone) - timedelta(seconds=1)


def _explicit_options(parts: RRuleParts, start: datetime) -> dict[str, Any]:
    """dateutil keywords with every default it would take from DTSTART written out, so that the
    rule can be restarted at a later period and keep the same times."""
    freq = _FREQ[parts.freq]
    numbers = dict(parts.numbers)
    options: dict[str, Any] = {"freq": freq, "interval": parts.interval, "wkst": parts.wkst}
    byweekday = [du.weekday(day, n or None) for day, n in parts.byday] or None
    bymonth = numbers.get("BYMONTH")
    bymonthday = numbers.get("BYMONTHDAY")
    if not (numbers.get("BYWEEKNO") or numbers.get("BYYEARDAY") or bymonthday or byweekday):
        if freq == du.YEARLY:
            bymonth = bymonth or (start.month,)
            bymonthday = (start.day,)
        elif freq == du.MONTHLY:
            bymonthday = (start.day,)
        elif freq == du.WEEKLY:
            byweekday = [du.weekday(start.weekday())]
    options.update(
        bymonth=bymonth,
        bymonthday=bymonthday,
        byweekday=byweekday,
        byyearday=numbers.get("BYYEARDAY"),
        byweekno=numbers.get("BYWEEKNO"),
        bysetpos=numbers.get("BYSETPOS"),
        byhour=numbers.get("BYHOUR") or ((start.hour,) if freq < du.HOURLY else None),
        byminute=numbers.get("BYMINUTE") or ((start.minute,) if freq < du.MINUTELY else None),
        bysecond=numbers.get("BYSECOND") or ((start.second,) if freq < du.SECONDLY else None),
    )
    return options


def _period_start(parts: RRuleParts, start: datetime, lower: datetime) -> datetime:
    """The start of the rule's period (a multiple of INTERVAL periods from `start`'s) that holds
    wall time `lower`; `start` itself when `lower` is in start's first period."""
    n = parts.interval
    if lower <= start:
        return start
    if parts.freq == "YEARLY":
        k = (lower.year - start.year) // n
        return datetime(start.year + k * n, 1, 1) if k > 0 else start
    if parts.freq == "MONTHLY":
        months = (lower.year - start.year) * 12 + lower.month - start.month
        k = months // n
        if k <= 0:
            return start
        total = start.year * 12 + start.month - 1 + k * n
        return datetime(total // 12, total % 12 + 1, 1)
    if parts.freq == "WEEKLY":
        week0 = start.date() - timedelta(days=(start.weekday() - parts.wkst) % 7)
        k = (lower.date() - week0).days // 7 // n
        return datetime.combine(week0 + timedelta(weeks=k * n), time()) if k > 0 else start
    unit = {"DAILY": 86400, "HOURLY": 3600, "MINUTELY": 60, "SECONDLY": 1}[parts.freq]
    floor = start.replace(microsecond=0)
    if unit == 86400:
        floor = datetime.combine(start.date(), time())
    elif unit == 3600:
        floor = floor.replace(minute=0, second=0)
    elif unit == 60:
        floor = floor.replace(second=0)
    k = int((lower - floor).total_seconds()) // unit // n
    return floor + timedelta(seconds=k * n * unit) if k > 0 else start
