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

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clocks.errors import ClockError

__all__ = [
    "UTC",
    "all_instants",
    "first_instant",
    "get_zone",
    "is_gap",
    "parse_moment",
    "parse_wall_time",
    "to_instant",
    "to_wall",
]


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


# -- text given by people: `next --after`, backfill bounds ----------------------------------

_MOMENT_EXAMPLES = "2026-03-29, 2026-03-29T02:30, 2026-03-29T02:30:00+02:00 or 2026-03-29T00:30:00Z"


def parse_wall_time(text: str) -> date | datetime:
    """A date, a wall time (naive: to be read in a zone) or an instant (with an offset or Z),
    whole seconds; ClockError when `text` is none of them.

    >>> parse_wall_time("2026-03-29"), parse_wall_time("2026-03-29 02:30")
    (datetime.date(2026, 3, 29), datetime.datetime(2026, 3, 29, 2, 30))
    >>> parse_wall_time("2026-03-29T00:30:00Z")
    datetime.datetime(2026, 3, 29, 0, 30, tzinfo=datetime.timezone.utc)
    """
    stripped = text.strip()
    try:
        if len(stripped) == 10:
            return date.fromisoformat(stripped)
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        shown = stripped if len(stripped) <= 40 else stripped[:39] + "…"
        raise ClockError(
            f"'{shown}' is not a date or date-time: use ISO 8601 such as {_MOMENT_EXAMPLES}",
            value=text,
        ) from None
    return moment.replace(microsecond=0)


def to_instant(moment: date | datetime, zone: ZoneInfo, *, end: bool = False) -> datetime:
    """The UTC instant of `moment` in `zone` (spec 2.3's rules for wall times):

    - an instant (aware) is taken as given;
    - a wall time (naive) in a gap becomes the first instant after the gap, one in a
      repeated hour its first occurrence;
    - a date is its whole local day: its first instant, or with `end` its last second.

    Berlin skips 02:00–03:00 on 2026-03-29 and repeats 02:00–03:00 on 2026-10-25:

    >>> berlin = get_zone("Europe/Berlin")
    >>> to_instant(datetime(2026, 3, 29, 2, 30), berlin).isoformat()
    '2026-03-29T01:00:00+00:00'
    >>> to_instant(datetime(2026, 10, 25, 2, 30), berlin).isoformat()
    '2026-10-25T00:30:00+00:00'
    >>> to_instant(date(2026, 10, 25), berlin, end=True).isoformat()
    '2026-10-25T22:59:59+00:00'
    """
    if isinstance(moment, datetime):
        if moment.utcoffset() is not None:
            return moment.astimezone(UTC).replace(microsecond=0)
        return first_instant(moment.replace(microsecond=0), zone)
    if end:
        following = datetime.combine(moment + timedelta(days=1), time())
        return first_instant(following, zone) - timedelta(seconds=1)
    return first_instant(datetime.combine(moment, time()), zone)


def parse_moment(text: str, zone: ZoneInfo, *, end: bool = False) -> datetime:
    """`parse_wall_time` then `to_instant`: what people type as a bound or a time, as the
    UTC instant it means in `zone`. ClockError for text that is not a date or date-time,
    or one too close to year 1 or 9999 to have an instant."""
    moment = parse_wall_time(text)
    try:
        return to_instant(moment, zone, end=end)
    except (OverflowError, ValueError):
        raise ClockError(
            f"'{moment.isoformat()}' is out of range: use a date between 0002-01-01 and 9998-12-31",
            value=text,
        ) from None
