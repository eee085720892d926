"""Durations as users write them: "30s" "5m" "2h" "1d" "1w" "1h30m", or ISO 8601 "PT5M" "P1D" "P1M".

`parse_duration` builds a `pendulum.Duration` from the units as written, so that "36h" stays
36 hours of elapsed time and is not confused with "1d12h" (one calendar day, then 12 hours).
pendulum normalizes both to `Duration(days=1, hours=12)`; the units as written survive in the
Duration's constructor signature, which `duration_parts` reads.

>>> format_duration(parse_duration("1h30m"))
'1h30m'
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NamedTuple

import pendulum

from clocks.errors import ClockError

__all__ = [
    "DurationParts",
    "describe_duration",
    "duration_parts",
    "format_duration",
    "is_elapsed",
    "parse_duration",
]

# Compact form: each unit at most once, largest first ("1d12h", "1h30m", "1h 30m").
# "y" and "mo" are accepted too, so that every `format_duration` output parses back.
_COMPACT = re.compile(
    r"""
    (?:(?P<years>\d+)\s*y\s*)?
    (?:(?P<months>\d+)\s*mo\s*)?
    (?:(?P<weeks>\d+)\s*w\s*)?
    (?:(?P<days>\d+)\s*d\s*)?
    (?:(?P<hours>\d+)\s*h\s*)?
    (?:(?P<minutes>\d+)\s*m\s*)?
    (?:(?P<seconds>\d+)\s*s)?
    """,
    re.VERBOSE,
)

# ISO 8601: PnYnMnWnDTnHnMnS, whole numbers only. Weeks may be combined with other units
# (ISO 8601-2 allows it; pendulum's parser does not).
_ISO = re.compile(
    r"""
    P(?!$)
    (?:(?P<years>\d+)Y)?
    (?:(?P<months>\d+)M)?
    (?:(?P<weeks>\d+)W)?
    (?:(?P<days>\d+)D)?
    (?:T(?=\d)
        (?:(?P<hours>\d+)H)?
        (?:(?P<minutes>\d+)M)?
        (?:(?P<seconds>\d+)S)?
    )?
    """,
    re.VERBOSE,
)

_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


class DurationParts(NamedTuple):
    """A duration split the way clocks use it: calendar units, then elapsed seconds."""

    years: int
    months: int
    days: int  # calendar days, weeks included
    seconds: int  # elapsed seconds: hours, minutes and seconds (may exceed a day: "36h")

    @property
    def is_calendar(self) -> bool:
        return bool(self.years or self.months or self.days)


def parse_duration(
    text: str, *, what: str = "interval", allow_zero: bool = False
) -> pendulum.Duration:
    """Parse a duration: "30s" "5m" "2h" "1d" "1w", compounds "1h30m" "1d12h", or ISO 8601.

    `what` names the value in error messages ("timeout", "jitter", ...). Zero is refused
    unless `allow_zero` (a jitter of "0s" is fine, an interval of "0s" is not).

    >>> parse_duration("1h30m")
    Duration(hours=1, minutes=30)
    >>> parse_duration("P1M").months
    1
    """
    if not isinstance(text, str):
        raise ClockError(
            f"invalid {what} {text!r}: {_ALLOWED}; write it as a string",
            field=what,
            value=text,
        )
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ClockError(
            f"invalid {what} '{text}': a duration must be greater than zero; drop the minus sign",
            field=what,
            value=text,
        )
    if "." in stripped or "," in stripped:
        raise ClockError(
            f"invalid {what} '{text}': whole numbers only (resolution is one second); "
            "write 1h30m rather than 1.5h",
            field=what,
            value=text,
        )
    match = None
    if stripped[:1] in ("P", "p"):
        match = _ISO.fullmatch(stripped.upper())
    elif stripped:
        match = _COMPACT.fullmatch(stripped)
    if match is None or not any(match.group(unit) for unit in _UNITS):
        raise ClockError(f"invalid {what} '{text}': {_ALLOWED}", field=what, value=text)
    values = {unit: int(match.group(unit) or 0) for unit in _UNITS}
    duration = pendulum.duration(**values)
    if duration.total_seconds() == 0 and not allow_zero:
        raise ClockError(
            f"invalid {what} '{text}': a duration must be greater than zero",
            field=what,
            value=text,
        )
    return duration


_ALLOWED = "use a number and a unit (30s, 5m, 2h, 1d, 1w) or ISO 8601 (PT5M, P1D, P1M)"


def duration_parts(duration: timedelta) -> DurationParts:
    """Split `duration` into calendar units and elapsed seconds, by the units it was built from.

    `pendulum.duration(hours=36)` is 36 elapsed hours; `pendulum.duration(days=1, hours=12)` is
    one calendar day and 12 hours. A plain `timedelta` is elapsed time. Sub-second parts are dropped.
    """
    signature = getattr(duration, "_signature", None)
    if not isinstance(duration, pendulum.Duration) or not isinstance(signature, dict):
        return DurationParts(0, 0, 0, int(duration.total_seconds()))
    years, months = duration.years, duration.months
    calendar_days = signature.get("weeks", 0) * 7 + signature.get("days", 0)
    whole_days = int(calendar_days)
    # Everything that is not years, months or whole calendar days is elapsed time.
    rest = duration - timedelta(days=years * 365 + months * 30 + whole_days)
    return DurationParts(years, months, whole_days, int(rest.total_seconds()))


def is_elapsed(duration: timedelta) -> bool:
    """True when `duration` is made of seconds, minutes and hours only (fixed elapsed time).

    >>> is_elapsed(parse_duration("36h")), is_elapsed(parse_duration("1d"))
    (True, False)
    """
    return not duration_parts(duration).is_calendar


def format_duration(duration: timedelta) -> str:
    """The compact text of `duration`: "5m", "1d", "1mo", "1h30m", "1y2mo", "0s".

    >>> format_duration(parse_duration("P1DT2H"))
    '1d2h'
    """
    parts = duration_parts(duration)
    weeks, days = divmod(parts.days, 7)
    hours, rest = divmod(parts.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    pieces = [
        (parts.years, "y"),
        (parts.months, "mo"),
        (weeks, "w"),
        (days, "d"),
        (hours, "h"),
        (minutes, "m"),
        (seconds, "s"),
    ]
    text = "".join(f"{value}{unit}" for value, unit in pieces if value)
    return text or "0s"


def describe_duration(duration: timedelta) -> str:
    """`format_duration` for people reading a message: a duration with a fraction of a second
    keeps it when it is under a minute ("0.05s", "2.5s"); otherwise "1h30m", "2s".

    >>> describe_duration(timedelta(seconds=0.05)), describe_duration(timedelta(seconds=90))
    ('0.05s', '1m30s')
    """
    seconds = duration.total_seconds()
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return format_duration(duration)
