"""Fire times of cron clocks (spec 2.3 time semantics, 2.4 syntax), expected values written by hand.

Each case lists the first fires strictly after `after`, as ISO strings in the clock's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from clocks.cron import CronClock
from clocks.errors import ClockError


def case(case_id: str, expression: str, timezone: str, after: str, *fires: str):
    return pytest.param(expression, timezone, after, list(fires), id=case_id)


def first_fires(clock: CronClock, after: datetime, count: int) -> list[datetime]:
    fires = []
    for fire in clock.fires(after):
        fires.append(fire)
        if len(fires) == count:
            break
    return fires


def check(expression: str, timezone: str, after: str, expected: list[str], **bounds) -> None:
    clock = CronClock(name="c", expression=expression, timezone=timezone, **bounds)
    fires = first_fires(clock, datetime.fromisoformat(after), len(expected))
    assert all(fire.tzinfo is UTC and fire.microsecond == 0 for fire in fires)
    zone = ZoneInfo(timezone)
    assert [fire.astimezone(zone).isoformat() for fire in fires] == expected


# Europe/Berlin, 2025: 03-30 02:00+01:00 → 03:00+02:00 (02:00-03:00 does not exist);
# 10-26 03:00+02:00 → 02:00+01:00 (02:00-03:00 happens twice).
BERLIN = [
    # Golden rows of notes/libraries.md section 4 (cronie rule column).
    case(
        "golden-berlin-0230-spring-once-after-gap",
        "30 2 * * *",
        "Europe/Berlin",
        "2025-03-29T12:00:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:30:00+02:00",
    ),
    case(
        "golden-berlin-0200-spring",
        "0 2 * * *",
        "Europe/Berlin",
        "2025-03-29T12:00:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:00:00+02:00",
    ),
    case(
        "golden-berlin-0230-fall-once-first-pass",
        "30 2 * * *",
        "Europe/Berlin",
        "2025-10-25T12:00:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-27T02:30:00+01:00",
    ),
    case(
        "golden-berlin-30-1to3-fall-0230-once",
        "30 1-3 * * *",
        "Europe/Berlin",
        "2025-10-26T00:00:00+02:00",
        "2025-10-26T01:30:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-26T03:30:00+01:00",
        "2025-10-27T01:30:00+01:00",
    ),
    case(
        "golden-berlin-every-2h-spring-skips-gap",
        "0 */2 * * *",
        "Europe/Berlin",
        "2025-03-29T23:30:00+01:00",
        "2025-03-30T00:00:00+01:00",
        "2025-03-30T04:00:00+02:00",
    ),
    case(
        "golden-berlin-20min-hour2-spring-nothing",
        "*/20 2 * * *",
        "Europe/Berlin",
        "2025-03-29T12:00:00+01:00",
        "2025-03-31T02:00:00+02:00",
        "2025-03-31T02:20:00+02:00",
    ),
    case(
        "golden-berlin-30min-fall-both-passes",
        "*/30 * * * *",
        "Europe/Berlin",
        "2025-10-26T01:45:00+02:00",
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:30:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:30:00+01:00",
        "2025-10-26T03:00:00+01:00",
    ),
    case(
        "golden-berlin-hourly-fall-both-passes",
        "0 * * * *",
        "Europe/Berlin",
        "2025-10-26T01:30:00+02:00",
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T03:00:00+01:00",
    ),
    case(
        "golden-berlin-20min-hour2-fall-both-passes",
        "*/20 2 * * *",
        "Europe/Berlin",
        "2025-10-26T01:00:00+02:00",
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:20:00+02:00",
        "2025-10-26T02:40:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:20:00+01:00",
        "2025-10-26T02:40:00+01:00",
        "2025-10-27T02:00:00+01:00",
    ),
    case(
        "golden-berlin-30min-spring-0130-then-0300",
        "*/30 * * * *",
        "Europe/Berlin",
        "2025-03-30T01:00:00+01:00",
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-30T03:30:00+02:00",
    ),
    # More spring cases.
    case(
        "berlin-spring-two-gap-times-fire-once",
        "0,30 2 * * *",
        "Europe/Berlin",
        "2025-03-30T00:00:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:00:00+02:00",
    ),
    case(
        "berlin-spring-gap-and-0300-are-one-fire",
        "0 2,3 * * *",
        "Europe/Berlin",
        "2025-03-30T00:00:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:00:00+02:00",
        "2025-03-31T03:00:00+02:00",
    ),
    case(
        "berlin-spring-after-the-moved-fire",
        "30 2 * * *",
        "Europe/Berlin",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:30:00+02:00",
    ),
    case(
        "berlin-spring-every-minute-of-hour2-wildcard",
        "* 2 * * *",
        "Europe/Berlin",
        "2025-03-30T01:59:00+01:00",
        "2025-03-31T02:00:00+02:00",
        "2025-03-31T02:01:00+02:00",
    ),
    case(
        "berlin-spring-6-field-fixed-moves-to-0300",
        "15 30 2 * * *",
        "Europe/Berlin",
        "2025-03-29T12:00:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-31T02:30:15+02:00",
    ),
    case(
        "berlin-spring-6-field-wildcard-skips",
        "*/20 * 2 * * *",
        "Europe/Berlin",
        "2025-03-30T01:59:40+01:00",
        "2025-03-31T02:00:00+02:00",
        "2025-03-31T02:00:20+02:00",
    ),
    # More fall cases; in the fold, wall order is not instant order.
    case(
        "berlin-fall-wildcard-after-first-pass-goes-to-second",
        "*/20 * * * *",
        "Europe/Berlin",
        "2025-10-26T02:50:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:20:00+01:00",
    ),
    case(
        "berlin-fall-fixed-after-first-pass-no-second",
        "10 2 * * *",
        "Europe/Berlin",
        "2025-10-26T02:50:00+02:00",
        "2025-10-27T02:10:00+01:00",
    ),
    case(
        "berlin-fall-wildcard-inside-second-pass",
        "*/20 * * * *",
        "Europe/Berlin",
        "2025-10-26T02:10:00+01:00",
        "2025-10-26T02:20:00+01:00",
        "2025-10-26T02:40:00+01:00",
        "2025-10-26T03:00:00+01:00",
    ),
    case(
        "berlin-fall-fixed-inside-second-pass-already-fired",
        "30 2 * * *",
        "Europe/Berlin",
        "2025-10-26T02:10:00+01:00",
        "2025-10-27T02:30:00+01:00",
    ),
    case(
        "berlin-fall-6-field-wildcard-both-passes",
        "0 */30 * * * *",
        "Europe/Berlin",
        "2025-10-26T02:45:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T02:30:00+01:00",
    ),
    case(
        "berlin-fall-6-field-fixed-once",
        "0 0 2 * * *",
        "Europe/Berlin",
        "2025-10-26T01:00:00+02:00",
        "2025-10-26T02:00:00+02:00",
        "2025-10-27T02:00:00+01:00",
    ),
    # Away from transitions, and spans that cross one.
    case(
        "berlin-weekdays-skip-weekend",
        "0 9 * * 1-5",
        "Europe/Berlin",
        "2025-01-03T09:00:00+01:00",
        "2025-01-06T09:00:00+01:00",
        "2025-01-07T09:00:00+01:00",
    ),
    case(
        "berlin-monthly-across-spring",
        "0 3 1 * *",
        "Europe/Berlin",
        "2025-02-15T00:00:00+01:00",
        "2025-03-01T03:00:00+01:00",
        "2025-04-01T03:00:00+02:00",
    ),
    case(
        "berlin-yearly-across-fall",
        "@yearly",
        "Europe/Berlin",
        "2025-06-01T00:00:00+02:00",
        "2026-01-01T00:00:00+01:00",
        "2027-01-01T00:00:00+01:00",
    ),
]

# America/New_York, 2025: 03-09 02:00-05:00 → 03:00-04:00; 11-02 02:00-04:00 → 01:00-05:00
# (01:00-02:00 happens twice).
NEW_YORK = [
    case(
        "golden-ny-0230-spring-once-after-gap",
        "30 2 * * *",
        "America/New_York",
        "2025-03-08T12:00:00-05:00",
        "2025-03-09T03:00:00-04:00",
        "2025-03-10T02:30:00-04:00",
    ),
    case(
        "golden-ny-0130-fall-once",
        "30 1 * * *",
        "America/New_York",
        "2025-11-01T12:00:00-04:00",
        "2025-11-02T01:30:00-04:00",
        "2025-11-03T01:30:00-05:00",
    ),
    case(
        "golden-ny-every-2h-spring-skips-gap",
        "0 */2 * * *",
        "America/New_York",
        "2025-03-08T23:30:00-05:00",
        "2025-03-09T00:00:00-05:00",
        "2025-03-09T04:00:00-04:00",
    ),
    case(
        "golden-ny-20min-hour2-spring-nothing",
        "*/20 2 * * *",
        "America/New_York",
        "2025-03-08T12:00:00-05:00",
        "2025-03-10T02:00:00-04:00",
    ),
    case(
        "golden-ny-30min-spring-0130-then-0300",
        "*/30 * * * *",
        "America/New_York",
        "2025-03-09T01:00:00-05:00",
        "2025-03-09T01:30:00-05:00",
        "2025-03-09T03:00:00-04:00",
    ),
    case(
        "golden-ny-30min-fall-both-passes",
        "*/30 * * * *",
        "America/New_York",
        "2025-11-02T00:45:00-04:00",
        "2025-11-02T01:00:00-04:00",
        "2025-11-02T01:30:00-04:00",
        "2025-11-02T01:00:00-05:00",
        "2025-11-02T01:30:00-05:00",
        "2025-11-02T02:00:00-05:00",
    ),
    case(
        "golden-ny-hourly-fall-both-passes",
        "0 * * * *",
        "America/New_York",
        "2025-11-02T00:30:00-04:00",
        "2025-11-02T01:00:00-04:00",
        "2025-11-02T01:00:00-05:00",
        "2025-11-02T02:00:00-05:00",
    ),
    case(
        "golden-ny-20min-hour1-fall-both-passes",
        "*/20 1 * * *",
        "America/New_York",
        "2025-11-02T00:00:00-04:00",
        "2025-11-02T01:00:00-04:00",
        "2025-11-02T01:20:00-04:00",
        "2025-11-02T01:40:00-04:00",
        "2025-11-02T01:00:00-05:00",
        "2025-11-02T01:20:00-05:00",
        "2025-11-02T01:40:00-05:00",
        "2025-11-03T01:00:00-05:00",
    ),
    case(
        "ny-fall-fixed-hour-list",
        "0 1,2 * * *",
        "America/New_York",
        "2025-11-02T00:00:00-04:00",
        "2025-11-02T01:00:00-04:00",
        "2025-11-02T02:00:00-05:00",
        "2025-11-03T01:00:00-05:00",
    ),
]

# Australia/Lord_Howe, 2025: 04-06 02:00+11:00 → 01:30+10:30 (01:30-02:00 happens twice);
# 10-05 02:00+10:30 → 02:30+11:00 (02:00-02:30 does not exist). A 30-minute shift.
LORD_HOWE = [
    case(
        "lord-howe-spring-0200-moves-to-0230",
        "0 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T12:00:00+10:30",
        "2025-10-05T02:30:00+11:00",
        "2025-10-06T02:00:00+11:00",
    ),
    case(
        "lord-howe-spring-0215-moves-to-0230",
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T12:00:00+10:30",
        "2025-10-05T02:30:00+11:00",
        "2025-10-06T02:15:00+11:00",
    ),
    case(
        "lord-howe-spring-0230-exists",
        "30 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T12:00:00+10:30",
        "2025-10-05T02:30:00+11:00",
        "2025-10-06T02:30:00+11:00",
    ),
    case(
        "lord-howe-spring-two-gap-times-fire-once",
        "0,15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-05T00:00:00+10:30",
        "2025-10-05T02:30:00+11:00",
        "2025-10-06T02:00:00+11:00",
    ),
    case(
        "lord-howe-spring-15min-skips-gap",
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2025-10-05T01:40:00+10:30",
        "2025-10-05T01:45:00+10:30",
        "2025-10-05T02:30:00+11:00",
        "2025-10-05T02:45:00+11:00",
    ),
    case(
        "lord-howe-fall-0145-once",
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-05T12:00:00+11:00",
        "2025-04-06T01:45:00+11:00",
        "2025-04-07T01:45:00+10:30",
    ),
    case(
        "lord-howe-fall-0130-once",
        "30 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-06T00:00:00+11:00",
        "2025-04-06T01:30:00+11:00",
        "2025-04-07T01:30:00+10:30",
    ),
    case(
        "lord-howe-fall-15min-hour1-both-passes",
        "*/15 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-06T01:05:00+11:00",
        "2025-04-06T01:15:00+11:00",
        "2025-04-06T01:30:00+11:00",
        "2025-04-06T01:45:00+11:00",
        "2025-04-06T01:30:00+10:30",
        "2025-04-06T01:45:00+10:30",
        "2025-04-07T01:00:00+10:30",
    ),
    case(
        "lord-howe-fall-after-first-pass-goes-to-second",
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2025-04-06T01:50:00+11:00",
        "2025-04-06T01:30:00+10:30",
        "2025-04-06T01:45:00+10:30",
        "2025-04-06T02:00:00+10:30",
    ),
]

# America/Santiago, 2025: 04-06 00:00-03:00 → 04-05 23:00-04:00 (23:00-24:00 of 04-05 happens
# twice); 09-07 00:00-04:00 → 01:00-03:00 (midnight of 09-07 does not exist).
SANTIAGO = [
    case(
        "santiago-spring-midnight-moves-to-0100",
        "0 0 * * *",
        "America/Santiago",
        "2025-09-06T12:00:00-04:00",
        "2025-09-07T01:00:00-03:00",
        "2025-09-08T00:00:00-03:00",
    ),
    case(
        "santiago-spring-0030-moves-to-0100",
        "30 0 * * *",
        "America/Santiago",
        "2025-09-06T12:00:00-04:00",
        "2025-09-07T01:00:00-03:00",
        "2025-09-08T00:30:00-03:00",
    ),
    case(
        "santiago-spring-sunday-midnight-same-date",
        "0 0 * * SUN",
        "America/Santiago",
        "2025-09-01T00:00:00-04:00",
        "2025-09-07T01:00:00-03:00",
        "2025-09-14T00:00:00-03:00",
    ),
    case(
        "santiago-spring-hourly-not-caught-up",
        "0 * * * *",
        "America/Santiago",
        "2025-09-06T23:30:00-04:00",
        "2025-09-07T01:00:00-03:00",
        "2025-09-07T02:00:00-03:00",
    ),
    case(
        "santiago-fall-midnight-after-fold",
        "0 0 * * *",
        "America/Santiago",
        "2025-04-05T12:00:00-03:00",
        "2025-04-06T00:00:00-04:00",
        "2025-04-07T00:00:00-04:00",
    ),
    case(
        "santiago-fall-daily-macro",
        "@daily",
        "America/Santiago",
        "2025-04-04T12:00:00-03:00",
        "2025-04-05T00:00:00-03:00",
        "2025-04-06T00:00:00-04:00",
    ),
    case(
        "santiago-fall-2330-once",
        "30 23 * * *",
        "America/Santiago",
        "2025-04-05T12:00:00-03:00",
        "2025-04-05T23:30:00-03:00",
        "2025-04-06T23:30:00-04:00",
    ),
    case(
        "santiago-fall-30min-both-passes",
        "*/30 * * * *",
        "America/Santiago",
        "2025-04-05T22:45:00-03:00",
        "2025-04-05T23:00:00-03:00",
        "2025-04-05T23:30:00-03:00",
        "2025-04-05T23:00:00-04:00",
        "2025-04-05T23:30:00-04:00",
        "2025-04-06T00:00:00-04:00",
    ),
]

# UTC: calendar cases (2025-01-01 is a Wednesday; 2028 is the next leap year).
CALENDAR = [
    case(
        "feb-29-waits-for-leap-year",
        "0 0 29 2 *",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ),
    case(
        "feb-29-from-a-leap-day",
        "0 0 29 2 *",
        "UTC",
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ),
    case(
        "31st-skips-short-months",
        "0 0 31 * *",
        "UTC",
        "2025-01-31T00:00:00+00:00",
        "2025-03-31T00:00:00+00:00",
        "2025-05-31T00:00:00+00:00",
        "2025-07-31T00:00:00+00:00",
    ),
    case(
        "30th-skips-february",
        "0 0 30 * *",
        "UTC",
        "2025-01-30T00:00:00+00:00",
        "2025-03-30T00:00:00+00:00",
    ),
    case(
        "L-last-day-leap-february",
        "0 12 L * *",
        "UTC",
        "2024-01-31T12:00:00+00:00",
        "2024-02-29T12:00:00+00:00",
        "2024-03-31T12:00:00+00:00",
        "2024-04-30T12:00:00+00:00",
    ),
    case(
        "L-in-february-only",
        "0 0 L 2 *",
        "UTC",
        "2025-03-01T00:00:00+00:00",
        "2026-02-28T00:00:00+00:00",
        "2027-02-28T00:00:00+00:00",
        "2028-02-29T00:00:00+00:00",
    ),
    case(
        "LW-last-weekday",
        "0 9 LW * *",
        "UTC",
        "2025-05-01T00:00:00+00:00",
        "2025-05-30T09:00:00+00:00",
        "2025-06-30T09:00:00+00:00",
        "2025-07-31T09:00:00+00:00",
    ),
    case(
        "15W-nearest-weekday",
        "0 9 15W * *",
        "UTC",
        "2025-02-01T00:00:00+00:00",
        "2025-02-14T09:00:00+00:00",
        "2025-03-14T09:00:00+00:00",
        "2025-04-15T09:00:00+00:00",
    ),
    case(
        "1W-saturday-first-moves-to-monday",
        "0 9 1W * *",
        "UTC",
        "2025-01-15T00:00:00+00:00",
        "2025-02-03T09:00:00+00:00",
        "2025-03-03T09:00:00+00:00",
        "2025-04-01T09:00:00+00:00",
    ),
    case(
        "31W-sunday-moves-back-to-friday",
        "0 9 31W * *",
        "UTC",
        "2025-08-01T00:00:00+00:00",
        "2025-08-29T09:00:00+00:00",
        "2025-10-31T09:00:00+00:00",
    ),
    case(
        "5L-last-friday",
        "0 18 * * 5L",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-31T18:00:00+00:00",
        "2025-02-28T18:00:00+00:00",
        "2025-03-28T18:00:00+00:00",
    ),
    case(
        "L5-last-friday",
        "0 18 * * L5",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-31T18:00:00+00:00",
        "2025-02-28T18:00:00+00:00",
        "2025-03-28T18:00:00+00:00",
    ),
    case(
        "L1-last-monday",
        "0 0 * * L1",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-27T00:00:00+00:00",
        "2025-02-24T00:00:00+00:00",
        "2025-03-31T00:00:00+00:00",
    ),
    case(
        "5#3-third-friday",
        "0 0 * * 5#3",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-17T00:00:00+00:00",
        "2025-02-21T00:00:00+00:00",
        "2025-03-21T00:00:00+00:00",
    ),
    case(
        "fri#1-name-lower-case",
        "0 0 * * fri#1",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-03T00:00:00+00:00",
        "2025-02-07T00:00:00+00:00",
        "2025-03-07T00:00:00+00:00",
    ),
    case(
        "list-last-monday-and-fourth-monday",
        "0 0 * * L1,1#4",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-27T00:00:00+00:00",
        "2025-02-24T00:00:00+00:00",
        "2025-03-24T00:00:00+00:00",
        "2025-03-31T00:00:00+00:00",
    ),
    case(
        "dom-or-dow-when-both-restricted",
        "0 0 1 * MON",
        "UTC",
        "2025-01-31T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        "2025-02-03T00:00:00+00:00",
        "2025-02-10T00:00:00+00:00",
    ),
    case(
        "dom-star-step-and-dow",
        "0 0 */2 * MON",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-13T00:00:00+00:00",
        "2025-01-27T00:00:00+00:00",
        "2025-02-03T00:00:00+00:00",
    ),
    case(
        "dow-star-step-and-dom",
        "0 0 13 * */7",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-04-13T00:00:00+00:00",
        "2025-07-13T00:00:00+00:00",
    ),
    case(
        "weekday-7-is-sunday",
        "0 0 * * 7",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-05T00:00:00+00:00",
        "2025-01-12T00:00:00+00:00",
    ),
    case(
        "range-3-3-is-march-only",
        "0 0 1 3-3 *",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-03-01T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00",
    ),
    case(
        "names-ranges-steps",
        "0 8 * jan-feb mon-fri/2",
        "UTC",
        "2025-02-26T12:00:00+00:00",
        "2025-02-28T08:00:00+00:00",
        "2026-01-02T08:00:00+00:00",
    ),
    case(
        "start-step-to-field-end",
        "10/20 * * * *",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-01T00:10:00+00:00",
        "2025-01-01T00:30:00+00:00",
        "2025-01-01T00:50:00+00:00",
        "2025-01-01T01:10:00+00:00",
    ),
    case(
        "range-step",
        "0 9-17/4 * * *",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-01T09:00:00+00:00",
        "2025-01-01T13:00:00+00:00",
        "2025-01-01T17:00:00+00:00",
        "2025-01-02T09:00:00+00:00",
    ),
    case(
        "macro-hourly",
        "@hourly",
        "UTC",
        "2025-01-01T00:30:00+00:00",
        "2025-01-01T01:00:00+00:00",
        "2025-01-01T02:00:00+00:00",
    ),
    case(
        "macro-weekly-sunday",
        "@weekly",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-05T00:00:00+00:00",
        "2025-01-12T00:00:00+00:00",
    ),
    case(
        "macro-monthly",
        "@monthly",
        "UTC",
        "2025-01-15T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        "2025-03-01T00:00:00+00:00",
    ),
    case(
        "macro-annually",
        "@annually",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
    ),
    case(
        "macro-midnight-upper-case",
        "@MIDNIGHT",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-02T00:00:00+00:00",
    ),
    case(
        "6-field-seconds-first",
        "*/15 * * * * *",
        "UTC",
        "2025-01-01T00:00:00+00:00",
        "2025-01-01T00:00:15+00:00",
        "2025-01-01T00:00:30+00:00",
        "2025-01-01T00:00:45+00:00",
        "2025-01-01T00:01:00+00:00",
    ),
    case(
        "6-field-fixed-second",
        "30 0 12 * * *",
        "UTC",
        "2025-01-01T12:00:30+00:00",
        "2025-01-02T12:00:30+00:00",
    ),
    case(
        "fraction-of-second-after",
        "* * * * *",
        "UTC",
        "2025-01-01T00:00:59.500000+00:00",
        "2025-01-01T00:01:00+00:00",
    ),
    case(
        "after-in-another-offset",
        "0 12 * * *",
        "Europe/Berlin",
        "2025-01-01T11:30:00+00:00",
        "2025-01-02T12:00:00+01:00",
    ),
]


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    BERLIN + NEW_YORK + LORD_HOWE + SANTIAGO + CALENDAR,
)
def test_fires_follow_spec(expression: str, timezone: str, after: str, expected: list[str]) -> None:
    check(expression, timezone, after, expected)


# Bounds: nothing before `start` (start itself can fire), nothing after `end` (end itself can).
@pytest.mark.parametrize(
    ("after", "start", "end", "expected"),
    [
        pytest.param(
            "2024-12-01T00:00:00+00:00",
            "2025-01-01T05:00:00+00:00",
            None,
            [
                "2025-01-01T05:00:00+00:00",
                "2025-01-01T06:00:00+00:00",
                "2025-01-01T07:00:00+00:00",
                "2025-01-01T08:00:00+00:00",
            ],
            id="start-fires",
        ),
        pytest.param(
            "2024-12-01T00:00:00+00:00",
            "2025-01-01T05:30:00+00:00",
            None,
            ["2025-01-01T06:00:00+00:00", "2025-01-01T07:00:00+00:00", "2025-01-01T08:00:00+00:00"],
            id="start-between-fires",
        ),
        pytest.param(
            "2025-01-01T07:00:00+00:00",
            "2025-01-01T05:00:00+00:00",
            None,
            ["2025-01-01T08:00:00+00:00"],
            id="after-past-start",
        ),
        pytest.param(
            "2025-01-01T05:30:00+00:00",
            None,
            "2025-01-01T07:00:00+00:00",
            ["2025-01-01T06:00:00+00:00", "2025-01-01T07:00:00+00:00"],
            id="end-fires",
        ),
    ],
)
def test_start_and_end_bound_the_fires(
    after: str, start: str | None, end: str | None, expected: list[str]
) -> None:
    bounds = {
        "start": datetime.fromisoformat(start) if start else None,
        "end": datetime.fromisoformat(end) if end else None,
    }
    clock = CronClock(name="c", expression="0 * * * *", **bounds)
    fires = list(
        clock.fires(
            datetime.fromisoformat(after), datetime.fromisoformat("2025-01-01T08:00:00+00:00")
        )
    )
    assert [fire.isoformat() for fire in fires] == expected


def test_nothing_after_end() -> None:
    clock = CronClock(name="c", expression="0 * * * *", end=datetime(2025, 1, 1, 7, tzinfo=UTC))
    assert clock.next_fire(datetime(2025, 1, 1, 7, tzinfo=UTC)) is None
    assert clock.next_fire(datetime(2025, 1, 1, 6, 59, 59, tzinfo=UTC)) == datetime(
        2025, 1, 1, 7, tzinfo=UTC
    )


def test_clock_describes_itself_and_its_kind() -> None:
    clock = CronClock(name="nightly", expression="30 2 * * *", timezone="Europe/Berlin")
    assert clock.kind == "cron"
    assert clock.describe() == "cron 30 2 * * * (Europe/Berlin)"
    assert clock.is_wildcard is False
    assert CronClock(name="c", expression="*/5 * * * *").is_wildcard is True


def test_clock_refuses_invalid_expression_at_construction() -> None:
    with pytest.raises(ClockError, match=r"minute 61 is out of range 0-59"):
        CronClock(name="c", expression="61 * * * *")


def test_clock_refuses_unknown_zone() -> None:
    with pytest.raises(ClockError, match="unknown time zone 'Mars/Base'"):
        CronClock(name="c", expression="* * * * *", timezone="Mars/Base")


def test_naive_after_is_refused() -> None:
    clock = CronClock(name="c", expression="* * * * *")
    with pytest.raises(ClockError, match="must be timezone-aware"):
        clock.next_fire(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("timezone", "expression", "after", "expected"),
    [
        # Etc/GMT-2 is UTC+02:00 all year (POSIX sign), no transitions.
        ("Etc/GMT-2", "0 0 1 1 *", "2026-06-01T00:00:00+00:00", "2026-12-31T22:00:00+00:00"),
        ("Etc/GMT+5", "30 2 * * *", "2026-03-08T00:00:00+00:00", "2026-03-08T07:30:00+00:00"),
        ("UTC", "0 0 29 2 *", "2026-03-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
    ],
    ids=["gmt-minus-2-yearly", "gmt-plus-5-daily", "utc-leap-day"],
)
def test_fixed_offset_zones_fire_at_wall_time_minus_their_offset(
    timezone: str, expression: str, after: str, expected: str
) -> None:
    from clocks.cron import is_fixed_offset_zone

    assert is_fixed_offset_zone(timezone)
    clock = CronClock(name="c", expression=expression, timezone=timezone)
    assert clock.next_fire(datetime.fromisoformat(after)).isoformat() == expected


def test_zones_with_transitions_are_not_taken_for_fixed_ones() -> None:
    from clocks.cron import is_fixed_offset_zone

    assert not is_fixed_offset_zone("Europe/Berlin")
    assert not is_fixed_offset_zone("Etc/GMTx")
