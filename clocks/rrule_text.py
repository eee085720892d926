"""RRULE text (RFC 5545 3.3.10) → checked parts, so that an error names the bad part.

python-dateutil's own parser accepts some nonsense silently and words its errors for
programmers; this reader refuses each bad part with what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from clocks.errors import ClockError

__all__ = ["FREQUENCIES", "WEEKDAYS", "RRuleParts", "parse_rrule"]

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

# part → (lowest, highest, may be negative)
_NUMBER_LISTS = {
    "BYSECOND": (0, 59, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_KNOWN = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", *_NUMBER_LISTS)
_BYDAY = re.compile(r"^([+-]?)(\d{1,2})?([A-Z]{2})$")
_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")


@dataclass(frozen=True)
class RRuleParts:
    """A checked RRULE. `until` is a date (through that local day), a naive wall time, or an
    aware UTC instant (a `Z` value)."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: date | datetime | None = None
    wkst: int = 0
    byday: tuple[tuple[int, int], ...] = ()  # (weekday 0=MO, n or 0)
    numbers: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def get(self, part: str) -> tuple[int, ...]:
        return dict(self.numbers).get(part, ())


def _fail(text: str, message: str, part: str | None) -> ClockError:
    return ClockError(f"invalid rrule '{text}': {message}", field=part, value=text)


def parse_rrule(text: str) -> RRuleParts:
    """Read `FREQ=...;...` (an `RRULE:` prefix is allowed); ClockError naming the bad part.

    >>> parse_rrule("FREQ=MONTHLY;BYDAY=-1FR").byday
    ((4, -1),)
    >>> parse_rrule("FREQ=WEEKLY;BYDAY=XX")
    Traceback (most recent call last):
    clocks.errors.ClockError: invalid rrule 'FREQ=WEEKLY;BYDAY=XX': BYDAY: 'XX' is not a weekday: use MO TU WE TH FR SA SU, optionally with a number (-1FR, 2MO)
    """
    if not isinstance(text, str) or not text.strip():
        raise ClockError("empty rrule: write one such as 'FREQ=DAILY;BYHOUR=9'", field="rrule")
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    seen: dict[str, str] = {}
    for item in body.split(";"):
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not equals or not value:
            raise _fail(text, f"'{item}' is not NAME=VALUE", name or None)
        if name not in _KNOWN:
            raise _fail(text, f"unknown part '{name}': allowed are {', '.join(_KNOWN)}", name)
        if name in seen:
            raise _fail(text, f"{name} is given twice", name)
        seen[name] = value
    freq = seen.get("FREQ")
    if freq is None:
        raise _fail(text, f"FREQ is required: one of {', '.join(FREQUENCIES)}", "FREQ")
    if freq not in FREQUENCIES:
        raise _fail(text, f"FREQ: '{freq}' is not one of {', '.join(FREQUENCIES)}", "FREQ")
    interval = _positive(text, "INTERVAL", seen.get("INTERVAL", "1"))
    count = _positive(text, "COUNT", seen["COUNT"]) if "COUNT" in seen else None
    until = _until(text, seen["UNTIL"]) if "UNTIL" in seen else None
    if count is not None and until is not None:
        raise _fail(text, "COUNT and UNTIL exclude each other (RFC 5545): keep one", "COUNT")
    wkst = _weekday(text, "WKST", seen.get("WKST", "MO"))
    byday = (
        tuple(_byday(text, freq, item) for item in seen["BYDAY"].split(","))
        if "BYDAY" in seen
        else ()
    )
    numbers = []
    for part, (low, high, signed) in _NUMBER_LISTS.items():
        if part in seen:
            numbers.append(
                (
                    part,
                    tuple(_number(text, part, v, low, high, signed) for v in seen[part].split(",")),
                )
            )
    given = {part for part, _ in numbers}
    _check_combinations(text, freq, given, bool(byday))
    return RRuleParts(freq, interval, count, until, wkst, byday, tuple(numbers))


def _check_combinations(text: str, freq: str, given: set[str], has_byday: bool) -> None:
    if "BYWEEKNO" in given and freq != "YEARLY":
        raise _fail(text, "BYWEEKNO is allowed only with FREQ=YEARLY", "BYWEEKNO")
    if "BYYEARDAY" in given and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        raise _fail(text, f"BYYEARDAY is not allowed with FREQ={freq}", "BYYEARDAY")
    if "BYMONTHDAY" in given and freq == "WEEKLY":
        raise _fail(text, "BYMONTHDAY is not allowed with FREQ=WEEKLY", "BYMONTHDAY")
    if "BYSETPOS" in given and not (has_byday or len(given) > 1):
        raise _fail(text, "BYSETPOS needs another BYxxx part to pick from", "BYSETPOS")


def _positive(text: str, part: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise _fail(text, f"{part}: '{value}' is not a positive whole number", part)
    return int(value)


def _number(text: str, part: str, value: str, low: int, high: int, signed: bool) -> int:
    match = re.fullmatch(r"([+-]?)(\d{1,3})", value.strip())
    allowed = f"{low} to {high}" + (f" or -{high} to -{low}" if signed else "")
    if (
        match is None
        or (match.group(1) == "-" and not signed)
        or not low <= int(match.group(2)) <= high
    ):
        raise _fail(text, f"{part}: '{value}' is out of range: use {allowed}", part)
    return -int(match.group(2)) if match.group(1) == "-" else int(match.group(2))


def _weekday(text: str, part: str, value: str) -> int:
    if value not in WEEKDAYS:
        raise _fail(text, f"{part}: '{value}' is not a weekday: use {' '.join(WEEKDAYS)}", part)
    return WEEKDAYS.index(value)


def _byday(text: str, freq: str, item: str) -> tuple[int, int]:
    match = _BYDAY.match(item.strip())
    if match is None or match.group(3) not in WEEKDAYS:
        shown = match.group(3) if match else item.strip()
        raise _fail(
            text,
            f"BYDAY: '{shown}' is not a weekday: use {' '.join(WEEKDAYS)}, "
            "optionally with a number (-1FR, 2MO)",
            "BYDAY",
        )
    sign, number, day = match.groups()
    n = 0
    if number is not None:
        n = int(number)
        if not 1 <= n <= 53:
            raise _fail(text, f"BYDAY: '{item}': the number must be 1 to 53 or -53 to -1", "BYDAY")
        if freq not in ("MONTHLY", "YEARLY"):
            raise _fail(
                text, f"BYDAY: '{item}' takes a number only with FREQ=MONTHLY or YEARLY", "BYDAY"
            )
        n = -n if sign == "-" else n
    return WEEKDAYS.index(day), n


def _until(text: str, value: str) -> date | datetime:
    match = _UNTIL.match(value)
    try:
        if match is None:
            raise ValueError(value)
        y, mo, d, h, mi, s, z = match.groups()
        if h is None:
            return date(int(y), int(mo), int(d))
        moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        raise _fail(
            text,
            f"UNTIL: '{value}' is not a date (20261231) or date-time (20261231T180000, 20261231T230000Z)",
            "UNTIL",
        ) from None
    if z:
        from datetime import UTC

        return moment.replace(tzinfo=UTC)
    return moment
