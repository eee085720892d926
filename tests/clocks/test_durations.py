"""Durations as users write them (spec 2: interval, timeout, retry_delay, shutdown_grace, jitter)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest

from clocks.durations import duration_parts, format_duration, is_elapsed, parse_duration
from clocks.errors import ClockError

ACCEPTED = [
    # text, expected duration, elapsed?, formatted
    ("30s", pendulum.duration(seconds=30), True, "30s"),
    ("5m", pendulum.duration(minutes=5), True, "5m"),
    ("2h", pendulum.duration(hours=2), True, "2h"),
    ("1d", pendulum.duration(days=1), False, "1d"),
    ("1w", pendulum.duration(weeks=1), False, "1w"),
    ("1h30m", pendulum.duration(hours=1, minutes=30), True, "1h30m"),
    ("1h 30m", pendulum.duration(hours=1, minutes=30), True, "1h30m"),
    ("1d12h", pendulum.duration(days=1, hours=12), False, "1d12h"),
    ("36h", pendulum.duration(hours=36), True, "36h"),
    ("90s", pendulum.duration(seconds=90), True, "1m30s"),
    ("1y2mo", pendulum.duration(years=1, months=2), False, "1y2mo"),
    ("PT5M", pendulum.duration(minutes=5), True, "5m"),
    ("PT36H", pendulum.duration(hours=36), True, "36h"),
    ("P1D", pendulum.duration(days=1), False, "1d"),
    ("P1M", pendulum.duration(months=1), False, "1mo"),
    ("P1Y", pendulum.duration(years=1), False, "1y"),
    ("P2W", pendulum.duration(weeks=2), False, "2w"),
    ("P10D", pendulum.duration(days=10), False, "1w3d"),
    ("P1DT2H", pendulum.duration(days=1, hours=2), False, "1d2h"),
    ("P1Y2M3W", pendulum.duration(years=1, months=2, weeks=3), False, "1y2mo3w"),
    ("p1d", pendulum.duration(days=1), False, "1d"),
]


@pytest.mark.parametrize(
    ("text", "expected", "elapsed", "formatted"), ACCEPTED, ids=[row[0] for row in ACCEPTED]
)
def test_it_accepts(text: str, expected: pendulum.Duration, elapsed: bool, formatted: str) -> None:
    duration = parse_duration(text)
    assert isinstance(duration, pendulum.Duration)
    assert duration == expected
    assert (duration.years, duration.months) == (expected.years, expected.months)
    assert is_elapsed(duration) is elapsed
    assert format_duration(duration) == formatted
    assert parse_duration(formatted) == duration


FORMAT_HINT = "use a number and a unit (30s, 5m, 2h, 1d, 1w) or ISO 8601 (PT5M, P1D, P1M)"
REFUSED = [
    ("5x", f"invalid interval '5x': {FORMAT_HINT}"),
    ("", f"invalid interval '': {FORMAT_HINT}"),
    ("5", f"invalid interval '5': {FORMAT_HINT}"),
    ("m", f"invalid interval 'm': {FORMAT_HINT}"),
    ("1M", f"invalid interval '1M': {FORMAT_HINT}"),
    ("5m1h", f"invalid interval '5m1h': {FORMAT_HINT}"),
    ("1h1h", f"invalid interval '1h1h': {FORMAT_HINT}"),
    ("P", f"invalid interval 'P': {FORMAT_HINT}"),
    ("PT", f"invalid interval 'PT': {FORMAT_HINT}"),
    ("P1H", f"invalid interval 'P1H': {FORMAT_HINT}"),
    ("PT1D", f"invalid interval 'PT1D': {FORMAT_HINT}"),
    ("0s", "invalid interval '0s': a duration must be greater than zero"),
    ("PT0S", "invalid interval 'PT0S': a duration must be greater than zero"),
    ("P0D", "invalid interval 'P0D': a duration must be greater than zero"),
    ("-5m", "invalid interval '-5m': a duration must be greater than zero; drop the minus sign"),
    ("-P1D", "invalid interval '-P1D': a duration must be greater than zero; drop the minus sign"),
    ("1.5h", "invalid interval '1.5h': whole numbers only"),
    ("PT0.5S", "invalid interval 'PT0.5S': whole numbers only"),
    ("P1.5D", "invalid interval 'P1.5D': whole numbers only"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[row[0] or "empty" for row in REFUSED])
def test_it_refuses(text: str, message: str) -> None:
    with pytest.raises(ClockError) as caught:
        parse_duration(text)
    assert caught.value.message.startswith(message)
    assert caught.value.value == text
    assert caught.value.field == "interval"


def test_it_refuses_a_number_that_is_not_text() -> None:
    with pytest.raises(ClockError, match=r"^invalid interval 30: .*; write it as a string$"):
        parse_duration(30)  # type: ignore[arg-type]


def test_it_names_the_value_it_parses() -> None:
    with pytest.raises(ClockError, match=r"^invalid timeout '10x': use a number") as caught:
        parse_duration("10x", what="timeout")
    assert caught.value.field == "timeout"


def test_zero_is_accepted_only_when_allowed() -> None:
    assert parse_duration("0s", what="jitter", allow_zero=True) == timedelta(0)
    with pytest.raises(ClockError, match="greater than zero"):
        parse_duration("0s", what="jitter")


def test_36_hours_are_elapsed_but_one_day_and_12_hours_are_not() -> None:
    # pendulum normalizes both to Duration(days=1, hours=12); the units as written decide.
    assert parse_duration("36h") == parse_duration("1d12h")
    assert duration_parts(parse_duration("36h")) == (0, 0, 0, 129600)
    assert duration_parts(parse_duration("1d12h")) == (0, 0, 1, 43200)


def test_a_plain_timedelta_is_elapsed_time() -> None:
    assert is_elapsed(timedelta(days=2))
    assert format_duration(timedelta(days=1, hours=1)) == "25h"
    assert format_duration(timedelta(0)) == "0s"


def test_durations_parsed_by_pendulum_keep_their_units() -> None:
    # What a library user may pass to IntervalClock directly.
    assert is_elapsed(pendulum.parse("PT36H"))  # type: ignore[arg-type]
    assert not is_elapsed(pendulum.parse("P1DT12H"))  # type: ignore[arg-type]
