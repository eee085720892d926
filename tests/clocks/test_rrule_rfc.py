"""RFC 5545 section 3.8.5.3's RRULE examples in America/New_York, expected times written out
by hand from the RFC's text (they cross the 1997 DST end: 1997-10-26 02:00 EDT → 01:00 EST),
plus the gap and fold rules of spec 2.5 and the RRULE refusals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from clocks.errors import ClockError
from clocks.rrule import RRuleClock

NY = "America/New_York"


def walls(clock: RRuleClock, limit: int = 200) -> list[str]:
    """The clock's fires as New York wall times with offset, from its start."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(NY)
    out = []
    for fire in clock.fires(datetime(1990, 1, 1, tzinfo=UTC)):
        out.append(fire.astimezone(zone).isoformat())
        if len(out) >= limit:
            break
    return out


def clock(rule: str, start: str) -> RRuleClock:
    return RRuleClock(name="r", rule=rule, start=datetime.fromisoformat(start), timezone=NY)


def edt(*days: str, at: str = "09:00:00") -> list[str]:
    return [f"{day}T{at}-04:00" for day in days]


def est(*days: str, at: str = "09:00:00") -> list[str]:
    return [f"{day}T{at}-05:00" for day in days]


def test_daily_for_10_occurrences() -> None:
    got = walls(clock("FREQ=DAILY;COUNT=10", "1997-09-02T09:00:00"))
    assert got == edt(*(f"1997-09-{d:02d}" for d in range(2, 12)))


def test_daily_until_december_24_crosses_the_dst_end() -> None:
    got = walls(clock("FREQ=DAILY;UNTIL=19971224T000000Z", "1997-09-02T09:00:00"))
    # Sep 2 - Oct 25 in EDT, Oct 26 - Dec 23 in EST: 29 + 25 + 30 + 23 = 113 fires.
    assert len(got) == 113
    assert got[0] == "1997-09-02T09:00:00-04:00"
    assert got[53:55] == ["1997-10-25T09:00:00-04:00", "1997-10-26T09:00:00-05:00"]
    assert got[-1] == "1997-12-23T09:00:00-05:00"


def test_every_other_day_forever() -> None:
    got = walls(clock("FREQ=DAILY;INTERVAL=2", "1997-09-02T09:00:00"), limit=6)
    assert got == edt(
        "1997-09-02", "1997-09-04", "1997-09-06", "1997-09-08", "1997-09-10", "1997-09-12"
    )


def test_every_10_days_5_occurrences() -> None:
    got = walls(clock("FREQ=DAILY;INTERVAL=10;COUNT=5", "1997-09-02T09:00:00"))
    assert got == edt("1997-09-02", "1997-09-12", "1997-09-22", "1997-10-02", "1997-10-12")


def test_every_day_in_january_for_3_years() -> None:
    rule = "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA"
    got = walls(clock(rule, "1998-01-01T09:00:00"))
    assert got == [
        f"{year}-01-{day:02d}T09:00:00-05:00" for year in (1998, 1999, 2000) for day in range(1, 32)
    ]


def test_weekly_for_10_occurrences() -> None:
    got = walls(clock("FREQ=WEEKLY;COUNT=10", "1997-09-02T09:00:00"))
    assert got == edt(
        "1997-09-02", "1997-09-09", "1997-09-16", "1997-09-23", "1997-09-30",
        "1997-10-07", "1997-10-14", "1997-10-21",
    ) + est("1997-10-28", "1997-11-04")  # fmt: skip


def test_every_other_week_on_monday_wednesday_friday_until_december_24() -> None:
    rule = "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR"
    got = walls(clock(rule, "1997-09-01T09:00:00"))
    assert got == edt(
        "1997-09-01", "1997-09-03", "1997-09-05", "1997-09-15", "1997-09-17", "1997-09-19",
        "1997-09-29", "1997-10-01", "1997-10-03", "1997-10-13", "1997-10-15", "1997-10-17",
    ) + est(
        "1997-10-27", "1997-10-29", "1997-10-31", "1997-11-10", "1997-11-12", "1997-11-14",
        "1997-11-24", "1997-11-26", "1997-11-28", "1997-12-08", "1997-12-10", "1997-12-12",
        "1997-12-22",
    )  # fmt: skip


def test_monthly_on_the_first_friday_for_10_occurrences() -> None:
    got = walls(clock("FREQ=MONTHLY;COUNT=10;BYDAY=1FR", "1997-09-05T09:00:00"))
    assert got == edt("1997-09-05", "1997-10-03") + est(
        "1997-11-07", "1997-12-05", "1998-01-02", "1998-02-06", "1998-03-06", "1998-04-03"
    ) + edt("1998-05-01", "1998-06-05")  # 1998's DST began on April 5


def test_every_other_month_on_the_first_and_last_sunday_for_10_occurrences() -> None:
    got = walls(clock("FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU", "1997-09-07T09:00:00"))
    assert got == edt("1997-09-07", "1997-09-28") + est(
        "1997-11-02", "1997-11-30", "1998-01-04", "1998-01-25", "1998-03-01", "1998-03-29"
    ) + edt("1998-05-03", "1998-05-31")


def test_monthly_on_the_third_to_the_last_day() -> None:
    got = walls(clock("FREQ=MONTHLY;BYMONTHDAY=-3", "1997-09-28T09:00:00"), limit=6)
    assert got == edt("1997-09-28") + est(
        "1997-10-29", "1997-11-28", "1997-12-29", "1998-01-29", "1998-02-26"
    )


