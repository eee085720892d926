"""Catch-up and backfill see the filtered fires (spec 2.5): a removed fire is not missed, a
moved fire is missed at its moved time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from clocks.calendar import Calendar, Filters
from clocks.catchup import missed_fires
from clocks.cron import CronClock
from clocks.filters import FilteredClock
from scheduler.scheduling.backfill import backfill_times

FRIDAY = datetime(2026, 11, 27, 9, tzinfo=UTC)  # Thanksgiving is Thursday the 26th


def clock(policy: str) -> FilteredClock:
    return FilteredClock.wrap(
        CronClock(name="c", expression="0 9 * * *"),
        Filters(
            calendar=Calendar("us", closed={date(2026, 11, 26): "Thanksgiving Day (US)"}),
            on_closed_day=policy,
            between=(time(8), time(18)),
        ),
    )  # type: ignore[return-value]


def test_a_skipped_fire_is_not_missed() -> None:
    missed = missed_fires(
        clock("skip"),
        datetime(2026, 11, 25, 9, tzinfo=UTC),
        datetime(2026, 12, 1, 10, tzinfo=UTC),
        "all",
        100,
    )
    assert missed == [
        FRIDAY,
        datetime(2026, 11, 30, 9, tzinfo=UTC),
        datetime(2026, 12, 1, 9, tzinfo=UTC),
    ]


def test_latest_catchup_takes_the_latest_kept_fire() -> None:
    # Down from Wednesday to Sunday noon: the latest fire is Friday's (the weekend is closed).
    missed = missed_fires(
        clock("skip"),
        datetime(2026, 11, 25, 9, tzinfo=UTC),
        datetime(2026, 11, 29, 12, tzinfo=UTC),
        "latest",
        100,
    )
    assert missed == [FRIDAY]


def test_a_moved_fire_is_missed_at_its_moved_time_once() -> None:
    missed = missed_fires(
        clock("previous_business_day"),
        datetime(2026, 11, 24, 9, tzinfo=UTC),
        datetime(2026, 11, 29, 12, tzinfo=UTC),
        "all",
        100,
    )
    # Thursday's fire moved onto Wednesday's, the weekend's onto Friday's: one run each.
    assert missed == [datetime(2026, 11, 25, 9, tzinfo=UTC), FRIDAY]


def test_backfill_plans_the_filtered_fires() -> None:
    times = backfill_times(
        clock("next_business_day"),
        datetime(2026, 11, 26, tzinfo=UTC),
        datetime(2026, 12, 1, 23, tzinfo=UTC),
    )
    assert times == [
        FRIDAY,
        datetime(2026, 11, 30, 9, tzinfo=UTC),
        datetime(2026, 12, 1, 9, tzinfo=UTC),
    ]
