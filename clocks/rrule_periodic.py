"""Fast fires for rrule clocks whose wall times repeat with a fixed period (spec 2.5 times).

A rule with FREQ=WEEKLY or finer and no part tied to the calendar (BYMONTH, BYMONTHDAY,
BYYEARDAY, BYWEEKNO) gives the same wall times in every stretch of T wall-clock seconds from
its first period's start, T the least common multiple of INTERVAL periods and the cycle of
its filters (BYDAY: a week; BYHOUR: a day; BYMINUTE: an hour; BYSECOND: a minute): dateutil
works on naive wall times, where every day has 24 hours and every week 7 days. So dateutil
computes one stretch, once, and every later time is a shift of it.

Times → instants follow `rrule.rfc_instant` (zoneinfo's fold=0). A batch of stretches (about
a week) whose UTC offset is the same at its start and at each day's end holds no change (real
zones change at most once a day, as `rrule._offset_span` also takes): its instants are one
base instant plus the precomputed shifts, with no zone look-up per time. A batch with a change
maps each time on its own and drops a time that is not after the last one given (times that
meet at one instant in a gap fire once), as `RRuleClock._instants` does.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import chain
from math import lcm
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du

__all__ = ["PeriodicRule", "periodic_rule"]

_UNIT = {du.WEEKLY: 604800, du.DAILY: 86400, du.HOURLY: 3600, du.MINUTELY: 60, du.SECONDLY: 1}
_MAX_TIMES = 4096  # times in one stretch; a denser cycle stays on dateutil
_BATCH = 7 * 86400  # a batch is at least a week and _BATCH_TIMES times: one zone check each
_BATCH_TIMES = 64
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class PeriodicRule:
    """The rule's wall times as `anchor + k * length + shift` for k ≥ 0, shift in `shifts`,
    none before `first_wall` (DTSTART)."""

    anchor: datetime  # naive wall time: the start of DTSTART's period
    length: timedelta  # a batch: whole stretches
    shifts: tuple[timedelta, ...]  # sorted, each < length
    first_shifts: tuple[timedelta, ...]  # the first batch's, from DTSTART itself

    def instants(
        self, zone: ZoneInfo, lower: datetime, bound: datetime | None, fixed: bool
    ) -> Iterator[datetime]:
        """The rule's instants strictly after `lower` (UTC) and at or before `bound`, in order
        (chained batches: no Python frame resumed per time)."""
        return chain.from_iterable(self._batches(zone, lower, bound, fixed))

    def _batches(
        self, zone: ZoneInfo, lower: datetime, bound: datetime | None, fixed: bool
    ) -> Iterator[list[datetime]]:
        """`instants` as lists, each strictly increasing and after the one before."""
        lower_wall = lower.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
        index = max(0, (lower_wall - self.anchor) // self.length)
        floor = lower
        probes = [min(day * _DAY, self.length) for day in range(1, -(-self.length // _DAY) + 1)]
        try:
            while True:
                start = self.anchor + index * self.length
                offset = zone.utcoffset(start)
                steady = fixed or all(zone.utcoffset(start + probe) == offset for probe in probes)
                batch = None
                if steady and index > 0 and offset is not None:
                    base = (start - offset).replace(tzinfo=UTC)
                    try:
                        batch = [base + shift for shift in self.shifts]
                    except OverflowError:  # the last batch before year 10000: time by time
                        pass
                if batch is None:
                    batch = self._mapped(start, zone, self.first_shifts if index == 0 else None)
                if batch and batch[0] <= floor:
                    batch = batch[bisect_right(batch, floor) :]
                if bound is not None and batch and batch[-1] > bound:
                    yield batch[: bisect_right(batch, bound)]
                    return
                if batch:
                    floor = batch[-1]
                    yield batch
                index += 1
        except (OverflowError, ValueError):  # past year 9999: the rule has ended
            return

    def _mapped(
        self, start: datetime, zone: ZoneInfo, shifts: tuple[timedelta, ...] | None
    ) -> list[datetime]:
        """A batch time by time (a zone change, or DTSTART's batch): each instant after the
        last one kept, as `RRuleClock._instants` keeps them (so strictly increasing)."""
        kept: list[datetime] = []
        for shift in self.shifts if shifts is None else shifts:
            try:
                wall = start + shift
                offset = zone.utcoffset(wall)
                assert offset is not None
                instant = (wall - offset).replace(tzinfo=UTC)
            except (OverflowError, ValueError):
                break  # past year 9999
            if not kept or instant > kept[-1]:
                kept.append(instant)
        return kept


def periodic_rule(options: dict[str, Any], first_wall: datetime) -> PeriodicRule | None:
    """The periodic form of the rule with explicit dateutil `options` from DTSTART `first_wall`
    (naive), or None when its times are not periodic that way or too dense to list."""
    freq = options["freq"]
    if freq not in _UNIT or any(
        options.get(part) for part in ("bymonth", "bymonthday", "byyearday", "byweekno")
    ):
        return None
    unit = _UNIT[freq]
    if options.get("byweekday"):
        cycle = 604800
    elif options.get("byhour"):
        cycle = 86400
    elif options.get("byminute"):
        cycle = 3600
    elif options.get("bysecond"):
        cycle = 60
    else:
        cycle = 1
    stretch = lcm(options["interval"] * unit, cycle)
    anchor = _period_floor(freq, options["wkst"], first_wall)
    end = anchor + timedelta(seconds=stretch)
    shifts = _shifts(options, anchor, anchor, end)
    if not shifts:
        return None
    repeat = max(-(-_BATCH // stretch), -(-_BATCH_TIMES // len(shifts)))
    repeat = max(1, min(repeat, _MAX_TIMES // len(shifts)))
    step = timedelta(seconds=stretch)
    batch = tuple(k * step + shift for k in range(repeat) for shift in shifts)
    # DTSTART's own batch from DTSTART itself: dateutil's first week starts at DTSTART's day
    # (BYSETPOS counts from there), not at WKST.
    first = _shifts(options, first_wall, anchor, anchor + step * repeat)
    if first is None:
        return None
    return PeriodicRule(anchor, step * repeat, batch, tuple(first))


def _shifts(
    options: dict[str, Any], dtstart: datetime, anchor: datetime, end: datetime
) -> list[timedelta] | None:
    """The rule's wall times from `dtstart` before `end`, as shifts from `anchor`; None when
    there are more than `_MAX_TIMES` per stretch."""
    shifts: list[timedelta] = []
    labelled_end = end.replace(tzinfo=UTC)
    for wall in du.rrule(dtstart=dtstart.replace(tzinfo=UTC), cache=False, **options):
        if wall >= labelled_end:
            break
        shifts.append(wall.replace(tzinfo=None) - anchor)
        if len(shifts) > _MAX_TIMES:
            return None
    return shifts


def _period_floor(freq: int, wkst: int, wall: datetime) -> datetime:
    """The start of the period of FREQ that holds `wall` (a week starts on WKST)."""
    if freq == du.WEEKLY:
        day = wall.date() - timedelta(days=(wall.weekday() - wkst) % 7)
        return datetime.combine(day, time())
    if freq == du.DAILY:
        return datetime.combine(wall.date(), time())
    if freq == du.HOURLY:
        return wall.replace(minute=0, second=0, microsecond=0)
    if freq == du.MINUTELY:
        return wall.replace(second=0, microsecond=0)
    return wall.replace(microsecond=0)
