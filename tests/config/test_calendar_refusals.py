"""[calendars.*] and the rrule, calendar, on_closed_day, between and exclude keys of clocks:
each refusal of spec 2.5, worded exactly, every problem at once (spec 2.2)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scheduler.config import load_config
from tests.config.test_config_refusals import NOW, problems_in

JOB = '[jobs.report]\ncommand = ["true"]\n[[jobs.report.clocks]]\nname = "c"\n'
US = '[calendars.us]\nholidays = "US"\n'

REFUSALS = [
    (
        '[calendars.x]\nholidays = "USS"\n',
        "clockd.toml: calendars.x.holidays: unknown country 'USS' (did you mean 'USA'?): "
        "use an ISO 3166 code the holidays package knows, such as 'US' or 'DE'",
    ),
    (
        '[calendars.x]\nholidays = "DE-BX"\n',
        "clockd.toml: calendars.x.holidays: unknown subdivision 'BX' of DE (did you mean 'DE-BB'?): "
        "use one of BB, BE, BW, BY, HB, HE, HH, MV, NI, NW, RP, SH, SL, SN, ST, TH",
    ),
    (
        '[calendars.x]\nweekend = ["sat", "sunday", "funday"]\n',
        "clockd.toml: calendars.x.weekend[2]: 'funday' is not a weekday: use mon, tue, wed, thu, fri, sat, sun",
    ),
    (
        '[calendars.x]\nclosed = ["2026-13-01"]\n',
        "clockd.toml: calendars.x.closed[0]: invalid date '2026-13-01': use ISO 8601 such as '2026-12-24'",
    ),
    (
        US + JOB + 'cron = "@daily"\ncalendar = "uss"\n',
        "clockd.toml: jobs.report.clocks[0] (\"c\"): calendar: unknown calendar 'uss' (did you mean 'us'?): "
        "define [calendars.uss] or use one of: us",
    ),
    (
        JOB + 'rrule = "FREQ=WEEKLY;BYDAY=MO,XX"\nstart = "2026-01-05T09:00:00"\n',
        "clockd.toml: jobs.report.clocks[0] (\"c\"): invalid rrule 'FREQ=WEEKLY;BYDAY=MO,XX': BYDAY: "
        "'XX' is not a weekday: use MO TU WE TH FR SA SU, optionally with a number (-1FR, 2MO)",
    ),
    (
        JOB + 'rrule = "FREQ=DAILY"\n',
        'clockd.toml: jobs.report.clocks[0] ("c"): an rrule clock needs start (its DTSTART, a wall time '
        "such as '2026-01-01T09:00:00')",
    ),
    (
        JOB + 'cron = "@hourly"\nbetween = ["08:00", "08:00"]\n',
        "clockd.toml: jobs.report.clocks[0] (\"c\"): between: equal ends '08:00': the window would be empty; "
        "an end before the start spans midnight",
    ),
    (
        JOB + 'cron = "@hourly"\nbetween = ["8am", "18:00"]\n',
        "clockd.toml: jobs.report.clocks[0] (\"c\"): between[0]: invalid wall time '8am': use HH:MM such as '08:00'",
    ),
    (
        JOB + 'cron = "@hourly"\non_closed_day = "next_business_day"\n',
        'clockd.toml: jobs.report.clocks[0] ("c"): on_closed_day: only applies with a calendar: '
        'add calendar = "NAME"',
    ),
    (
        US + JOB + 'cron = "@daily"\ncalendar = "us"\non_closed_day = "next"\n',
        "clockd.toml: jobs.report.clocks[0] (\"c\"): on_closed_day: 'next' is not allowed: "
        "use skip, next_business_day or previous_business_day",
    ),
    (
        # Only on Saturdays, on a calendar closed on Saturdays: never fires.
        US + JOB + 'cron = "0 9 * * SAT"\ncalendar = "us"\n',
        'clockd.toml: jobs.report.clocks[0] ("c"): never fires: its rules leave no fire in the ten years '
        "from its start; check rrule, calendar, exclude and between",
    ),
    (
        JOB + 'cron = "0 9 * * *"\nbetween = ["10:00", "18:00"]\n',
        'clockd.toml: jobs.report.clocks[0] ("c"): never fires: its rules leave no fire in the ten years '
        "from its start; check rrule, calendar, exclude and between",
    ),
    (
        JOB + 'rrule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"\nstart = "2026-01-01T09:00:00"\n',
        'clockd.toml: jobs.report.clocks[0] ("c"): never fires: its rules leave no fire in the ten years '
        "from its start; check rrule, calendar, exclude and between",
    ),
    (
        JOB + 'cron = "@daily"\nexclude = ["tomorrow"]\n',
        "clockd.toml: jobs.report.clocks[0] (\"c\"): exclude[0]: invalid date and time 'tomorrow': use ISO 8601 "
        "such as '2026-03-29T02:30:00', '2026-03-29T02:30:00+02:00' or '2026-03-29'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), REFUSALS, ids=[e.split(": ", 2)[-1][:40] for _, e in REFUSALS]
)
def test_it_refuses_with_the_exact_message(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_in(tmp_path, text) == [expected]


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        '[calendars.x]\nholidays = "XX"\n'
        + JOB
        + 'rrule = "FREQ=DAILY;BYHOUR=25"\nstart = "2026-01-01"\ncalendar = "nope"\nbetween = ["09:00", "09:00"]\n'
    )
    lines = problems_in(tmp_path, text)
    assert len(lines) == 4
    assert lines[0].startswith("clockd.toml: calendars.x.holidays: unknown country 'XX'")
    assert "calendar: unknown calendar 'nope'" in lines[1]
    assert "between: equal ends" in lines[2]
    assert "BYHOUR: '25' is out of range: use 0 to 23" in lines[3]


def test_a_calendar_in_an_included_file_and_a_clock_using_it(tmp_path: Path) -> None:
    (tmp_path / "jobs.d").mkdir()
    (tmp_path / "jobs.d" / "cal.toml").write_text(
        '[calendars.bavaria]\nholidays = "DE-BY"\nclosed = ["2026-12-24"]\n'
    )
    (tmp_path / "clockd.toml").write_text(
        '[daemon]\ninclude = ["jobs.d/*.toml"]\ntimezone = "Europe/Berlin"\n'
        + JOB
        + 'cron = "0 9 * * *"\ncalendar = "bavaria"\non_closed_day = "next_business_day"\n'
    )
    config = load_config(tmp_path / "clockd.toml", environ={}, now=NOW)
    [clock] = config.jobs["report"].clocks
    assert clock.filters.calendar.closed_reason(date(2026, 6, 4)) == "Corpus Christi (DE-BY)"
    assert clock.kind == "cron"
    assert clock.expression == "0 9 * * *"


def test_a_clock_whose_fires_all_lie_in_the_past_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "clockd.toml").write_text(
        JOB
        + 'rrule = "FREQ=DAILY;COUNT=3"\nstart = "2020-01-01T09:00:00"\nbetween = ["08:00", "10:00"]\n'
    )
    config = load_config(tmp_path / "clockd.toml", environ={}, now=NOW)
    assert [w.render() for w in config.warnings] == [
        f'{tmp_path}/clockd.toml: jobs.report.clocks[0] ("c"): all its fires lie in the past: it will not fire again'
    ]
