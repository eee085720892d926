"""clocks.localtime.parse_moment: what people type (`next --after`, backfill bounds) → the
instant it means in a zone, by spec 2.3's rules for wall times."""

from __future__ import annotations

import pytest

from clocks.errors import ClockError
from clocks.localtime import get_zone, parse_moment

# Europe/Berlin: 2026-03-29 02:00 → 03:00 skipped (+01:00 → +02:00);
# 2026-10-25 02:00–03:00 repeated (+02:00, then +01:00).
# America/Sao_Paulo has had no DST since 2019; Asia/Kolkata is +05:30.


@pytest.mark.parametrize(
    ("text", "zone", "end", "expected"),
    [
        ("2026-03-29T02:30", "Europe/Berlin", False, "2026-03-29T01:00:00+00:00"),
        ("2026-03-29T02:30:00", "Europe/Berlin", True, "2026-03-29T01:00:00+00:00"),
        ("2026-03-29T01:59:59", "Europe/Berlin", False, "2026-03-29T00:59:59+00:00"),
        ("2026-10-25T02:30", "Europe/Berlin", False, "2026-10-25T00:30:00+00:00"),
        ("2026-10-25 02:30", "Europe/Berlin", False, "2026-10-25T00:30:00+00:00"),
        ("2026-10-25", "Europe/Berlin", False, "2026-10-24T22:00:00+00:00"),
        ("2026-10-25", "Europe/Berlin", True, "2026-10-25T22:59:59+00:00"),
        ("2026-03-29", "Europe/Berlin", True, "2026-03-29T21:59:59+00:00"),
        ("2026-03-29T02:30:00+02:00", "Europe/Berlin", False, "2026-03-29T00:30:00+00:00"),
        ("2026-03-29T00:30:00Z", "Asia/Kolkata", False, "2026-03-29T00:30:00+00:00"),
        ("2026-03-29T06:00:00.750", "Asia/Kolkata", False, "2026-03-29T00:30:00+00:00"),
        (" 2026-01-01 ", "UTC", True, "2026-01-01T23:59:59+00:00"),
    ],
    ids=[
        "gap",
        "gap-as-end",
        "before-gap",
        "repeated-hour-first",
        "space-separator",
        "date-start",
        "date-end-of-a-25-hour-day",
        "date-end-of-a-23-hour-day",
        "offset-wins",
        "zulu",
        "fraction-dropped",
        "spaces",
    ],
)
def test_text_means_one_instant_in_a_zone(text: str, zone: str, end: bool, expected: str) -> None:
    assert parse_moment(text, get_zone(zone), end=end).isoformat() == expected


@pytest.mark.parametrize(
    ("text", "end", "message"),
    [
        (
            "tomorrow",
            False,
            "'tomorrow' is not a date or date-time: use ISO 8601 such as 2026-03-29, "
            "2026-03-29T02:30, 2026-03-29T02:30:00+02:00 or 2026-03-29T00:30:00Z",
        ),
        ("2026-02-30", False, "'2026-02-30' is not a date or date-time"),
        (
            "0001-01-01",
            False,
            "'0001-01-01' is out of range: use a date between 0002-01-01 and 9998-12-31",
        ),
        ("9999-12-31", True, "'9999-12-31' is out of range"),
    ],
    ids=["words", "no-such-day", "year-1", "year-9999"],
)
def test_text_that_is_no_instant_is_refused_in_words(text: str, end: bool, message: str) -> None:
    with pytest.raises(ClockError) as caught:
        parse_moment(text, get_zone("Europe/Berlin"), end=end)
    assert caught.value.message.startswith(message)
