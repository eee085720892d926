"""Parameter values by declared type: text from `-p NAME=VALUE` and rendered templates,
TOML's native dates, secret references, JSON size.

Every value that leaves this module is JSON-ready: a date is "2026-03-01", a date-time is
ISO 8601 with its UTC offset ("2026-03-01T10:00:00+01:00"). Parsers raise ValueError whose
text is the reason, in words, without the parameter's name:

>>> from_text("integer", "42"), from_text("boolean", "Yes"), from_text("date", "2026-03-01")
(42, True, '2026-03-01')
>>> from_text("integer", "4.2")
Traceback (most recent call last):
...
ValueError: '4.2' is not an integer (write it like 42)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Any

from clocks.templates import shorten

__all__ = [
    "BOOLEAN_WORDS",
    "from_text",
    "is_date",
    "is_datetime",
    "is_reference",
    "json_size",
    "parse_boolean",
    "parse_date",
    "parse_datetime",
    "parse_integer",
    "parse_number",
    "quoted",
    "to_json_value",
]

BOOLEAN_WORDS: dict[str, bool] = {
    "true": True, "yes": True, "on": True, "1": True,
    "false": False, "no": False, "off": False, "0": False,
}  # fmt: skip

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)
_REFERENCE = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*|file:[^\x00]+")

_DATE_EXAMPLE = "write it like 2026-03-01"
_DATETIME_EXAMPLE = "write it like 2026-03-01T10:00:00+01:00 or 2026-03-01T09:00:00Z"


def quoted(value: object) -> str:
    """A value as shown in messages: text in single quotes, others as JSON, shortened."""
    if isinstance(value, str):
        return f"'{shorten(value)}'"
    try:
        return shorten(json.dumps(value, ensure_ascii=False, default=repr))
    except ValueError:  # a circular container
        return shorten(repr(value))


def parse_integer(text: str) -> int:
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        raise ValueError(f"{quoted(text)} is not an integer (write it like 42)")
    try:
        return int(stripped)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        raise ValueError(f"{quoted(text)} is too large an integer") from None


def parse_number(text: str) -> int | float:
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return parse_integer(stripped)
    number = float(stripped) if _NUMBER.fullmatch(stripped) else math.nan
    if not math.isfinite(number):
        raise ValueError(f"{quoted(text)} is not a number (write it like 42 or 2.5)")
    return number


def parse_boolean(text: str) -> bool:
    try:
        return BOOLEAN_WORDS[text.strip().lower()]
    except KeyError:
        raise ValueError(
            f"{quoted(text)} is not a boolean (true/false, yes/no, on/off or 1/0)"
        ) from None


def parse_date(text: str) -> str:
    """A calendar date, exactly YYYY-MM-DD; returned as given."""
    stripped = text.strip()
    if _DATE.fullmatch(stripped):
        try:
            return dt.date.fromisoformat(stripped).isoformat()
        except ValueError as exc:
            raise ValueError(
                f"{quoted(text)} is not a valid date: {exc} ({_DATE_EXAMPLE})"
            ) from None
    raise ValueError(f"{quoted(text)} is not a date ({_DATE_EXAMPLE})")


def parse_datetime(text: str) -> str:
    """An ISO 8601 date-time with a UTC offset ("Z" is +00:00), normalized:

    >>> parse_datetime("2026-03-01 10:00Z")
    '2026-03-01T10:00:00+00:00'
    """
    stripped = text.strip()
    match = _DATETIME.fullmatch(stripped)
    if match is None:
        raise ValueError(f"{quoted(text)} is not a date-time ({_DATETIME_EXAMPLE})")
    if match["offset"] is None:
        raise ValueError(f"{quoted(text)} has no UTC offset ({_DATETIME_EXAMPLE})")
    offset = "+00:00" if match["offset"] in "Zz" else match["offset"]
    try:
        moment = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{offset}")
    except ValueError as exc:
        raise ValueError(
            f"{quoted(text)} is not a valid date-time: {exc} ({_DATETIME_EXAMPLE})"
        ) from None
    return moment.isoformat()


def _parse_json(kind: str, python_type: type, example: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as exc:
            detail = (
                f"{exc.msg.lower()} at column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else str(exc)
            )
            raise ValueError(
                f"{quoted(text)} is not valid JSON ({detail}); write {kind} like {example}"
            ) from None
        if not isinstance(value, python_type):
            raise ValueError(
                f"{quoted(text)} is not a JSON {kind.split()[-1]} (write it like {example})"
            )
        return value

    return parse


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "integer": parse_integer,
    "number": parse_number,
    "boolean": parse_boolean,
    "date": parse_date,
    "datetime": parse_datetime,
    "array": _parse_json("an array", list, '["a", "b"]'),
    "object": _parse_json("an object", dict, '{"key": "value"}'),
}


def from_text(type_name: str, text: str) -> Any:
    """`text` converted to the declared type `type_name` (one of clocks.parameters.TYPES)."""
    return _PARSERS[type_name](text)


def is_date(instance: object) -> bool:
    """Format checker for "date": non-strings pass (the "type" keyword refuses them)."""
    if not isinstance(instance, str):
        return True
    try:
        parse_date(instance)
    except ValueError:
        return False
    return True


def is_datetime(instance: object) -> bool:
    """Format checker for "date-time": ISO 8601 with a UTC offset."""
    if not isinstance(instance, str):
        return True
    try:
        parse_datetime(instance)
    except ValueError:
        return False
    return True


def is_reference(value: object) -> bool:
    """True for a secret reference: "env:NAME" or "file:PATH" (absolute or relative)."""
    return isinstance(value, str) and "{{" not in value and _REFERENCE.fullmatch(value) is not None


def to_json_value(value: Any) -> Any:
    """TOML's native dates and times as ISO text, tuples as lists, in containers too.

    >>> to_json_value({"day": dt.date(2026, 3, 1), "at": (dt.time(9, 30),)})
    {'day': '2026-03-01', 'at': ['09:30:00']}
    """
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    return value


def json_size(values: Any) -> int:
    """Bytes of `values` encoded as compact UTF-8 JSON. TypeError or ValueError when it is not
    JSON serializable (NaN and infinities are not JSON)."""
    return len(
        json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    )