def test_every_friday_the_13th_and_start_fires_only_when_it_matches() -> None:
    # The RFC adds EXDATE for its DTSTART (a Tuesday); spec 2.5: start fires only if it matches.
    got = walls(clock("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "1997-09-02T09:00:00"), limit=5)
    assert got == est("1998-02-13", "1998-03-13", "1998-11-13") + edt("1999-08-13", "2000-10-13")


def test_the_last_work_day_of_the_month() -> None:
    rule = "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"
    got = walls(clock(rule, "1997-09-29T09:00:00"), limit=7)
    assert got == edt("1997-09-30") + est(
        "1997-10-31", "1997-11-28", "1997-12-31", "1998-01-30", "1998-02-27"
    ) + est("1998-03-31")


def test_every_3_hours_until_a_utc_instant() -> None:
    # UNTIL=19970902T170000Z is 13:00 EDT: the RFC's listing shows 15:00 as well, which its own
    # UNTIL excludes (UNTIL is inclusive and a Z value is UTC, spec 2.5).
    got = walls(clock("FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z", "1997-09-02T09:00:00"))
    assert got == ["1997-09-02T09:00:00-04:00", "1997-09-02T12:00:00-04:00"]


def test_every_20_minutes_from_9_to_16_40_every_day() -> None:
    rule = "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40"
    got = walls(clock(rule, "1997-09-02T09:00:00"), limit=25)
    day = [f"1997-09-02T{h:02d}:{m:02d}:00-04:00" for h in range(9, 17) for m in (0, 20, 40)]
    assert got == [*day, "1997-09-03T09:00:00-04:00"]


def test_a_gap_time_takes_the_offset_before_the_gap() -> None:
    got = walls(clock("FREQ=DAILY;COUNT=3", "2007-03-10T02:30:00"))
    assert got == [
        "2007-03-10T02:30:00-05:00",
        "2007-03-11T03:30:00-04:00",  # 02:30 does not exist: read with EST, i.e. 03:30 EDT
        "2007-03-12T02:30:00-04:00",
    ]


def test_an_ambiguous_time_is_its_first_occurrence() -> None:
    got = walls(clock("FREQ=DAILY;COUNT=3", "2007-11-03T01:30:00"))
    assert got == [
        "2007-11-03T01:30:00-04:00",
        "2007-11-04T01:30:00-04:00",
        "2007-11-05T01:30:00-05:00",
    ]


def test_times_that_meet_at_one_instant_fire_once_and_count_counts_them_before() -> None:
    # 02:30 (gap → 03:30 EDT) and 03:30 are one instant: one fire; COUNT=2 counted both.
    got = walls(clock("FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30;COUNT=2", "2007-03-11T00:00:00"))
    assert got == ["2007-03-11T03:30:00-04:00"]


def test_count_counts_from_start_whatever_after_is() -> None:
    rule = clock("FREQ=DAILY;COUNT=3", "2026-01-01T09:00:00")
    assert rule.next_fire(datetime(2026, 1, 2, 15, tzinfo=UTC)) == datetime(
        2026, 1, 3, 14, tzinfo=UTC
    )
    assert rule.next_fire(datetime(2026, 1, 3, 15, tzinfo=UTC)) is None


def test_a_date_only_until_means_through_that_local_day() -> None:
    got = walls(clock("FREQ=HOURLY;INTERVAL=6;UNTIL=19970903", "1997-09-02T05:00:00"))
    assert got[-1] == "1997-09-03T23:00:00-04:00"
    assert len(got) == 8


def test_next_fire_far_from_start_restarts_at_the_right_period() -> None:
    rule = clock("FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,TH", "2020-01-07T10:00:00")
    every = list(rule.fires(datetime(2019, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)))
    for earlier, later in itertools.pairwise(every):
        assert rule.next_fire(earlier) == later


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY: 'XX' is not a weekday"),
        ("FREQ=FORTNIGHTLY", "FREQ: 'FORTNIGHTLY' is not one of"),
        ("BYDAY=MO", "FREQ is required"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL: '0' is not a positive whole number"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR: '24' is out of range: use 0 to 23"),
        ("FREQ=DAILY;BYMONTHDAY=-32", "BYMONTHDAY: '-32' is out of range"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20260101", "COUNT and UNTIL exclude each other"),
        ("FREQ=DAILY;UNTIL=2026-01-01", "UNTIL: '2026-01-01' is not a date"),
        ("FREQ=DAILY;BYDAY=1MO", "BYDAY: '1MO' takes a number only with FREQ=MONTHLY or YEARLY"),
        ("FREQ=MONTHLY;BYWEEKNO=3", "BYWEEKNO is allowed only with FREQ=YEARLY"),
        ("FREQ=DAILY;FOO=1", "unknown part 'FOO'"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs another BYxxx part"),
    ],
)
def test_a_malformed_rrule_is_refused_naming_the_part(rule: str, message: str) -> None:
    with pytest.raises(ClockError) as caught:
        clock(rule, "2026-01-01T09:00:00")
    assert message in caught.value.message
    assert caught.value.message.startswith(f"invalid rrule '{rule}': ")


def test_the_rrule_prefix_is_optional() -> None:
    assert walls(clock("RRULE:FREQ=DAILY;COUNT=2", "2026-06-01T09:00:00")) == edt(
        "2026-06-01", "2026-06-02"
    )
