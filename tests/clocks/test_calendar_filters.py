"""Calendars, moves, exclude and between on clocks of every kind (spec 2.5), as tables written
out by hand. The US federal holidays come from the config side (the `holidays` package)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clocks.calendar import Calendar, Filters
from clocks.cron import CronClock
from clocks.dates import DatesClock
from clocks.filters import FilteredClock
from clocks.interval import IntervalClock
from clocks.rrule import RRuleClock
from scheduler.config.calendars import holiday_dates
from scheduler.config.values import Section

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def us_federal() -> Calendar:
    problems: list = []
    closed = holiday_dates(Section("t.toml", "calendars.us", {}, problems), "US", range(2025, 2028))
    assert closed is not None
    assert not problems
    return Calendar("us", closed=closed)


def local(fires: list[datetime], zone: ZoneInfo) -> list[str]:
    return [fire.astimezone(zone).isoformat() for fire in fires]


def year_2026(clock: FilteredClock | object) -> list[datetime]:
    return list(
        clock.fires(datetime(2026, 1, 1, 5, tzinfo=UTC), datetime(2027, 1, 1, 5, tzinfo=UTC))
    )  # type: ignore[attr-defined]


def test_the_last_business_day_of_each_month_of_2026() -> None:
    clock = FilteredClock.wrap(
        CronClock(name="month-end", expression="0 18 L * *", timezone="America/New_York"),
        Filters(calendar=us_federal(), on_closed_day="previous_business_day"),
    )
    assert local(year_2026(clock), NY) == [
        "2026-01-30T18:00:00-05:00",  # Jan 31 is a Saturday
        "2026-02-27T18:00:00-05:00",  # Feb 28 is a Saturday
        "2026-03-31T18:00:00-04:00",
        "2026-04-30T18:00:00-04:00",
        "2026-05-29T18:00:00-04:00",  # May 31 is a Sunday
        "2026-06-30T18:00:00-04:00",
        "2026-07-31T18:00:00-04:00",
        "2026-08-31T18:00:00-04:00",
        "2026-09-30T18:00:00-04:00",
        "2026-10-30T18:00:00-04:00",  # Oct 31 is a Saturday
        "2026-11-30T18:00:00-05:00",
        "2026-12-31T18:00:00-05:00",
    ]


def test_the_last_business_day_as_an_rrule_with_a_closed_new_years_eve() -> None:
    calendar = Calendar("us", closed={**us_federal().closed, date(2026, 12, 31): "closed"})
    clock = FilteredClock.wrap(
        RRuleClock(
            name="m",
            rule="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            start=datetime(2026, 1, 1, 18),
            timezone="America/New_York",
        ),
        Filters(calendar=calendar, on_closed_day="previous_business_day"),
    )
    assert local(year_2026(clock), NY)[-2:] == [
        "2026-11-30T18:00:00-05:00",
        "2026-12-30T18:00:00-05:00",  # the 31st is closed: the day before
    ]


def test_the_first_or_next_business_day_of_each_month_of_2026() -> None:
    clock = FilteredClock.wrap(
        CronClock(name="first", expression="0 9 1 * *", timezone="America/New_York"),
        Filters(calendar=us_federal(), on_closed_day="next_business_day"),
    )
    assert local(year_2026(clock), NY) == [
        "2026-01-02T09:00:00-05:00",  # New Year's Day
        "2026-02-02T09:00:00-05:00",  # Sunday
        "2026-03-02T09:00:00-05:00",  # Sunday
        "2026-04-01T09:00:00-04:00",
        "2026-05-01T09:00:00-04:00",
        "2026-06-01T09:00:00-04:00",
        "2026-07-01T09:00:00-04:00",
        "2026-08-03T09:00:00-04:00",  # Saturday
        "2026-09-01T09:00:00-04:00",
        "2026-10-01T09:00:00-04:00",
        "2026-11-02T09:00:00-05:00",  # Sunday
        "2026-12-01T09:00:00-05:00",
    ]


def test_a_business_hours_interval_across_the_berlin_spring_change() -> None:
    clock = FilteredClock.wrap(
        IntervalClock(
            name="poll",
            interval=pendulum.duration(minutes=15),
            start=datetime(2026, 3, 1, tzinfo=BERLIN),
            timezone="Europe/Berlin",
        ),
        Filters(calendar=Calendar("weekdays"), between=(time(8), time(18))),
    )
    fires = local(
        list(clock.fires(datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))),
        BERLIN,
    )
    friday = [f for f in fires if f.startswith("2026-03-27")]
    monday = [f for f in fires if f.startswith("2026-03-30")]
    assert len(fires) == 80
    assert len(friday) == 40
    assert len(monday) == 40
    assert (friday[0], friday[-1]) == ("2026-03-27T08:00:00+01:00", "2026-03-27T17:45:00+01:00")
    assert (monday[0], monday[-1]) == ("2026-03-30T08:00:00+02:00", "2026-03-30T17:45:00+02:00")


def test_a_window_that_spans_midnight() -> None:
    clock = FilteredClock.wrap(
        CronClock(name="night", expression="0 * * * *"), Filters(between=(time(22), time(2)))
    )
    fires = clock.fires(datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 2, 12, tzinfo=UTC))
    assert [fire.hour for fire in fires] == [22, 23, 0, 1]


def test_exclude_a_whole_day_and_one_fire() -> None:
    clock = FilteredClock.wrap(
        DatesClock(
            name="d",
            timezone="Europe/Berlin",
            dates=(datetime(2026, 5, 1, 9), datetime(2026, 5, 2, 9), datetime(2026, 5, 2, 10)),
        ),
        Filters(
            exclude_days=frozenset({date(2026, 5, 1)}),
            exclude_times=frozenset({datetime(2026, 5, 2, 9)}),
        ),
    )
    assert local(list(clock.fires(datetime(2026, 1, 1, tzinfo=UTC))), BERLIN) == [
        "2026-05-02T10:00:00+02:00"
    ]


def test_outcomes_say_why_a_fire_moved_or_went() -> None:
    clock = FilteredClock.wrap(
        CronClock(name="c", expression="0 9,20 * * *", timezone="America/New_York"),
        Filters(
            calendar=us_federal(),
            on_closed_day="next_business_day",
            between=(time(8), time(18)),
            exclude_days=frozenset({date(2026, 11, 24)}),
        ),
    )
    seen = [
        (o.original.astimezone(NY).strftime("%m-%d %H"), o.time is not None, o.reason)
        for o in clock.outcomes(
            datetime(2026, 11, 24, 5, tzinfo=UTC), datetime(2026, 11, 28, 5, tzinfo=UTC)
        )
    ]
    assert seen == [
        ("11-24 09", False, "excluded"),
        ("11-24 20", False, "excluded"),
        ("11-25 09", True, None),
        ("11-25 20", False, "outside 08:00–18:00"),
        # A removed fire is listed at its own time: Thursday 20:00 went to Friday 20:00, outside.
        ("11-26 20", False, "outside 08:00–18:00"),
        ("11-27 09", True, None),
        (
            "11-26 09",
            False,
            "moved from 2026-11-26 (closed: Thanksgiving Day (US)): one run with the fire at that time",
        ),
        ("11-27 20", False, "outside 08:00–18:00"),
    ]


def test_a_moved_fire_is_the_fire_and_merges_with_the_clock_own() -> None:
    clock = FilteredClock.wrap(
        CronClock(name="c", expression="0 9 * * *", timezone="America/New_York"),
        Filters(calendar=us_federal(), on_closed_day="next_business_day"),
    )
    fires = list(
        clock.fires(datetime(2026, 11, 25, 15, tzinfo=UTC), datetime(2026, 12, 1, 15, tzinfo=UTC))
    )
    assert local(fires, NY) == [
        "2026-11-27T09:00:00-05:00",  # Thursday's fire moved onto Friday's: one fire
        "2026-11-30T09:00:00-05:00",  # Saturday's and Sunday's moved onto Monday's
        "2026-12-01T09:00:00-05:00",
    ]
    assert clock.next_fire(datetime(2026, 11, 28, tzinfo=UTC)) == fires[1]


def test_a_move_goes_at_most_31_days() -> None:
    closed = {date(2026, 1, 1) + timedelta(days=k): "shut" for k in range(40)}
    clock = FilteredClock.wrap(
        CronClock(name="c", expression="0 9 1 1 *"),
        Filters(
            calendar=Calendar("c", closed=closed, weekend=frozenset()),
            on_closed_day="next_business_day",
        ),
    )
    [outcome] = clock.outcomes(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    assert outcome.time is None
    assert outcome.reason == "closed: shut; no open day within 31 days"


@pytest.mark.parametrize("policy", ["skip", "next_business_day", "previous_business_day"])
def test_next_fire_agrees_with_outcomes(policy: str) -> None:
    clock = FilteredClock.wrap(
        IntervalClock(
            name="i",
            interval=pendulum.duration(hours=5),
            start=datetime(2026, 1, 1, tzinfo=UTC),
            timezone="America/New_York",
        ),
        Filters(calendar=us_federal(), on_closed_day=policy, between=(time(7), time(19))),
    )
    after = datetime(2026, 11, 20, tzinfo=UTC)
    kept = [
        o.time
        for o in clock.outcomes(after, datetime(2026, 12, 10, tzinfo=UTC))
        if o.time is not None
    ]
    walked = list(clock.fires(after, datetime(2026, 12, 10, tzinfo=UTC)))
    assert walked == kept
    assert len(kept) > 20


@st.composite
def filtered_clocks(draw: st.DrawFn) -> FilteredClock:
    zone = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
    kind = draw(st.sampled_from(["cron", "interval", "rrule"]))
    if kind == "cron":
        inner = CronClock(name="c", timezone=zone, expression=draw(st.sampled_from(["0 9 * * *", "*/45 * * * *", "30 2 * * *", "0 18 L * *", "0 */7 * * *"])))  # fmt: skip
    elif kind == "interval":
        hours = draw(st.integers(1, 30))
        inner = IntervalClock(name="i", timezone=zone, interval=pendulum.duration(hours=hours), start=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    else:
        rule = draw(st.sampled_from(["FREQ=DAILY;BYHOUR=2,9,23", "FREQ=WEEKLY;BYDAY=SA,MO", "FREQ=HOURLY;INTERVAL=5"]))  # fmt: skip
        inner = RRuleClock(name="r", timezone=zone, rule=rule, start=datetime(2026, 1, 1, 2, 30))
    closed = draw(st.sets(st.dates(date(2026, 3, 1), date(2026, 5, 1)), max_size=12))
    weekend = draw(st.frozensets(st.integers(0, 6), max_size=3))
    calendar = draw(st.none() | st.just(Calendar("c", closed=dict.fromkeys(closed, "shut"), weekend=weekend)))  # fmt: skip
    between = draw(st.none() | st.tuples(st.integers(0, 23), st.integers(0, 23)).filter(lambda p: p[0] != p[1]).map(lambda p: (time(p[0]), time(p[1]))))  # fmt: skip
    exclude = draw(st.frozensets(st.dates(date(2026, 3, 1), date(2026, 5, 1)), max_size=5))
    on_the_hour = st.builds(
        lambda day, hour: datetime.combine(day, time(hour)),
        st.dates(date(2026, 2, 25), date(2026, 4, 10)),
        st.integers(0, 23),
    )
    exclude_times = draw(st.frozensets(on_the_hour, max_size=40))
    filters = Filters(
        calendar=calendar,
        on_closed_day=draw(st.sampled_from(["skip", "next_business_day", "previous_business_day"])),
        between=between,
        exclude_days=exclude,
        exclude_times=exclude_times,
    )
    return FilteredClock(inner=inner, filters=filters, name="f", timezone=zone, start=inner.start)


@settings(max_examples=60, deadline=None)
@given(clock=filtered_clocks(), offset=st.integers(0, 60 * 24 * 40))
def test_next_fire_is_the_first_kept_outcome(clock: FilteredClock, offset: int) -> None:
    """The fast walks of next_fire (jumps, landing days) give what `fate` decides, fire by fire."""
    after = datetime(2026, 2, 25, tzinfo=UTC) + timedelta(minutes=offset)
    until = after + timedelta(days=10)
    kept = [o.time for o in clock.outcomes(after, until) if o.time is not None]
    walked = []
    moment = clock.next_fire(after)
    while moment is not None and moment <= until:
        walked.append(moment)
        moment = clock.next_fire(moment)
    assert walked == kept


@pytest.mark.parametrize("policy", ["next_business_day", "previous_business_day"])
@pytest.mark.parametrize("expression", ["0 9 1 1 *", "0 9 4 7 *", "0 9 1,15 * *"])
def test_sparse_clocks_walk_past_empty_blocks_of_days(policy: str, expression: str) -> None:
    # A walk past weeks without a fire jumps to the next own fire's block (or, moving back, to
    # the block its fire lands in); it must meet every fire `fate` keeps, over 3 years.
    clock = FilteredClock.wrap(
        CronClock(name="c", expression=expression, timezone="America/New_York"),
        Filters(calendar=us_federal(), on_closed_day=policy),
    )
    after, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC)
    kept = [o.time for o in clock.outcomes(after, until) if o.time is not None]
    assert list(clock.fires(after, until)) == kept
    assert len(kept) >= 3
    if expression == "0 9 1 1 *":  # New Year's Day is always closed: the fire always moves
        days = [moment.astimezone(NY).date() for moment in kept]
        expected = {
            "next_business_day": [date(2025, 1, 2), date(2026, 1, 2), date(2027, 1, 4)],
            # 2025-01-01 moves before `after`; 2027-12-31 is New Year's Day 2028 observed.
            "previous_business_day": [date(2025, 12, 31), date(2026, 12, 31), date(2027, 12, 30)],
        }[policy]
        assert days == expected
