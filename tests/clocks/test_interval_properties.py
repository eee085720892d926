"""Properties of interval clocks (spec 2.3): k-th fire = start + k × interval, fires increase."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from clocks.base import Clock
from clocks.catchup import missed_fires
from clocks.dates import DatesClock
from clocks.durations import duration_parts
from clocks.interval import IntervalClock
from clocks.localtime import all_instants, is_gap, to_wall
from clocks.schedule import merge_fires

SETTINGS = settings(max_examples=200, deadline=None)

ZONES = st.sampled_from(
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",  # 30-minute DST shift
        "America/Santiago",  # midnight missing in spring
        "Pacific/Apia",  # 2011-12-30 skipped entirely
        "Pacific/Chatham",  # +12:45 / +13:45
        "Asia/Kolkata",
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2045, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
ELAPSED = st.integers(min_value=1, max_value=3 * 86400).map(lambda s: pendulum.duration(seconds=s))
CALENDAR = st.builds(
    lambda years, months, weeks, days, hours, minutes: pendulum.duration(
        years=years, months=months, weeks=weeks, days=days, hours=hours, minutes=minutes
    ),
    years=st.integers(0, 2),
    months=st.integers(0, 14),
    weeks=st.integers(0, 2),
    days=st.integers(0, 10),
    hours=st.integers(0, 30),
    minutes=st.integers(0, 59),
).filter(lambda d: d.years or d.months or d.weeks or d.remaining_days)
INTERVALS = st.one_of(ELAPSED, CALENDAR)


def make(interval: pendulum.Duration, zone: str, anchor: datetime) -> IntervalClock:
    return IntervalClock(name="p", interval=interval, timezone=zone, start=anchor)


def expected_wall(anchor_wall: datetime, interval: pendulum.Duration, k: int) -> datetime:
    """The anchor's wall time moved by k × (years, months, days), by pendulum's calendar rules."""
    years, months, days, _ = duration_parts(interval)
    moved = pendulum.naive(
        anchor_wall.year,
        anchor_wall.month,
        anchor_wall.day,
        anchor_wall.hour,
        anchor_wall.minute,
        anchor_wall.second,
    ).add(years=k * years, months=k * months, days=k * days)
    return datetime(moved.year, moved.month, moved.day, moved.hour, moved.minute, moved.second)


@SETTINGS
@given(interval=ELAPSED, zone=ZONES, anchor=INSTANTS, count=st.integers(1, 40))
def test_elapsed_fires_are_anchor_plus_k_intervals_in_utc(
    interval: pendulum.Duration, zone: str, anchor: datetime, count: int
) -> None:
    clock = make(interval, zone, anchor)
    fires = list(islice(clock.fires(anchor - timedelta(seconds=1)), count))
    step = timedelta(seconds=interval.total_seconds())
    assert fires == [anchor + k * step for k in range(count)]


# Wall times near the usual transition hours, so that daily fires meet gaps and folds often.
LOCAL_WALLS = st.builds(
    datetime,
    year=st.integers(1996, 2040),
    month=st.integers(1, 12),
    day=st.integers(1, 28),
    hour=st.one_of(st.integers(0, 3), st.integers(0, 23)),
    minute=st.sampled_from([0, 15, 30, 45]),
)
DAILY_OR_CALENDAR = st.one_of(st.just(pendulum.duration(days=1)), CALENDAR)


@SETTINGS
@given(interval=DAILY_OR_CALENDAR, zone=ZONES, anchor_wall=LOCAL_WALLS, first=st.integers(0, 300))
def test_calendar_fires_keep_the_anchors_wall_time(
    interval: pendulum.Duration, zone: str, anchor_wall: datetime, first: int
) -> None:
    tz = ZoneInfo(zone)
    anchor = all_instants(anchor_wall, tz)[0] if not is_gap(anchor_wall, tz) else None
    if anchor is None:
        anchor = anchor_wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    clock = make(interval, zone, anchor)
    assert clock.fire_at(0) == anchor  # an explicit start is taken as given
    for k in range(max(first, 1), first + 120):
        fire = clock.fire_at(k)
        assert fire is not None
        elapsed = timedelta(seconds=duration_parts(interval).seconds * k)
        base = fire - elapsed  # the instant of the moved wall time, before the h/m/s part
        wall = expected_wall(to_wall(anchor, tz), interval, k)
        if is_gap(wall, tz):
            # Moved forward by the length of the gap.
            before = (base - timedelta(days=1)).astimezone(tz).utcoffset()
            gap = base.astimezone(tz).utcoffset() - before  # type: ignore[operator]
            assert to_wall(base, tz) == wall + gap
        else:
            assert base == all_instants(wall, tz)[0]  # the first occurrence in a fold


@SETTINGS
@given(interval=INTERVALS, zone=ZONES, anchor=INSTANTS, after=INSTANTS)
def test_next_fire_is_the_first_fire_strictly_after(
    interval: pendulum.Duration, zone: str, anchor: datetime, after: datetime
) -> None:
    clock = make(interval, zone, anchor)
    fire = clock.next_fire(after)
    assert fire is not None
    assert fire > after
    assert fire >= anchor
    previous = clock.previous_fire(after)
    if previous is None:
        assert fire == anchor  # nothing at or before `after`: the first fire comes next
    else:
        assert previous <= after
        assert clock.next_fire(previous) == fire  # nothing in between


@SETTINGS
@given(interval=INTERVALS, zone=ZONES, anchor=INSTANTS, after=INSTANTS)
def test_fires_strictly_increase(
    interval: pendulum.Duration, zone: str, anchor: datetime, after: datetime
) -> None:
    clock = make(interval, zone, anchor)
    fires = list(islice(clock.fires(after), 30))
    assert len(fires) == 30
    assert all(a < b for a, b in pairwise(fires))
    assert all(f.microsecond == 0 and f.tzinfo is UTC for f in fires)
    # fires() and repeated next_fire() agree.
    current, stepped = after, []
    for _ in range(30):
        current = clock.next_fire(current)  # type: ignore[assignment]
        stepped.append(current)
    assert stepped == fires


@dataclass(frozen=True, kw_only=True, eq=False)
class OpaqueClock(Clock):
    """Another clock under a type catch-up does not know: forces its generic search."""

    inner: Clock

    def next_fire(self, after: datetime) -> datetime | None:
        return self.inner.next_fire(after)

    @property
    def kind(self) -> str:
        return "opaque"

    def describe(self) -> str:
        return "opaque"


@SETTINGS
@given(
    interval=INTERVALS,
    zone=ZONES,
    anchor=INSTANTS,
    offset=st.integers(-86400, 200 * 86400),
    outage=st.integers(0, 120 * 86400),
    limit=st.integers(1, 12),
)
def test_catchup_returns_the_most_recent_missed_fires(
    interval: pendulum.Duration,
    zone: str,
    anchor: datetime,
    offset: int,
    outage: int,
    limit: int,
) -> None:
    clock = make(interval, zone, anchor)
    last = anchor + timedelta(seconds=offset)
    now = last + timedelta(seconds=outage)
    missed = list(clock.fires(last, now))  # the slow, obvious answer
    for subject in (clock, OpaqueClock(name="o", inner=clock)):
        assert missed_fires(subject, last, now, "all", limit) == missed[-limit:]
        assert missed_fires(subject, last, now, "latest", limit) == missed[-1:]
        assert missed_fires(subject, last, now, "none", limit) == []


@SETTINGS
@given(
    clocks=st.lists(
        st.one_of(
            st.builds(make, interval=INTERVALS, zone=ZONES, anchor=INSTANTS),
            st.builds(
                lambda dates: DatesClock(name="d", dates=tuple(dates)),
                st.lists(INSTANTS, min_size=1, max_size=5),
            ),
        ),
        max_size=4,
    ),
    after=INSTANTS,
)
def test_merge_fires_is_in_time_order_and_each_clock_in_its_own_order(
    clocks: list[Clock], after: datetime
) -> None:
    merged = list(islice(merge_fires(clocks, after), 60))
    times = [(fire.time, clocks.index(fire.clock)) for fire in merged]
    assert times == sorted(times)  # time order; simultaneous fires in clock order
    assert len(set(times)) == len(times)  # one fire per clock and instant
    for position, clock in enumerate(clocks):
        own = [fire.time for fire in merged if fire.clock is clock]
        assert own == list(islice(clock.fires(after), len(own)))
        assert all(t > after for t in own)
        assert position == clocks.index(clock)
