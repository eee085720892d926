"""Cron syntax (spec 2.4): what is accepted, what it means, and every refusal's wording."""

from __future__ import annotations

from datetime import datetime

import pytest

from clocks.cron import parse_cron
from clocks.cronexpr import CronExpression
from clocks.errors import ClockError

FIELDS = "use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first"

REFUSED = [
    # expression, field, the whole message
    (
        "61 * * * *",
        "minute",
        "invalid cron expression '61 * * * *': minute 61 is out of range 0-59",
    ),
    ("0 24 * * *", "hour", "invalid cron expression '0 24 * * *': hour 24 is out of range 0-23"),
    (
        "0 0 0 * *",
        "day-of-month",
        "invalid cron expression '0 0 0 * *': day-of-month 0 is out of range 1-31",
    ),
    (
        "0 0 32 * *",
        "day-of-month",
        "invalid cron expression '0 0 32 * *': day-of-month 32 is out of range 1-31",
    ),
    ("0 0 * 13 *", "month", "invalid cron expression '0 0 * 13 *': month 13 is out of range 1-12"),
    (
        "0 0 * * 8",
        "day-of-week",
        "invalid cron expression '0 0 * * 8': day-of-week 8 is out of range 0-7",
    ),
    (
        "60 * * * * *",
        "second",
        "invalid cron expression '60 * * * * *': second 60 is out of range 0-59",
    ),
    (
        "0 0 32W * *",
        "day-of-month",
        "invalid cron expression '0 0 32W * *': day-of-month 32 is out of range 1-31",
    ),
    (
        "0 0 * * 5-1",
        "day-of-week",
        "invalid cron expression '0 0 * * 5-1': day-of-week range '5-1' is reversed; write 5-7,0-1",
    ),
    (
        "0 22-2 * * *",
        "hour",
        "invalid cron expression '0 22-2 * * *': hour range '22-2' is reversed; write 22-23,0-2",
    ),
    (
        "0 0 * NOV-FEB *",
        "month",
        "invalid cron expression '0 0 * NOV-FEB *': month range 'NOV-FEB' is reversed; "
        "write 11-12,1-2",
    ),
    (
        "*/0 * * * *",
        "minute",
        "invalid cron expression '*/0 * * * *': minute step in '*/0' is zero; use a step of 1 or more",
    ),
    (
        "0 1-5/0 * * *",
        "hour",
        "invalid cron expression '0 1-5/0 * * *': hour step in '1-5/0' is zero; "
        "use a step of 1 or more",
    ),
    (
        "0 0 ? * MON",
        "day-of-month",
        "invalid cron expression '0 0 ? * MON': '?' is not supported in day-of-month; use '*'",
    ),
    (
        "H * * * *",
        "minute",
        "invalid cron expression 'H * * * *': minute 'H': 'H' hashes are not supported; "
        "write the values",
    ),
    (
        "H/15 * * * *",
        "minute",
        "invalid cron expression 'H/15 * * * *': minute 'H/15': 'H' hashes are not supported; "
        "write the values",
    ),
    (
        "H(0-29) 1 * * *",
        "minute",
        "invalid cron expression 'H(0-29) 1 * * *': minute 'H(0-29)': 'H' hashes are not "
        "supported; write the values",
    ),
    (
        "0 h-5 * * *",
        "hour",
        "invalid cron expression '0 h-5 * * *': hour 'h-5': 'H' hashes are not supported; "
        "write the values",
    ),
    (
        "0 0 1 1 * 0 2027",
        None,
        "invalid cron expression '0 0 1 1 * 0 2027': it has 7 fields and year fields are not "
        f"supported; {FIELDS}",
    ),
    (
        "@reboot",
        None,
        "invalid cron expression '@reboot': @reboot is not supported; use a time such as @daily "
        "or '0 0 * * *'",
    ),
    (
        "@fortnightly",
        None,
        "invalid cron expression '@fortnightly': unknown macro '@fortnightly'; use @yearly, "
        "@annually, @monthly, @weekly, @daily, @midnight or @hourly",
    ),
    ("* * * *", None, f"invalid cron expression '* * * *': it has 4 fields; {FIELDS}"),
    ("", None, f"invalid cron expression '': it is empty; {FIELDS}"),
    (
        "0 0 30 2 *",
        "day-of-month",
        "invalid cron expression '0 0 30 2 *': never fires: February has no 30th",
    ),
    (
        "0 0 31 4,6,9,11 *",
        "day-of-month",
        "invalid cron expression '0 0 31 4,6,9,11 *': never fires: April, June, September and "
        "November have no 31st",
    ),
    (
        "0 0 30,31 FEB *",
        "day-of-month",
        "invalid cron expression '0 0 30,31 FEB *': never fires: February has no 30th or 31st",
    ),
    (
        "0 0 30W 2 *",
        "day-of-month",
        "invalid cron expression '0 0 30W 2 *': never fires: February has no 30th",
    ),
    (
        "0 0 */10 2 5#5",
        "day-of-month",
        "invalid cron expression '0 0 */10 2 5#5': never fires: no day matches day-of-month "
        "'*/10', month '2' and day-of-week '5#5' together",
    ),
    (
        "0 0 * * L",
        "day-of-week",
        "invalid cron expression '0 0 * * L': day-of-week 'L' needs a weekday: write 5L or L5 "
        "for the last Friday",
    ),
    (
        "0 0 * * 5#6",
        "day-of-week",
        "invalid cron expression '0 0 * * 5#6': day-of-week '5#6': the week number must be 1-5 "
        "(5#3 is the third Friday)",
    ),
    (
        "0 0 * FOO *",
        "month",
        "invalid cron expression '0 0 * FOO *': month 'FOO' is not a number or name",
    ),
    (
        "0 0 * JAN MARCH",
        "day-of-week",
        "invalid cron expression '0 0 * JAN MARCH': day-of-week 'MARCH' is not a number or name",
    ),
    ("x * * * *", "minute", "invalid cron expression 'x * * * *': minute 'x' is not a number"),
    (
        "0 0 * * 1-",
        "day-of-week",
        "invalid cron expression '0 0 * * 1-': day-of-week '1-' has an empty value",
    ),
    (
        "0 0 1,,2 * *",
        "day-of-month",
        "invalid cron expression '0 0 1,,2 * *': day-of-month '1,,2' has an empty list item",
    ),
    (
        "*/x * * * *",
        "minute",
        "invalid cron expression '*/x * * * *': minute step 'x' in '*/x' is not a number",
    ),
]


