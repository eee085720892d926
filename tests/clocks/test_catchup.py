"""Fires missed while the daemon was down: none | latest | all, bounded (spec 2.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clocks.base import Clock
from clocks.catchup import missed_fires
from clocks.cron import CronClock
from clocks.dates import DatesClock
from clocks.durations import parse_duration
from clocks.errors import ClockError
from clocks.interval import IntervalClock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def isos(fires: list[datetime]) -> list[str]:
    return [fire.isoformat() for fire in fires]


@dataclass(frozen=True, kw_only=True, eq=False)
class CountingClock(Clock):
    """Another clock, seen through a counter of `next_fire` calls: how much work catch-up did."""

    inner: Clock
    calls: list[int] = field(default_factory=lambda: [0])

    def next_fire(self, after: datetime) -> datetime | None:
        self.calls[0] += 1
        return self.inner.next_fire(after)

    @property
    def kind(self) -> str:
        return self.inner.kind

    def describe(self) -> str:
        return self.inner.describe()


HOURLY = IntervalClock(
    name="hourly", interval=parse_duration("1h"), start=at("2026-01-01T00:00:00+00:00")
)
HOURLY_CASES = [
    pytest.param("none", 100, [], id="none"),
    pytest.param("latest", 100, ["2026-01-01T03:00:00+00:00"], id="latest"),
    pytest.param(
        "all",
        100,
        ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00", "2026-01-01T03:00:00+00:00"],
        id="all-fewer-than-limit",
    ),
    pytest.param(
        "all",
        2,
        ["2026-01-01T02:00:00+00:00", "2026-01-01T03:00:00+00:00"],
        id="all-the-most-recent-limit",
    ),
    pytest.param("all", 0, [], id="all-limit-zero"),
]


@pytest.mark.parametrize(("policy", "limit", "expected"), HOURLY_CASES)
def test_policies(policy: str, limit: int, expected: list[str]) -> None:
    # The fire at last_fire (00:00) already ran; 03:00 is exactly `now` and counts as missed.
    fires = missed_fires(
        HOURLY, at("2026-01-01T00:00:00+00:00"), at("2026-01-01T03:00:00+00:00"), policy, limit
    )
    assert isos(fires) == expected


@pytest.mark.parametrize(
    ("last_fire", "now"),
    [
        pytest.param(None, "2026-01-01T05:00:00+00:00", id="never-fired"),
        pytest.param("2026-01-01T03:00:00+00:00", "2026-01-01T03:00:00+00:00", id="no-time-passed"),
        pytest.param(
            "2026-01-01T03:00:00+00:00", "2026-01-01T01:00:00+00:00", id="clock-went-back"
        ),
        pytest.param("2026-01-01T03:00:00+00:00", "2026-01-01T03:59:59+00:00", id="nothing-due"),
    ],
)
def test_nothing_missed(last_fire: str | None, now: str) -> None:
    last = None if last_fire is None else at(last_fire)
    assert missed_fires(HOURLY, last, at(now), "all", 100) == []


def test_last_fire_before_start_counts_from_start() -> None:
    clock = IntervalClock(
        name="c", interval=parse_duration("1h"), start=at("2026-01-01T10:00:00+00:00")
    )
    fires = missed_fires(
        clock, at("2025-06-01T00:00:00+00:00"), at("2026-01-01T11:30:00+00:00"), "all", 10
    )
    assert isos(fires) == ["2026-01-01T10:00:00+00:00", "2026-01-01T11:00:00+00:00"]


def test_an_ended_clock_catches_up_to_its_end() -> None:
    clock = IntervalClock(
        name="c",
        interval=parse_duration("1h"),
        start=at("2026-01-01T00:00:00+00:00"),
        end=at("2026-01-01T02:30:00+00:00"),
    )
    fires = missed_fires(
        clock, at("2026-01-01T00:00:00+00:00"), at("2027-01-01T00:00:00+00:00"), "latest", 10
    )
    assert isos(fires) == ["2026-01-01T02:00:00+00:00"]


def test_a_one_second_clock_down_for_a_year_is_computed_not_walked() -> None:
    clock = IntervalClock(
        name="c", interval=parse_duration("1s"), start=at("2025-01-01T00:00:00+00:00")
    )
    last, now = at("2025-01-01T00:00:00+00:00"), at("2026-01-01T00:00:00.500+00:00")
    assert isos(missed_fires(clock, last, now, "latest", 100)) == ["2026-01-01T00:00:00+00:00"]
    fires = missed_fires(clock, last, now, "all", 100)
    assert len(fires) == 100
    assert fires[0].isoformat() == "2025-12-31T23:58:21+00:00"
    assert fires[-1].isoformat() == "2026-01-01T00:00:00+00:00"


# Europe/Berlin: 2025-03-30 02:00+01:00 → 03:00+02:00.
def test_calendar_interval_keeps_wall_time_across_dst() -> None:
    clock = IntervalClock(
        name="c",
        interval=parse_duration("1d"),
        timezone="Europe/Berlin",
        start=at("2025-01-01T09:00:00+01:00"),
    )
    last, now = at("2025-03-28T09:00:00+01:00"), at("2025-03-31T08:00:00+02:00")
    fires = missed_fires(clock, last, now, "all", 100)
    assert [f.astimezone(ZoneInfo("Europe/Berlin")).isoformat() for f in fires] == [
        "2025-03-29T09:00:00+01:00",
        "2025-03-30T09:00:00+02:00",
    ]


def test_fixed_dates() -> None:
    clock = DatesClock(
        name="d",
        dates=tuple(at(f"2026-0{month}-01T00:00:00+00:00") for month in range(1, 8)),
    )
    last, now = at("2026-01-01T00:00:00+00:00"), at("2026-05-01T00:00:00+00:00")
    assert isos(missed_fires(clock, last, now, "all", 2)) == [
        "2026-04-01T00:00:00+00:00",
        "2026-05-01T00:00:00+00:00",
    ]
    assert isos(missed_fires(clock, last, now, "latest", 2)) == ["2026-05-01T00:00:00+00:00"]


# A cron clock is searched by bisection; each count stops at limit + 1 fires, so the work is
# at most (limit + 1) × (⌈log2(outage in seconds)⌉ + 2) calls of next_fire.
CRON_CASES = [
    pytest.param(
        "* * * * * *",
        "latest",
        1,
        ["2026-01-01T23:00:00+00:00"],
        id="every-second-latest",
    ),
    pytest.param(
        "* * * * * *",
        "all",
        3,
        ["2026-01-01T22:59:58+00:00", "2026-01-01T22:59:59+00:00", "2026-01-01T23:00:00+00:00"],
        id="every-second-all",
    ),
    pytest.param(
        "* * 9 * * *",  # every second of 09:xx: a burst each day, nothing near `now`
        "all",
        2,
        ["2026-01-01T09:59:58+00:00", "2026-01-01T09:59:59+00:00"],
        id="burst-each-morning",
    ),
    pytest.param("0 0 1 1 *", "all", 100, ["2026-01-01T00:00:00+00:00"], id="yearly"),
    pytest.param(
        "*/5 * * * *",
        "all",
        100,
        # 100 fires 5 minutes apart ending at 23:00 begin 99 × 5 min earlier, at 14:45.
        [
            f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00+00:00"
            for minute in range(14 * 60 + 45, 23 * 60 + 1, 5)
        ],
        id="five-minutes-limit-100",
    ),
]


@pytest.mark.parametrize(("expression", "policy", "limit", "expected"), CRON_CASES)
def test_cron_clock_down_for_a_year_is_bisected(
    expression: str, policy: str, limit: int, expected: list[str]
) -> None:
    clock = CountingClock(name="c", inner=CronClock(name="c", expression=expression))
    last, now = at("2025-01-01T00:00:00+00:00"), at("2026-01-01T23:00:00+00:00")
    assert isos(missed_fires(clock, last, now, policy, limit)) == expected
    wanted = 1 if policy == "latest" else limit
    bound = (wanted + 1) * (math.ceil(math.log2((now - last).total_seconds())) + 2)
    assert clock.calls[0] <= bound


def test_it_refuses_an_unknown_policy() -> None:
    with pytest.raises(ClockError, match="invalid catchup 'some': use one of none, latest, all"):
        missed_fires(
            HOURLY, at("2026-01-01T00:00:00+00:00"), at("2026-01-02T00:00:00+00:00"), "some", 1
        )


def test_an_unanchored_interval_clock_is_refused() -> None:
    clock = IntervalClock(name="u", interval=parse_duration("1h"))
    with pytest.raises(ClockError, match="no anchor"):
        missed_fires(
            clock, at("2026-01-01T00:00:00+00:00"), at("2026-01-02T00:00:00+00:00"), "latest", 1
        )
