"""Interval clocks: k-th fire = start + k × interval (spec 2.3), written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
import pytest

from clocks.durations import parse_duration
from clocks.errors import ClockError
from clocks.interval import IntervalClock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def clock(interval: str, start: str | None, zone: str = "UTC", **extra: object) -> IntervalClock:
    return IntervalClock(
        name="c",
        interval=parse_duration(interval),
        timezone=zone,
        start=None if start is None else at(start),
        **extra,  # type: ignore[arg-type]
    )


def local_fires(c: IntervalClock, after: str, count: int) -> list[str]:
    zone = ZoneInfo(c.timezone)
    result = []
    for fire in c.fires(at(after)):
        assert fire.tzinfo is UTC
        result.append(fire.astimezone(zone).isoformat())
        if len(result) == count:
            break
    return result


# Transitions in 2025 (zoneinfo):
#   Europe/Berlin        03-30 02:00+01:00 → 03:00+02:00;  10-26 03:00+02:00 → 02:00+01:00
#   America/New_York     03-09 02:00-05:00 → 03:00-04:00;  11-02 02:00-04:00 → 01:00-05:00
#   Australia/Lord_Howe  04-06 02:00+11:00 → 01:30+10:30;  10-05 02:00+10:30 → 02:30+11:00
#   America/Santiago     04-06 00:00-03:00 → 04-05 23:00-04:00;  09-07 00:00-04:00 → 01:00-03:00
CASES = [
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-03-28T09:00:00+01:00",
        "2025-03-01T00:00:00+00:00",
        [
            "2025-03-28T09:00:00+01:00",
            "2025-03-29T09:00:00+01:00",
            "2025-03-30T09:00:00+02:00",
            "2025-03-31T09:00:00+02:00",
        ],
        id="berlin-1d-0900-stays-0900-spring",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-10-24T09:00:00+02:00",
        "2025-10-01T00:00:00+00:00",
        [
            "2025-10-24T09:00:00+02:00",
            "2025-10-25T09:00:00+02:00",
            "2025-10-26T09:00:00+01:00",
            "2025-10-27T09:00:00+01:00",
        ],
        id="berlin-1d-0900-stays-0900-fall",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-07-01T09:00:00+02:00",
        "2025-10-25T12:00:00+02:00",
        ["2025-10-26T09:00:00+01:00", "2025-10-27T09:00:00+01:00"],
        id="berlin-1d-anchored-months-before-fall",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-04-01T09:00:00+02:00",
        "2025-03-01T00:00:00+00:00",
        ["2025-04-01T09:00:00+02:00", "2025-04-02T09:00:00+02:00"],
        id="berlin-1d-anchored-after-spring",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-03-29T02:30:00+01:00",
        "2025-03-29T00:00:00+00:00",
        ["2025-03-29T02:30:00+01:00", "2025-03-30T03:30:00+02:00", "2025-03-31T02:30:00+02:00"],
        id="berlin-1d-gap-moves-forward-by-the-gap",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-10-25T02:30:00+02:00",
        "2025-10-25T00:00:00+00:00",
        ["2025-10-25T02:30:00+02:00", "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"],
        id="berlin-1d-fold-first-occurrence",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-10-26T02:30:00+01:00",
        "2025-10-26T00:00:00+00:00",
        ["2025-10-26T02:30:00+01:00", "2025-10-27T02:30:00+01:00"],
        id="berlin-1d-explicit-offset-start-taken-as-given",
    ),
    pytest.param(
        "1d",
        "Europe/Berlin",
        "2025-03-29T08:00:00+00:00",
        "2025-03-29T00:00:00+00:00",
        ["2025-03-29T09:00:00+01:00", "2025-03-30T09:00:00+02:00"],
        id="berlin-1d-utc-start-keeps-berlin-wall-time",
    ),
    pytest.param(
        "5m",
        "Europe/Berlin",
        "2025-10-26T02:45:00+02:00",
        "2025-10-26T00:00:00+00:00",
        [
            "2025-10-26T02:45:00+02:00",
            "2025-10-26T02:50:00+02:00",
            "2025-10-26T02:55:00+02:00",
            "2025-10-26T02:00:00+01:00",
            "2025-10-26T02:05:00+01:00",
        ],
        id="berlin-5m-elapsed-across-fall-back",
    ),
    pytest.param(
        "1h",
        "Europe/Berlin",
        "2025-03-30T00:30:00+01:00",
        "2025-03-29T00:00:00+00:00",
        [
            "2025-03-30T00:30:00+01:00",
            "2025-03-30T01:30:00+01:00",
            "2025-03-30T03:30:00+02:00",
            "2025-03-30T04:30:00+02:00",
        ],
        id="berlin-1h-elapsed-across-spring-forward",
    ),
    pytest.param(
        "1d12h",
        "Europe/Berlin",
        "2025-03-28T09:00:00+01:00",
        "2025-03-28T00:00:00+00:00",
        [
            "2025-03-28T09:00:00+01:00",
            "2025-03-29T21:00:00+01:00",
            "2025-03-31T09:00:00+02:00",
            "2025-04-01T21:00:00+02:00",
        ],
        id="berlin-1d12h-calendar-day-then-elapsed-hours",
    ),
    pytest.param(
        "36h",
        "Europe/Berlin",
        "2025-03-28T09:00:00+01:00",
        "2025-03-28T00:00:00+00:00",
        ["2025-03-28T09:00:00+01:00", "2025-03-29T21:00:00+01:00", "2025-03-31T10:00:00+02:00"],
        id="berlin-36h-elapsed",
    ),
    pytest.param(
        "1d",
        "America/New_York",
        "2025-03-08T02:30:00-05:00",
        "2025-03-08T00:00:00+00:00",
        ["2025-03-08T02:30:00-05:00", "2025-03-09T03:30:00-04:00", "2025-03-10T02:30:00-04:00"],
        id="new-york-1d-gap",
    ),
    pytest.param(
        "1d",
        "America/New_York",
        "2025-11-01T01:30:00-04:00",
        "2025-11-01T00:00:00+00:00",
        ["2025-11-01T01:30:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"],
        id="new-york-1d-fold",
    ),
    pytest.param(
        "P1W",
        "America/New_York",
        "2025-10-27T09:00:00-04:00",
        "2025-10-01T00:00:00+00:00",
        ["2025-10-27T09:00:00-04:00", "2025-11-03T09:00:00-05:00", "2025-11-10T09:00:00-05:00"],
        id="new-york-1w-keeps-wall-time",
    ),
    pytest.param(
        "1d",
        "Australia/Lord_Howe",
        "2025-10-04T02:15:00+10:30",
        "2025-10-01T00:00:00+00:00",
        ["2025-10-04T02:15:00+10:30", "2025-10-05T02:45:00+11:00", "2025-10-06T02:15:00+11:00"],
        id="lord-howe-1d-30min-gap",
    ),
    pytest.param(
        "1d",
        "Australia/Lord_Howe",
        "2025-04-05T01:45:00+11:00",
        "2025-04-01T00:00:00+00:00",
        ["2025-04-05T01:45:00+11:00", "2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"],
        id="lord-howe-1d-30min-fold",
    ),
    pytest.param(
        "30m",
        "Australia/Lord_Howe",
        "2025-04-06T01:00:00+11:00",
        "2025-04-01T00:00:00+00:00",
        [
            "2025-04-06T01:00:00+11:00",
            "2025-04-06T01:30:00+11:00",
            "2025-04-06T01:30:00+10:30",
            "2025-04-06T02:00:00+10:30",
        ],
        id="lord-howe-30m-elapsed-fold",
    ),
    pytest.param(
        "1d",
        "America/Santiago",
        "2025-09-05T00:00:00-04:00",
        "2025-09-01T00:00:00+00:00",
        [
            "2025-09-05T00:00:00-04:00",
            "2025-09-06T00:00:00-04:00",
            "2025-09-07T01:00:00-03:00",
            "2025-09-08T00:00:00-03:00",
        ],
        id="santiago-1d-midnight-missing",
    ),
    pytest.param(
        "1d",
        "America/Santiago",
        "2025-04-04T23:30:00-03:00",
        "2025-04-01T00:00:00+00:00",
        ["2025-04-04T23:30:00-03:00", "2025-04-05T23:30:00-03:00", "2025-04-06T23:30:00-04:00"],
        id="santiago-1d-fold-before-midnight",
    ),
    pytest.param(
        "P1M",
        "Europe/Berlin",
        "2025-01-31T09:00:00+01:00",
        "2025-01-01T00:00:00+00:00",
        [
            "2025-01-31T09:00:00+01:00",
            "2025-02-28T09:00:00+01:00",
            "2025-03-31T09:00:00+02:00",
            "2025-04-30T09:00:00+02:00",
            "2025-05-31T09:00:00+02:00",
        ],
        id="month-end-jan-31-clamps-from-the-anchor",
    ),
    pytest.param(
        "P1M",
        "UTC",
        "2024-01-31T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
        ["2024-01-31T00:00:00+00:00", "2024-02-29T00:00:00+00:00", "2024-03-31T00:00:00+00:00"],
        id="month-end-leap-year",
    ),
    pytest.param(
        "P1M",
        "UTC",
        "2025-01-30T06:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        ["2025-02-28T06:00:00+00:00", "2025-03-30T06:00:00+00:00"],
        id="month-30th",
    ),
    pytest.param(
        "P1Y",
        "UTC",
        "2024-02-29T12:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
        [
            "2024-02-29T12:00:00+00:00",
            "2025-02-28T12:00:00+00:00",
            "2026-02-28T12:00:00+00:00",
            "2027-02-28T12:00:00+00:00",
            "2028-02-29T12:00:00+00:00",
        ],
        id="feb-29-plus-1y",
    ),
    pytest.param(
        "P1M",
        "UTC",
        "2025-01-31T00:00:00+00:00",
        "2025-06-15T00:00:00+00:00",
        ["2025-06-30T00:00:00+00:00", "2025-07-31T00:00:00+00:00", "2025-08-31T00:00:00+00:00"],
        id="month-end-far-from-anchor-does-not-drift",
    ),
]


@pytest.mark.parametrize(("interval", "zone", "start", "after", "expected"), CASES)
def test_fires(interval: str, zone: str, start: str, after: str, expected: list[str]) -> None:
    c = clock(interval, start, zone)
    assert local_fires(c, after, len(expected)) == expected


@pytest.mark.parametrize(("interval", "zone", "start", "after", "expected"), CASES)
def test_next_fire_agrees_with_fires(
    interval: str, zone: str, start: str, after: str, expected: list[str]
) -> None:
    c = clock(interval, start, zone)
    current = at(after)
    for text in expected:
        fire = c.next_fire(current)
        assert fire == at(text)
        current = fire


BOUNDS = [
    pytest.param("2025-12-31T00:00:00+00:00", "2026-01-01T00:00:00+00:00", id="before-start"),
    pytest.param("2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00+00:00", id="at-start"),
    pytest.param("2026-01-01T00:30:00+00:00", "2026-01-01T01:00:00+00:00", id="between"),
    pytest.param("2026-01-01T00:59:59.999+00:00", "2026-01-01T01:00:00+00:00", id="just-before"),
    pytest.param("2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00", id="on-a-fire"),
    pytest.param("2026-01-01T02:00:00+00:00", None, id="last-before-end"),
    pytest.param("2026-01-01T05:00:00+00:00", None, id="after-end"),
]


@pytest.mark.parametrize(("after", "expected"), BOUNDS)
def test_start_and_end_bound_the_fires(after: str, expected: str | None) -> None:
    c = clock("1h", "2026-01-01T00:00:00+00:00", end=at("2026-01-01T02:30:00+00:00"))
    fire = c.next_fire(at(after))
    assert fire == (None if expected is None else at(expected))


def test_fires_stop_at_end_and_until() -> None:
    c = clock("1h", "2026-01-01T00:00:00+00:00", end=at("2026-01-01T03:00:00+00:00"))
    assert [f.hour for f in c.fires(at("2025-01-01T00:00:00+00:00"))] == [0, 1, 2, 3]
    until = at("2026-01-01T01:00:00+00:00")
    assert [f.hour for f in c.fires(at("2025-01-01T00:00:00+00:00"), until)] == [0, 1]


def test_previous_fire() -> None:
    c = clock("1h", "2026-01-01T00:00:00+00:00", end=at("2026-01-01T02:30:00+00:00"))
    assert c.previous_fire(at("2025-12-31T23:59:59+00:00")) is None
    assert c.previous_fire(at("2026-01-01T00:00:00+00:00")) == at("2026-01-01T00:00:00+00:00")
    assert c.previous_fire(at("2026-01-01T01:59:59+00:00")) == at("2026-01-01T01:00:00+00:00")
    assert c.previous_fire(at("2027-01-01T00:00:00+00:00")) == at("2026-01-01T02:00:00+00:00")


def test_unanchored_clock_refuses_to_compute() -> None:
    c = clock("5m", None)
    with pytest.raises(ClockError, match="interval clock 'c' has no anchor"):
        c.next_fire(at("2026-01-01T00:00:00+00:00"))


def test_anchored_sets_the_anchor_to_the_whole_second() -> None:
    c = clock("5m", None)
    anchored = c.anchored(at("2026-01-01T10:00:07.900+00:00"))
    assert c.start is None
    assert anchored.start == at("2026-01-01T10:00:07+00:00")
    assert anchored.next_fire(at("2026-01-01T10:01:00+00:00")) == at("2026-01-01T10:05:07+00:00")
    assert anchored.name == "c"
    assert anchored.interval == timedelta(minutes=5)


def test_anchored_keeps_an_existing_anchor() -> None:
    c = clock("5m", "2026-01-01T00:00:00+00:00")
    assert c.anchored(at("2026-06-01T00:00:00+00:00")).start == at("2026-01-01T00:00:00+00:00")


def test_naive_start_is_wall_time_in_the_zone() -> None:
    c = IntervalClock(
        name="c",
        interval=parse_duration("1d"),
        timezone="Europe/Berlin",
        start=datetime(2026, 1, 1, 9, 0),
    )
    assert c.start == at("2026-01-01T08:00:00+00:00")


@pytest.mark.parametrize(
    ("interval", "zone", "expected"),
    [
        pytest.param("5m", "Europe/Berlin", "every 5m", id="elapsed"),
        pytest.param("1d", "UTC", "every 1d", id="calendar-utc"),
        pytest.param("P1M", "Europe/Berlin", "every 1mo (Europe/Berlin)", id="calendar-zone"),
    ],
)
def test_describe(interval: str, zone: str, expected: str) -> None:
    c = clock(interval, None, zone)
    assert c.describe() == expected
    assert c.kind == "interval"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"interval": timedelta(0)}, "greater than zero", id="zero"),
        pytest.param({"interval": timedelta(seconds=-5)}, "greater than zero", id="negative"),
        pytest.param(
            {"interval": timedelta(seconds=1, microseconds=5)}, "whole seconds", id="sub-second"
        ),
        pytest.param(
            {"interval": timedelta(hours=1), "timezone": "Mars/Olympus"},
            "unknown time zone 'Mars/Olympus'",
            id="unknown-zone",
        ),
        pytest.param(
            {
                "interval": timedelta(hours=1),
                "start": datetime(2026, 1, 2, tzinfo=UTC),
                "end": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "is before start",
            id="end-before-start",
        ),
    ],
)
def test_it_refuses_a_clock_that_cannot_work(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ClockError, match=message):
        IntervalClock(name="c", **kwargs)  # type: ignore[arg-type]


def test_k_th_fire_is_computed_from_the_anchor_far_away() -> None:
    c = clock("1s", "2000-01-01T00:00:00+00:00")
    # 10^9 seconds later, found without stepping: 2031-09-09T01:46:40Z is fire 10^9.
    assert c.next_fire(at("2031-09-09T01:46:39.5+00:00")) == at("2031-09-09T01:46:40+00:00")
    assert c.index_after(at("2031-09-09T01:46:40+00:00")) == 1_000_000_001


def test_one_day_interval_over_100000_fires_keeps_the_anchors_wall_time() -> None:
    # How long it takes: benchmarks/model.py, beside pendulum adding days.
    c = clock("1d", "2025-01-01T09:00:00+01:00", "Europe/Berlin")
    count, previous, last = 0, None, None
    for last in c.fires(at("2024-12-31T00:00:00+00:00")):
        assert previous is None or last > previous
        previous = last
        count += 1
        if count == 100_000:
            break
    assert last is not None
    # Fire 99,999 is 99,999 days after 2025-01-01, still at 09:00 Berlin time.
    assert last.astimezone(ZoneInfo("Europe/Berlin")).isoformat() == "2298-10-16T09:00:00+02:00"
    # The same fire straight from the anchor, with next_fire.
    assert c.next_fire(at("2298-10-16T06:00:00+00:00")) == last


def test_a_pendulum_duration_built_in_code_works_too() -> None:
    c = IntervalClock(
        name="c",
        interval=pendulum.duration(months=1),
        start=datetime(2025, 1, 31, tzinfo=UTC),
    )
    assert c.next_fire(datetime(2025, 1, 31, tzinfo=UTC)) == datetime(2025, 2, 28, tzinfo=UTC)
