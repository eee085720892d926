"""Wall time ↔ instant, with the rules of spec 2.3.

A naive wall time in a zone maps to:
- one instant, normally;
- nothing, inside a spring-forward gap: `first_instant` gives the first instant after the gap;
- two instants, inside a fall-back fold: `first_instant` gives the first occurrence,
  `all_instants` gives both in order.

Instants are aware datetimes in UTC. The stdlib (zoneinfo) does the arithmetic; pendulum's
defaults (fold=1, +1 h for non-existent times) are not the rules we want here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clocks.errors import ClockError

__all__ = ["UTC", "all_instants", "first_instant", "get_zone", "is_gap", "to_wall"]


@lru_cache(maxsize=256)
def get_zone(name: str) -> ZoneInfo:
    """The zone named `name`, or ClockError with a hint."""
    try:
        if not name or "\x00" in name or name.startswith("/") or ".." in name:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ClockError(
            f"unknown time zone '{name}': use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'",
            field="timezone",
            value=name,
        ) from None


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall time of an aware instant."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _candidates(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return early, late


def is_gap(wall: datetime, zone: ZoneInfo) -> bool:
    """True when `wall` does not exist in `zone` (skipped by a spring-forward change)."""
    early, _ = _candidates(wall, zone)
    return to_wall(early, zone) != wall


def all_instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant whose local wall time is `wall`: [] in a gap, two in a fold."""
    early, late = _candidates(wall, zone)
    if early == late:
        return [early] if to_wall(early, zone) == wall else []
    # Both fold values differ: either a fold (both round-trip) or a gap (neither does).
    result = [i for i in (early, late) if to_wall(i, zone) == wall]
    return sorted(set(result))


def first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant for `wall`: the first occurrence in a fold, the end of the gap in a gap.

    Berlin 2025-03-30 02:30 does not exist; the first instant after the gap is 03:00+02:00.
    """
    early, late = _candidates(wall, zone)
    if early == late:
        if to_wall(early, zone) == wall:
            return early
    else:
        if to_wall(early, zone) == wall:
            return min(early, late) if to_wall(late, zone) == wall else early
        if to_wall(late, zone) == wall:
            return late
    # A gap. For a non-existent wall time, fold=0 applies the offset from before the change
    # (an instant after the gap) and fold=1 the one after it (an instant before the gap);
    # the transition lies between them. Search it to the second.
    low, high = sorted((early, late))
    return _transition_between(low, high, zone)


def _transition_between(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    offset_low = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) // 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).utcoffset() == offset_low:
            low = mid
        else:
            high = mid
    return high
