"""Fixed-date clocks (`at`): naive = wall time in the zone, aware = as given (spec 2.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from clocks.dates import DatesClock
from clocks.errors import ClockError


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Transitions in 2025 (zoneinfo):
#   Europe/Berlin     03-30 02:00+01:00 → 03:00+02:00;  10-26 03:00+02:00 → 02:00+01:00
#   America/New_York  03-09 02:00-05:00 → 03:00-04:00;  11-02 02:00-04:00 → 01:00-05:00
#   America/Santiago  09-07 00:00-04:00 → 01:00-03:00
SINGLE = [
    pytest.param("Europe/Berlin", "2026-12-31T23:00:00", "2026-12-31T23:00:00+01:00", id="plain"),
    pytest.param(
        "Europe/Berlin", "2025-03-30T02:30:00", "2025-03-30T03:00:00+02:00", id="berlin-gap"
    ),
    pytest.param(
        "Europe/Berlin", "2025-10-26T02:30:00", "2025-10-26T02:30:00+02:00", id="berlin-fold-first"
    ),
    pytest.param(
        "Europe/Berlin",
        "2025-10-26T02:30:00+01:00",
        "2025-10-26T02:30:00+01:00",
        id="explicit-offset-second-occurrence",
    ),
    pytest.param(
        "Europe/Berlin", "2025-06-01T12:00:00+00:00", "2025-06-01T14:00:00+02:00", id="aware-utc"
    ),
    pytest.param(
        "America/New_York", "2025-03-09T02:30:00", "2025-03-09T03:00:00-04:00", id="new-york-gap"
    ),
    pytest.param(
        "America/New_York",
        "2025-11-02T01:30:00",
        "2025-11-02T01:30:00-04:00",
        id="new-york-fold-first",
    ),
    pytest.param(
        "America/Santiago",
        "2025-09-07T00:00:00",
        "2025-09-07T01:00:00-03:00",
        id="santiago-midnight-gap",
    ),
]


@pytest.mark.parametrize(("zone", "date", "expected"), SINGLE)
def test_a_date_fires_once_at(zone: str, date: str, expected: str) -> None:
    clock = DatesClock(name="d", timezone=zone, dates=(at(date),))
    fire = clock.next_fire(at("2020-01-01T00:00:00+00:00"))
    assert fire is not None
    assert fire.tzinfo is UTC
    assert fire.astimezone(ZoneInfo(zone)).isoformat() == expected
    assert clock.next_fire(fire) is None


def test_dates_are_sorted_and_deduplicated() -> None:
    clock = DatesClock(
        name="d",
        timezone="Europe/Berlin",
        dates=(
            at("2027-12-31T23:00:00"),
            at("2026-12-31T23:00:00"),
            at("2026-12-31T22:00:00+00:00"),  # the same instant as the line above
            at("2025-10-26T02:30:00"),
        ),
    )
    assert [f.isoformat() for f in clock.fires(at("2020-01-01T00:00:00+00:00"))] == [
        "2025-10-26T00:30:00+00:00",
        "2026-12-31T22:00:00+00:00",
        "2027-12-31T22:00:00+00:00",
    ]


DATES = tuple(at(f"2026-0{month}-01T00:00:00+00:00") for month in range(1, 6))
BOUNDED = [
    pytest.param("2025-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00", id="before-start"),
    pytest.param("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", id="strictly-after"),
    pytest.param("2026-02-28T23:59:59.5+00:00", "2026-03-01T00:00:00+00:00", id="sub-second"),
    pytest.param("2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", id="last-at-end"),
    pytest.param("2026-04-01T00:00:00+00:00", None, id="after-end"),
]


@pytest.mark.parametrize(("after", "expected"), BOUNDED)
def test_start_and_end_bound_the_dates(after: str, expected: str | None) -> None:
    clock = DatesClock(
        name="d",
        dates=DATES,
        start=at("2026-02-01T00:00:00+00:00"),
        end=at("2026-04-01T00:00:00+00:00"),
    )
    fire = clock.next_fire(at(after))
    assert fire == (None if expected is None else at(expected))


def test_previous_fire_and_fires_between() -> None:
    clock = DatesClock(name="d", dates=DATES, end=at("2026-04-15T00:00:00+00:00"))
    assert clock.previous_fire(at("2025-12-31T00:00:00+00:00")) is None
    assert clock.previous_fire(at("2026-03-01T00:00:00+00:00")) == at("2026-03-01T00:00:00+00:00")
    assert clock.previous_fire(at("2030-01-01T00:00:00+00:00")) == at("2026-04-01T00:00:00+00:00")
    between = clock.fires_between(at("2026-01-01T00:00:00+00:00"), at("2026-03-01T00:00:00+00:00"))
    assert between == (at("2026-02-01T00:00:00+00:00"), at("2026-03-01T00:00:00+00:00"))


def test_naive_start_and_end_are_wall_time() -> None:
    clock = DatesClock(
        name="d",
        timezone="Europe/Berlin",
        dates=(at("2026-06-01T10:00:00"),),
        start=at("2026-06-01T10:00:00"),
    )
    assert clock.start == at("2026-06-01T08:00:00+00:00")
    assert clock.next_fire(at("2026-01-01T00:00:00+00:00")) == at("2026-06-01T08:00:00+00:00")


def test_it_refuses_an_empty_list() -> None:
    with pytest.raises(ClockError, match="at least one date") as caught:
        DatesClock(name="d", dates=())
    assert caught.value.field == "at"


def test_it_refuses_an_unknown_zone() -> None:
    with pytest.raises(ClockError, match="unknown time zone 'Nowhere/City'"):
        DatesClock(name="d", timezone="Nowhere/City", dates=DATES)


def test_kind_and_describe() -> None:
    one = DatesClock(name="d", timezone="Europe/Berlin", dates=(at("2026-12-31T23:00:00"),))
    assert one.kind == "dates"
    assert one.describe() == "at 2026-12-31T23:00:00+01:00"
    many = DatesClock(name="d", dates=DATES)
    assert many.describe() == (
        "at 5 dates from 2026-01-01T00:00:00+00:00 to 2026-05-01T00:00:00+00:00"
    )
