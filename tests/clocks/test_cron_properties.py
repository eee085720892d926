"""Properties of cron clocks over generated expressions (spec 2.3, 2.4).

- fires strictly increase, are whole seconds in UTC and match the expression in local wall
  time, except fixed-time fires moved out of a spring-forward gap;
- around real DST transitions, fires equal a brute-force reading of the spec rules, minute by minute;
- in UTC, fires agree with croniter for the syntax both read the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clocks.cron import CronClock
from clocks.errors import ClockError
from clocks.localtime import first_instant, get_zone, to_wall

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MINUTE = timedelta(minutes=1)

# Real 2025 transitions (UTC instants), spring (gap) and fall (fold):
# Berlin 03-30 02:00+01→03:00+02, 10-26 03:00+02→02:00+01; New York 03-09 02:00-05→03:00-04,
# 11-02 02:00-04→01:00-05; Lord Howe 04-06 02:00+11→01:30+10:30, 10-05 02:00+10:30→02:30+11;
# Santiago 04-06 00:00-03→04-05 23:00-04, 09-07 00:00-04→01:00-03.
TRANSITIONS = [
    ("Europe/Berlin", datetime(2025, 3, 30, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2025, 10, 26, 1, tzinfo=UTC)),
    ("America/New_York", datetime(2025, 3, 9, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2025, 11, 2, 6, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2025, 4, 5, 15, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2025, 10, 4, 15, 30, tzinfo=UTC)),
    ("America/Santiago", datetime(2025, 4, 6, 3, tzinfo=UTC)),
    ("America/Santiago", datetime(2025, 9, 7, 4, tzinfo=UTC)),
]
ZONES = sorted({zone for zone, _ in TRANSITIONS} | {"UTC"})


def items(low: int, high: int, *, star: bool = True) -> st.SearchStrategy[str]:
    """One list item: a number, a range a-b (a < b), a step over * / a range / a start."""
    number = st.integers(low, high)
    pair = st.tuples(number, number).filter(lambda ab: ab[0] < ab[1])
    step = st.integers(1, high - low + 1)
    options = [
        number.map(str),
        pair.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.tuples(pair, step).map(lambda p: f"{p[0][0]}-{p[0][1]}/{p[1]}"),
    ]
    if star:
        options.append(step.map(lambda n: f"*/{n}"))
    return st.one_of(*options)


def field(low: int, high: int, *, star: bool = True) -> st.SearchStrategy[str]:
    listed = st.lists(items(low, high, star=star), min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed) if star else listed


# Day fields both croniter and clocks read the same way: one of them exactly "*", or both
# restricted without a leading "*" (croniter ORs `*/2` with a weekday; cronie ANDs it).
DAYS = st.one_of(
    st.tuples(field(1, 31), st.just("*")),
    st.tuples(st.just("*"), field(0, 6)),
    st.tuples(field(1, 31, star=False), field(0, 6, star=False)),
)


@st.composite
def plain_expressions(draw: st.DrawFn) -> str:
    dom, dow = draw(DAYS)
    return " ".join([draw(field(0, 59)), draw(field(0, 23)), dom, draw(field(1, 12)), dow])


DAY_EXTENSIONS = st.sampled_from(["L", "LW", "15W", "1W", "31W", "L,1", "L,15W"])
WEEKDAY_EXTENSIONS = st.sampled_from(["5L", "L1", "FRI#2", "1#5,L0", "SUN", "mon-fri"])


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """Any accepted syntax, biased towards the hours where DST changes happen."""
    minute = draw(
        st.one_of(st.sampled_from(["0", "30", "*/15", "*/20", "10-50/20", "45", "*"]), field(0, 59))
    )
    hour = draw(
        st.one_of(
            st.sampled_from(["*", "*/2", "0", "1", "2", "1-3", "0,2", "23", "22-23"]), field(0, 23)
        )
    )
    dom, month, dow = "*", "*", "*"
    if draw(st.booleans()):
        dom = draw(st.one_of(field(1, 31), DAY_EXTENSIONS))
    if draw(st.booleans()):
        dow = draw(st.one_of(field(0, 7), WEEKDAY_EXTENSIONS))
    if draw(st.booleans()):
        month = draw(field(1, 12))
    fields = [minute, hour, dom, month, dow]
    if draw(st.booleans()):
        fields.insert(0, draw(st.sampled_from(["0", "30", "*/20", "15,45"])))
    return " ".join(fields)


def clock_or_skip(expression: str, timezone: str) -> CronClock:
    try:
        return CronClock(name="p", expression=expression, timezone=timezone)
    except ClockError as error:
        assume("never fires" not in str(error))
        raise


def take(clock: CronClock, after: datetime, count: int) -> list[datetime]:
    fires = []
    for fire in clock.fires(after):
        fires.append(fire)
        if len(fires) == count:
            break
    return fires


NEAR_TRANSITIONS = st.tuples(st.sampled_from(TRANSITIONS), st.integers(-7200, 7200)).map(
    lambda t: (t[0][0], t[0][1] + timedelta(seconds=t[1]))
)
ANYWHERE = st.tuples(
    st.sampled_from(ZONES),
    st.datetimes(datetime(2024, 6, 1), datetime(2026, 6, 1), timezones=st.just(UTC)),
)


@SETTINGS
@given(expression=expressions(), where=st.one_of(NEAR_TRANSITIONS, ANYWHERE))
def test_fires_increase_and_match_in_wall_time(
    expression: str, where: tuple[str, datetime]
) -> None:
    timezone, after = where
    clock = clock_or_skip(expression, timezone)
    zone, cron = get_zone(timezone), clock.cron
    fires = take(clock, after, 12)
    assert fires, "every accepted expression fires"
    previous = after
    for fire in fires:
        assert fire > previous
        assert fire.tzinfo is UTC
        assert fire.microsecond == 0
        previous = fire
        wall = to_wall(fire, zone)
        if cron.matches(wall):
            # A fixed-time expression fires at the first occurrence of a repeated wall time only.
            assert cron.is_wildcard or fire == first_instant(wall, zone)
            continue
        # Otherwise: a fixed-time fire moved to the first instant after a gap holding a match.
        assert not cron.is_wildcard
        before = to_wall(fire - timedelta(seconds=1), zone)
        assert to_wall(fire, zone) - before > timedelta(seconds=1), "fire is right after a gap"
        moved = cron.next_wall(before)
        assert moved is not None
        assert moved < wall


def brute_force(clock: CronClock, after: datetime, until: datetime) -> list[datetime]:
    """Spec 2.3 read literally, one minute at a time (5-field expressions, offsets in whole minutes)."""
    zone, cron = get_zone(clock.timezone), clock.cron
    fires = set()
    instant = after.replace(second=0, microsecond=0) + MINUTE
    while instant <= until:
        wall = to_wall(instant, zone)
        if cron.matches(wall) and (cron.is_wildcard or instant == first_instant(wall, zone)):
            fires.add(instant)
        gap_start = to_wall(instant - MINUTE, zone) + MINUTE
        if not cron.is_wildcard and gap_start < wall:  # `instant` ends a gap
            gap = gap_start
            while gap < wall:
                if cron.matches(gap):
                    fires.add(instant)
                    break
                gap += MINUTE
        instant += MINUTE
    return sorted(fires)


@SETTINGS
@given(
    expression=expressions().filter(lambda e: len(e.split()) == 5),
    transition=st.sampled_from(TRANSITIONS),
    lead=st.integers(-120, 180),
)
def test_fires_around_transitions_equal_brute_force(
    expression: str, transition: tuple[str, datetime], lead: int
) -> None:
    timezone, moment = transition
    clock = clock_or_skip(expression, timezone)
    after = moment - timedelta(minutes=lead)
    until = moment + timedelta(hours=3)
    assert list(clock.fires(after, until)) == brute_force(clock, after, until)


@SETTINGS
@given(
    expression=plain_expressions(),
    after=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
)
def test_agrees_with_croniter_in_utc(expression: str, after: datetime) -> None:
    clock = clock_or_skip(expression, "UTC")
    after = after.replace(microsecond=0)
    ours = take(clock, after, 5)
    theirs = croniter(expression, after)
    assert ours == [theirs.get_next(datetime) for _ in ours]


@pytest.mark.parametrize(
    ("timezone", "moment"), TRANSITIONS, ids=[f"{z}-{m:%m-%d}" for z, m in TRANSITIONS]
)
def test_every_second_expression_crosses_transitions(timezone: str, moment: datetime) -> None:
    clock = CronClock(name="s", expression="* * * * * *", timezone=timezone)
    fires = list(clock.fires(moment - timedelta(seconds=3), moment + timedelta(seconds=2)))
    # Wildcard: real time, one fire per second, nothing skipped or repeated.
    assert [int((fire - moment).total_seconds()) for fire in fires] == [-2, -1, 0, 1, 2]
