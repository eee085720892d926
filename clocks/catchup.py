"""Fires missed while the daemon was down, by the clock's `catchup` policy (spec 2.3).

`missed_fires` never walks a long outage fire by fire and never holds more than `limit` fires:
- interval clocks compute the index of the last missed fire directly (O(limit));
- fixed-date clocks bisect their sorted dates;
- any other clock (cron) is searched by bisection on the window's start: counting the fires
  in (w, now] stops at `wanted + 1`, so the cost is bounded by
  (wanted + 1) × (⌈log2(outage in seconds)⌉ + 2) calls of `next_fire` — about 2,700 for
  `limit = 100` after a year, whatever the clock's rate — instead of one call per missed fire.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from clocks.base import CATCHUP_POLICIES, Clock
from clocks.dates import DatesClock
from clocks.errors import ClockError
from clocks.interval import IntervalClock

__all__ = ["missed_fires"]

_RESOLUTION = timedelta(seconds=1)


def missed_fires(
    clock: Clock, last_fire: datetime | None, now: datetime, policy: str, limit: int
) -> list[datetime]:
    """The fires in (last_fire, now] to run on start, oldest first.

    `none` → []; `latest` → [the most recent]; `all` → at most `limit`, the most recent ones.
    A clock that never fired (`last_fire is None`) has missed nothing.

    >>> import pendulum
    >>> from datetime import UTC
    >>> clock = IntervalClock(name="c", interval=pendulum.duration(seconds=1),
    ...                       start=datetime(2025, 1, 1, tzinfo=UTC))
    >>> [f.isoformat() for f in missed_fires(clock, datetime(2025, 1, 1, tzinfo=UTC),
    ...                                      datetime(2026, 1, 1, tzinfo=UTC), "all", 2)]
    ['2025-12-31T23:59:59+00:00', '2026-01-01T00:00:00+00:00']
    """
    if policy not in CATCHUP_POLICIES:
        raise ClockError(
            f"invalid catchup '{policy}': use one of {', '.join(CATCHUP_POLICIES)}",
            field="catchup",
            value=policy,
        )
    if policy == "none" or last_fire is None or now <= last_fire:
        return []
    wanted = 1 if policy == "latest" else limit
    if wanted <= 0:
        return []
    if isinstance(clock, IntervalClock):
        return _interval_missed(clock, last_fire, now, wanted)
    if isinstance(clock, DatesClock):
        return list(clock.fires_between(last_fire, now)[-wanted:])
    return _most_recent(clock, last_fire, now, wanted)


def _interval_missed(
    clock: IntervalClock, last_fire: datetime, now: datetime, wanted: int
) -> list[datetime]:
    newest = clock.previous_fire(now)
    if newest is None or newest <= last_fire:
        return []
    first = clock.index_after(last_fire)  # 0 when last_fire is before the anchor
    last = clock.index_after(newest)
    if first is None or last is None:  # beyond year 9999
        return _most_recent(clock, last_fire, now, wanted)
    # index_after(newest) is the index just past the newest fire.
    result: list[datetime] = []
    for k in range(max(first, last - wanted), last):
        fire = clock.fire_at(k)
        # Two indexes share an instant only across a whole-day gap; keep each instant once.
        if fire is not None and (not result or fire > result[-1]):
            result.append(fire)
    return result


def _most_recent(clock: Clock, after: datetime, now: datetime, wanted: int) -> list[datetime]:
    """The last `wanted` fires in (after, now], by bisection on the window's start."""
    low, high = after, now
    if _count(clock, low, now, wanted + 1) > wanted:
        # Invariant: more than `wanted` fires in (low, now], at most `wanted` in (high, now].
        while high - low > _RESOLUTION:
            middle = low + (high - low) / 2
            if _count(clock, middle, now, wanted + 1) > wanted:
                low = middle
            else:
                high = middle
        # (low, high] holds at most one whole second, so (high, now] holds exactly `wanted`.
        after = high
    recent: deque[datetime] = deque(maxlen=wanted)
    recent.extend(clock.fires(after, now))
    return list(recent)


def _count(clock: Clock, after: datetime, now: datetime, cap: int) -> int:
    """The number of fires in (after, now], counting no further than `cap`."""
    count = 0
    for _ in clock.fires(after, now):
        count += 1
        if count >= cap:
            break
    return count