@pytest.mark.parametrize(
    ("expression", "field", "message"), REFUSED, ids=[row[0] or "empty" for row in REFUSED]
)
def test_it_refuses_with_a_phrased_message(
    expression: str, field: str | None, message: str
) -> None:
    with pytest.raises(ClockError) as caught:
        parse_cron(expression)
    assert str(caught.value) == message
    assert caught.value.field == field
    assert "Traceback" not in str(caught.value)


ACCEPTED = [
    # expression, is_wildcard, has_seconds
    ("* * * * *", True, False),
    ("*/15 9 * * *", True, False),
    ("0 */2 * * *", True, False),
    ("30 2 * * *", False, False),
    ("0,30 1-3 * * *", False, False),
    ("0 0 * * * *", True, True),
    ("*/10 0 2 * * *", False, True),
    ("0 */5 2 * * *", True, True),
    ("@hourly", True, False),
    ("@daily", False, False),
    ("@Weekly", False, False),
    ("  0 0 1 1 *  ", False, False),
]


@pytest.mark.parametrize(("expression", "is_wildcard", "has_seconds"), ACCEPTED)
def test_wildcard_is_decided_by_minute_and_hour(
    expression: str, is_wildcard: bool, has_seconds: bool
) -> None:
    parsed = parse_cron(expression)
    assert isinstance(parsed, CronExpression)
    assert parsed.is_wildcard is is_wildcard
    assert parsed.has_seconds is has_seconds


