"""A job's clocks merged in time order; simultaneous fires one per clock (spec 2.3, 4 `next`)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clocks.base import Clock
from clocks.dates import DatesClock
from clocks.durations import parse_duration
from clocks.errors import ClockError
from clocks.interval import IntervalClock
from clocks.schedule import Fire, Schedule, merge_fires


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def every(name: str, interval: str, start: str, **extra: object) -> IntervalClock:
    return IntervalClock(
        name=name,
        interval=parse_duration(interval),
        start=at(start),
        **extra,  # type: ignore[arg-type]
    )


HOURLY = every("hourly", "1h", "2026-01-01T00:00:00+00:00")
HALF = every("half", "30m", "2026-01-01T00:00:00+00:00")
DATES = DatesClock(
    name="dates", dates=(at("2026-01-01T01:00:00+00:00"), at("2026-01-01T01:15:00+00:00"))
)


def listing(fires: list[Fire]) -> list[tuple[str, str]]:
    return [(fire.time.strftime("%H:%M"), fire.clock.name) for fire in fires]


ORDERS = [
    pytest.param(
        [HOURLY, HALF, DATES],
        [
            ("00:00", "hourly"),
            ("00:00", "half"),
            ("00:30", "half"),
            ("01:00", "hourly"),
            ("01:00", "half"),
            ("01:00", "dates"),
            ("01:15", "dates"),
            ("01:30", "half"),
        ],
        id="listed-order",
    ),
    pytest.param(
        [DATES, HALF, HOURLY],
        [
            ("00:00", "half"),
            ("00:00", "hourly"),
            ("00:30", "half"),
            ("01:00", "dates"),
            ("01:00", "half"),
            ("01:00", "hourly"),
            ("01:15", "dates"),
            ("01:30", "half"),
        ],
        id="reversed-order",
    ),
]


@pytest.mark.parametrize(("clocks", "expected"), ORDERS)
def test_simultaneous_fires_give_one_fire_per_clock_in_clock_order(
    clocks: list[Clock], expected: list[tuple[str, str]]
) -> None:
    fires = list(
        merge_fires(clocks, at("2025-12-31T23:00:00+00:00"), at("2026-01-01T01:30:00+00:00"))
    )
    assert listing(fires) == expected
    assert all(fire.parameters is None for fire in fires)
    assert all(fire.time.tzinfo is UTC for fire in fires)


def test_fires_are_strictly_after_after_and_until_is_inclusive() -> None:
    fires = merge_fires(
        [HOURLY, HALF], at("2026-01-01T00:00:00+00:00"), at("2026-01-01T01:00:00+00:00")
    )
    assert listing(list(fires)) == [("00:30", "half"), ("01:00", "hourly"), ("01:00", "half")]


def test_disabled_clocks_do_not_fire() -> None:
    disabled = every("off", "1m", "2026-01-01T00:00:00+00:00", enabled=False)
    fires = merge_fires([disabled, HOURLY], at("2025-12-31T23:59:59+00:00"))
    assert listing(list(islice(fires, 2))) == [("00:00", "hourly"), ("01:00", "hourly")]


def test_an_ended_clock_drops_out_and_the_others_go_on() -> None:
    fires = merge_fires([DATES, HOURLY], at("2026-01-01T00:30:00+00:00"))
    assert listing(list(islice(fires, 5))) == [
        ("01:00", "dates"),
        ("01:00", "hourly"),
        ("01:15", "dates"),
        ("02:00", "hourly"),
        ("03:00", "hourly"),
    ]


def test_no_clocks_no_fires() -> None:
    assert list(merge_fires([], at("2026-01-01T00:00:00+00:00"))) == []


def test_an_unanchored_interval_clock_is_refused() -> None:
    unanchored = IntervalClock(name="u", interval=parse_duration("5m"))
    with pytest.raises(ClockError, match="no anchor"):
        list(merge_fires([unanchored], at("2026-01-01T00:00:00+00:00")))


# --- Schedule: fires with resolved parameters -------------------------------------------

DECLARATIONS: dict[str, dict[str, Any]] = {
    "x": {"type": "integer", "minimum": 0},
    "day": {"type": "date", "default": "{{ scheduled_time.subtract(days=1).to_date_string() }}"},
    "tag": {"type": "string", "default": "{{ job }}/{{ clock }}"},
}


def berlin_clocks() -> list[Clock]:
    # Europe/Berlin is +01:00 in March before the 29th: 00:30 local is 23:30 UTC the day before,
    # so `day` shows whether scheduled_time was rendered in the clock's zone.
    small = IntervalClock(
        name="small",
        interval=parse_duration("1d"),
        timezone="Europe/Berlin",
        start=at("2026-03-01T00:30:00+01:00"),
        parameter_defaults={"x": 9},
    )
    large = DatesClock(
        name="large",
        timezone="Europe/Berlin",
        dates=(at("2026-03-02T00:30:00"),),
        parameter_defaults={"x": 99, "tag": "fixed"},
    )
    return [small, large]


def test_schedule_resolves_each_fires_parameters_in_the_clocks_zone() -> None:
    from clocks.parameters import ParameterSet

    schedule = Schedule("report", berlin_clocks(), ParameterSet.from_declarations(DECLARATIONS))
    fires = list(schedule.fires(at("2026-02-28T00:00:00+00:00"), at("2026-03-02T12:00:00+00:00")))
    berlin = ZoneInfo("Europe/Berlin")
    assert [(f.time.astimezone(berlin).isoformat(), f.clock.name, f.parameters) for f in fires] == [
        (
            "2026-03-01T00:30:00+01:00",
            "small",
            {"x": 9, "day": "2026-02-28", "tag": "report/small"},
        ),
        (
            "2026-03-02T00:30:00+01:00",
            "small",
            {"x": 9, "day": "2026-03-01", "tag": "report/small"},
        ),
        ("2026-03-02T00:30:00+01:00", "large", {"x": 99, "day": "2026-03-01", "tag": "fixed"}),
    ]


def test_schedule_refuses_a_clock_that_leaves_a_required_parameter_empty() -> None:
    from clocks.parameters import ParameterError, ParameterSet

    bare = every("bare", "1h", "2026-01-01T00:00:00+00:00")
    schedule = Schedule("report", [bare], ParameterSet.from_declarations(DECLARATIONS))
    with pytest.raises(ParameterError, match="required parameter 'x' has no value"):
        next(schedule.fires(at("2026-01-01T00:00:00+00:00")))
