"""JSON Schema validation errors of a parameter value, phrased for people, with their pointer."""

from __future__ import annotations

from typing import Any

from clocks import values as _values
from clocks.declarations import Parameter
from clocks.templates import shorten

_ValidationError = Any  # jsonschema has no type stubs


def pointer(name: str, error: _ValidationError) -> str:
    parts = [name, *(str(part) for part in error.absolute_path)]
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def phrase_schema_error(
    parameter: Parameter, error: _ValidationError, label: str = ""
) -> tuple[str, str]:
    """(message, JSON pointer) for one jsonschema error of `parameter`'s value."""
    where_pointer = pointer(parameter.name, error)
    where = f"parameter '{parameter.name}'" + (
        f" at {where_pointer}" if error.absolute_path else ""
    )
    if label:
        where += f": {label}"
    instance, expected = error.instance, error.validator_value
    shown = _values.quoted(instance)
    if (
        error.validator == "format"
        and expected in ("date", "date-time")
        and isinstance(instance, str)
    ):
        try:
            _values.from_text("date" if expected == "date" else "datetime", instance)
            reason = error.message
        except ValueError as exc:
            reason = str(exc)
    elif (
        error.validator == "type"
        and not error.absolute_path
        and parameter.type in ("date", "datetime")
    ):
        example = "2026-03-01" if parameter.type == "date" else "2026-03-01T10:00:00+01:00"
        reason = f"{shown} is not a {parameter.type} (write it as text, like {example})"
    elif error.validator == "type":
        reason = f"{shown} is not of type {_values.quoted(expected)}"
    elif error.validator == "enum":
        reason = f"{shown} is not one of {', '.join(_values.quoted(v) for v in expected)}"
    elif error.validator == "const":
        reason = f"{shown} is not {_values.quoted(expected)}"
    else:
        reason = (
            error.message
        )  # jsonschema's own words are fine, e.g. "-1 is less than the minimum of 0"
    return f"{where}: {shorten(reason, 300)}", where_pointer


def format_checker() -> Any:
    from jsonschema import FormatChecker  # type: ignore[import-untyped]

    checker = FormatChecker()
    # jsonschema's own date-time check needs a package we do not have; dates: ours are strict.
    checker.checks("date")(_values.is_date)
    checker.checks("date-time")(_values.is_datetime)
    return checker