MATCHES = [
    # expression, wall time, matches?  (2025-01-01 is a Wednesday)
    ("0 0 * 3-3 *", "2025-03-15T00:00:00", True),
    ("0 0 * 3-3 *", "2025-04-15T00:00:00", False),
    ("0 0 * * SUN-SUN", "2025-01-05T00:00:00", True),
    ("0 0 * * SUN-SUN", "2025-01-06T00:00:00", False),
    ("0 0 * * 0", "2025-01-05T00:00:00", True),
    ("0 0 * * 7", "2025-01-05T00:00:00", True),
    ("0 0 * * 5-7", "2025-01-05T00:00:00", True),
    ("0 0 * * 5-7", "2025-01-06T00:00:00", False),
    ("0 0 1 * MON", "2025-01-01T00:00:00", True),
    ("0 0 1 * MON", "2025-01-06T00:00:00", True),
    ("0 0 1 * MON", "2025-01-07T00:00:00", False),
    ("0 0 */2 * MON", "2025-01-06T00:00:00", False),
    ("0 0 */2 * MON", "2025-01-13T00:00:00", True),
    ("0 0 1 * */2", "2025-01-01T00:00:00", False),
    ("0 0 1 * */2", "2025-02-01T00:00:00", True),
    ("30 2 * * *", "2025-01-01T02:30:00", True),
    ("30 2 * * *", "2025-01-01T02:30:01", False),
    ("30 2 * * *", "2025-01-01T02:31:00", False),
    ("15 30 2 * * *", "2025-01-01T02:30:15", True),
    ("15 30 2 * * *", "2025-01-01T02:30:00", False),
    ("0 0 L * *", "2024-02-29T00:00:00", True),
    ("0 0 L * *", "2025-02-28T00:00:00", True),
    ("0 0 L * *", "2024-02-28T00:00:00", False),
    ("0 0 LW * *", "2025-08-29T00:00:00", True),
    ("0 0 LW * *", "2025-08-31T00:00:00", False),
    ("0 0 L,15 * *", "2025-01-15T00:00:00", True),
    ("0 0 * * 5L", "2025-01-24T00:00:00", False),
    ("0 0 * * 5L", "2025-01-31T00:00:00", True),
    ("0 0 * * FRI#2", "2025-01-10T00:00:00", True),
    ("0 0 * * FRI#2", "2025-01-17T00:00:00", False),
    ("0 0 * * mon,wed", "2025-01-01T00:00:00", True),
    ("0 0 * dec *", "2025-12-01T00:00:00", True),
    ("5/20 * * * *", "2025-01-01T00:45:00", True),
    ("5/20 * * * *", "2025-01-01T00:50:00", False),
]


@pytest.mark.parametrize(("expression", "wall", "expected"), MATCHES)
def test_matches_wall_time(expression: str, wall: str, expected: bool) -> None:
    assert parse_cron(expression).matches(datetime.fromisoformat(wall)) is expected


def test_next_wall_is_strictly_after_and_whole_seconds() -> None:
    expression = parse_cron("0 12 * * *")
    assert expression.next_wall(datetime(2025, 1, 1, 12)) == datetime(2025, 1, 2, 12)
    assert expression.next_wall(datetime(2025, 1, 1, 11, 59, 59, 999999)) == datetime(
        2025, 1, 1, 12
    )


def test_next_wall_gives_up_near_the_end_of_the_calendar() -> None:
    assert parse_cron("0 0 29 2 *").next_wall(datetime(9996, 3, 1)) is None


def test_macros_mean_their_five_fields() -> None:
    assert parse_cron("@yearly").fields == ("0", "0", "0", "1", "1", "*")
    assert (
        parse_cron("@midnight").fields
        == parse_cron("@daily").fields
        == ("0", "0", "0", "*", "*", "*")
    )
    assert parse_cron("@weekly").fields == ("0", "0", "0", "*", "*", "0")
