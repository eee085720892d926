"""A clock of any kind under calendar, exclude and between (spec 2.5): `FilteredClock`.

Every fire of the wrapped clock meets one fate (`fate`): kept, moved to the same wall time
of the nearest open day (at most 31 days away), or removed with a reason. `next_fire` and
`outcomes` (what `clockd next --show-skipped` lists) both go through `fate`: one copy of the
rules. The daemon, catch-up and backfill see only `next_fire`, so a removed fire is never
missed and a moved fire's time is the moved time everywhere.

`next_fire` does not walk removed fires one by one when it can jump: past a closed or
excluded day, to the start of the `between` window. Under a move policy it computes the kept
fires of 28 days at once (a landing day needs the closed days before or after it) and walks
them with a cursor.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from clocks.base import Clock
from clocks.calendar import Filters
from clocks.localtime import first_instant, get_zone

__all__ = ["FilteredClock", "Outcome"]

MAX_MOVE_DAYS = 31
_ONE_SECOND = timedelta(seconds=1)
_HORIZON = timedelta(days=366 * 11)  # beyond this without a fire, the clock has none
_ONE_DAY = timedelta(days=1)
# What a filtered clock shares with the clock it wraps.
_SHARED = ("name", "timezone", "start", "end", "parameter_defaults", "labels", "jitter", "catchup",
           "enabled")  # fmt: skip
_MAX_MOVE = timedelta(days=MAX_MOVE_DAYS)
_BLOCK_DAYS = 28  # days whose kept fires `_next_moved` computes in one pass


@dataclass(frozen=True)
class Outcome:
    """The fate of one of the clock's own times `original`: `time` is when it fires (moved or
    not), or None when removed; `reason` says why it moved or went."""

    original: datetime
    time: datetime | None
    reason: str | None = None

    @property
    def moved(self) -> bool:
        return self.time is not None and self.time != self.original


@dataclass(frozen=True, kw_only=True, eq=False)
class FilteredClock(Clock):
    """`inner`'s fires after `filters`. Name, zone, parameters, catchup... are the inner clock's."""

    inner: Clock
    filters: Filters
    _zone: ZoneInfo = field(init=False, repr=False)
    # Kept fires of blocks of days already computed (a bounded memo; the rules stay in `fate`).
    _memo: dict[int, tuple[datetime, ...]] = field(init=False, repr=False, default_factory=dict)
    # Where a walk is: a block's kept fires and the index of the fire given last.
    _cursor: tuple[tuple[datetime, ...], list[int]] = field(init=False, repr=False)

    @classmethod
    def wrap(cls, inner: Clock, filters: Filters) -> Clock:
        """`inner` under `filters`, or `inner` itself when there are none."""
        if not filters:
            return inner
        fields = {name: getattr(inner, name) for name in _SHARED}
        return cls(inner=inner, filters=filters, **fields)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", get_zone(self.timezone))
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_cursor", ((), [0]))

    def __getattr__(self, name: str) -> Any:
        # What a kind adds (`expression`, `interval`, `rule`...) reads through to the inner clock.
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def kind(self) -> str:
        return self.inner.kind

    def describe(self) -> str:
        extra = []
        if self.filters.calendar is not None:
            extra.append(f"calendar {self.filters.calendar.name} ({self.filters.on_closed_day})")
        if self.filters.between is not None:
            start, end = self.filters.between
            extra.append(f"between {start.strftime('%H:%M')}–{end.strftime('%H:%M')}")
        if self.filters.exclude_days or self.filters.exclude_times:
            extra.append(
                f"{len(self.filters.exclude_days) + len(self.filters.exclude_times)} excluded"
            )
        return f"{self.inner.describe()}, {', '.join(extra)}"

    @property
    def needs_anchor(self) -> bool:
        return self.inner.needs_anchor

    def anchored(self, moment: datetime) -> Clock:
        inner = self.inner.anchored(moment)
        return self if inner is self.inner else FilteredClock.wrap(inner, self.filters)

    # -- the rules, once ------------------------------------------------------------------

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self._zone).replace(tzinfo=None)

    def _place(self, wall: datetime) -> datetime:
        """A moved wall time as an instant, by the clock kind's own DST rule (spec 2.5)."""
        if self.inner.kind == "rrule":
            return wall.replace(tzinfo=self._zone).astimezone(UTC)
        return first_instant(wall, self._zone)

    def _target_day(self, day: date) -> date | None:
        calendar = self.filters.calendar
        assert calendar is not None
        step = 1 if self.filters.on_closed_day == "next_business_day" else -1
        for distance in range(1, MAX_MOVE_DAYS + 1):
            candidate = day + timedelta(days=step * distance)
            if calendar.is_open(candidate):
                return candidate
        return None

    def fate(self, original: datetime) -> Outcome:
        """What becomes of the clock's own time `original` (spec 2.5's order)."""
        moment, reason = self._decide(original)
        return Outcome(original, moment, reason)

    def _decide(self, original: datetime) -> tuple[datetime | None, str | None]:
        """`fate` as (time or None, reason): the rules, once (a tuple: this is the hot path)."""
        filters = self.filters
        local = original.astimezone(self._zone)
        day = local.date()
        moment, note = original, None
        calendar = filters.calendar
        if calendar is not None and not calendar.is_open(day):
            closed = calendar.closed_reason(day)
            if filters.on_closed_day == "skip":
                return None, f"closed: {closed}"
            target = self._target_day(day)
            if target is None:
                return None, f"closed: {closed}; no open day within {MAX_MOVE_DAYS} days"
            moment = self._place(datetime.combine(target, local.time()))
            local = moment.astimezone(self._zone)
            day = local.date()
            note = f"moved from {original.astimezone(self._zone).date().isoformat()} (closed: {closed})"
        if filters.exclude_days and day in filters.exclude_days:
            return None, "excluded"
        if filters.exclude_times and local.replace(tzinfo=None) in filters.exclude_times:
            return None, "excluded"
        if filters.between is not None and not filters.in_window(local.time()):
            return None, filters.window_text()
        return moment, note

    # -- the fires --------------------------------------------------------------------------

    def next_fire(self, after: datetime) -> datetime | None:
        # A walk asks for the fire after the one given last: the next in its block's kept
        # fires (the cursor is checked, so a stale one only costs the search).
        kept, cursor = self._cursor
        position = cursor[0]
        if position + 1 < len(kept) and kept[position] == after:
            cursor[0] = position + 1
            return kept[position + 1]
        after = after.astimezone(UTC)
        if self._moves:
            return self._next_moved(after)
        original = self.inner.next_fire(after)
        filters, zone = self.filters, self._zone
        calendar = filters.calendar
        only_calendar = not (filters.between or filters.exclude_days or filters.exclude_times)
        while original is not None and original - after < _HORIZON:
            if only_calendar and calendar is not None:  # what `_decide` says, in short
                if calendar.is_open(original.astimezone(zone).date()):
                    return original
                original = self.inner.next_fire(self._past_day(original))
                continue
            moment, reason = self._decide(original)
            if moment is not None:
                return moment
            if reason is not None and (
                reason[0] == "c"  # closed: its day is done
                or (
                    reason == "excluded"
                    and self._wall(original).date() in self.filters.exclude_days
                )
            ):
                original = self.inner.next_fire(self._past_day(original))
                continue
            following = self.inner.next_fire(original)
            # Outside `between`: to the window's start, unless the next own fire is beyond it.
            if (
                following is not None
                and self._wall(following).date() == self._wall(original).date()
            ):
                jump = self._jump(original, reason or "")
                if jump > following:
                    following = self.inner.next_fire(jump)
            original = following
        return None

    def _past_day(self, original: datetime, *, closed_too: bool = False) -> datetime:
        """The last second before the next day of `original` that is neither closed nor
        excluded (within 31 days; else just that day): a walk skips the rest in one step."""
        day = original.astimezone(self._zone).date()
        calendar, excluded = self.filters.calendar, self.filters.exclude_days
        skip = closed_too or self.filters.on_closed_day == "skip"
        for _ in range(MAX_MOVE_DAYS):
            day += timedelta(days=1)
            closed = skip and calendar is not None and not calendar.is_open(day)
            if not (closed or day in excluded):
                break
        return max(original, self._midnight(day) - _ONE_SECOND)

    def _block(self, key: int) -> tuple[datetime, ...]:
        """The kept fires of the `_BLOCK_DAYS` local days of block `key`, sorted, one instant
        once: their own and those moved onto them from the closed days next to them (a run of
        up to 31 closed days past the block's edge), each through `_decide` unless it is on
        an open day with no other filter. One pass of the wrapped clock per block, not per
        fire; remembered for the blocks a walk comes back to."""
        found = self._memo.get(key)
        if found is not None:
            return found
        calendar = self.filters.calendar
        assert calendar is not None
        first = date.fromordinal(key * _BLOCK_DAYS)
        last = first + timedelta(days=_BLOCK_DAYS - 1)
        low, high = first, last
        forward = self.filters.on_closed_day == "next_business_day"
        for _ in range(MAX_MOVE_DAYS):  # the sources: the closed run moving onto the block
            if forward:
                if calendar.is_open(low - _ONE_DAY):
                    break
                low -= _ONE_DAY
            else:
                if calendar.is_open(high + _ONE_DAY):
                    break
                high += _ONE_DAY
        plain = not (
            self.filters.between or self.filters.exclude_days or self.filters.exclude_times
        )
        zone, is_open = self._zone, calendar.is_open
        kept = set()
        begin = self._midnight(low) - _ONE_SECOND
        end = self._midnight(high + _ONE_DAY) - _ONE_SECOND
        for original in self.inner.fires(begin, end):
            day = original.astimezone(zone).date()
            if plain and first <= day <= last and is_open(day):
                kept.add(original)  # an open day's own fire, nothing else to judge
                continue
            moment, _ = self._decide(original)
            if moment is not None and first <= self._wall(moment).date() <= last:
                kept.add(moment)
        found = tuple(sorted(kept))
        if len(self._memo) > 8:
            self._memo.clear()
        self._memo[key] = found
        return found

    def _midnight(self, day: date) -> datetime:
        """The instant of `day`'s 00:00 with the offset before any change (fold=0): never
        after the day's first instant, and after the previous day's last."""
        return datetime.combine(day, time(), tzinfo=self._zone).astimezone(UTC)

    def _next_moved(self, after: datetime) -> datetime | None:
        """next_fire under next/previous_business_day: the first kept fire after `after` in the
        blocks of days from `after`'s (`_block`); past a block without fires, straight to the
        block of the wrapped clock's next own fire (or of the day it moves to, before it)."""
        day = self._wall(after).date()
        horizon = day + _HORIZON
        while day <= horizon:
            key = day.toordinal() // _BLOCK_DAYS
            kept = self._block(key)
            index = bisect_right(kept, after)
            if index < len(kept):
                object.__setattr__(self, "_cursor", (kept, [index]))
                return kept[index]
            day = date.fromordinal((key + 1) * _BLOCK_DAYS)
            if kept:
                continue
            calendar = self.filters.calendar
            assert calendar is not None
            forward = self.filters.on_closed_day == "next_business_day"
            # Moving forward, fires of the closed days just before `day` land on or after it.
            since = day
            while forward and day - since <= _MAX_MOVE and not calendar.is_open(since - _ONE_DAY):
                since -= _ONE_DAY
            following = self.inner.next_fire(max(after, self._midnight(since) - _ONE_SECOND))
            if following is None:
                return None  # fires moved from before `since` were in the blocks seen
            own_day = self._wall(following).date()
            if not forward and not calendar.is_open(own_day):
                own_day = self._target_day(own_day) or own_day  # its fire lands before it
            day = max(day, own_day)
        return None

    @property
    def _moves(self) -> bool:
        return self.filters.calendar is not None and self.filters.on_closed_day != "skip"

    def _jump(self, original: datetime, reason: str) -> datetime:
        """The latest instant before which no fire of the same verdict can be kept."""
        wall = self._wall(original)
        if reason.startswith("closed") or (
            reason == "excluded" and wall.date() in self.filters.exclude_days
        ):
            return (
                first_instant(datetime.combine(wall.date() + timedelta(days=1), time()), self._zone)
                - _ONE_SECOND
            )
        if reason.startswith("outside") and self.filters.between is not None:
            start = self.filters.between[0]
            day = wall.date() if wall.time() < start else wall.date() + timedelta(days=1)
            return first_instant(datetime.combine(day, start), self._zone) - _ONE_SECOND
        return original

    def _closed_run_start(self, after: datetime) -> datetime:
        """Where fires that a move to the next business day can bring past `after` begin: the
        start of the closed days just before (and including) `after`'s day."""
        calendar = self.filters.calendar
        assert calendar is not None
        day = self._wall(after).date()
        first = None if calendar.is_open(day) else day
        for distance in range(1, MAX_MOVE_DAYS + 1):
            if calendar.is_open(day - timedelta(days=distance)):
                break
            first = day - timedelta(days=distance)
        if first is None:
            return after
        return min(after, first_instant(datetime.combine(first, time()), self._zone) - _ONE_SECOND)

    def outcomes(self, after: datetime, until: datetime | None = None) -> Iterator[Outcome]:
        """Every fate with a time (kept or moved: its time; removed: its original) strictly after
        `after` and at or before `until`, in time order; a moved fire that meets another at one
        instant is one fire (the second is removed, saying so)."""
        after = after.astimezone(UTC)
        scan_from = after
        if self._moves and self.filters.on_closed_day == "next_business_day":
            scan_from = self._closed_run_start(after)
        heap: list[tuple[datetime, bool, int, Outcome]] = []
        order = 0
        last_kept: datetime | None = None
        prev_mode = self._moves and self.filters.on_closed_day == "previous_business_day"
        calendar = self.filters.calendar
        originals = self.inner.fires(scan_from)
        exhausted = False
        while True:
            original = None if exhausted else next(originals, None)
            if original is not None and original - after > _HORIZON:
                original = None  # nothing this far out is looked at: the clock has no more fires
            if original is None:
                exhausted = True
            else:
                outcome = self.fate(original)
                shown = outcome.time if outcome.time is not None else original
                if shown > after:
                    # At one instant the clock's own fire comes first: moved ones merge into it.
                    heapq.heappush(heap, (shown, outcome.moved, order, outcome))
                    order += 1
            # Emit what no later original can come before.
            while heap:
                top = heap[0][0]
                if not exhausted:
                    assert original is not None
                    if original < top:
                        break
                    if prev_mode:
                        day = self._wall(original).date()
                        if not (
                            day > self._wall(top).date() and calendar and calendar.is_open(day)
                        ):
                            break
                shown, _, _, outcome = heapq.heappop(heap)
                if until is not None and shown > until:
                    return
                if outcome.time is not None:
                    if last_kept == outcome.time:
                        outcome = Outcome(
                            outcome.original,
                            None,
                            f"{outcome.reason}: one run with the fire at that time",
                        )
                    else:
                        last_kept = outcome.time
                yield outcome
            if exhausted and not heap:
                return
