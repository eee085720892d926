"""Typed reading of one TOML table, recording a Problem for every value that does not fit.

A `Section` knows where its table is (file, key path, label) and how to name a key in a
message. Readers return the value, or `default` after recording the problem, so that
validation goes on and every problem is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from scheduler.config.keys import unknown_key_message
from scheduler.problems import Problem

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Sizes in binary units, as the spec says: KB MB GB are KiB MiB GiB.
SIZE_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
SIZE_UNITS.update({"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30})
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int | None:
    """ "10MB" → 10485760 (KB MB GB are KiB MiB GiB); None when `text` is not a size."""
    match = _SIZE.match(text)
    if match is None or match.group(2).upper() not in SIZE_UNITS:
        return None
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).upper()])


def describe(value: Any) -> str:
    """A value as the user wrote it in TOML: 'two', 3, true, an array, a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return type(value).__name__


def toml_key(name: str) -> str:
    """A key as it appears in a dotted path: bare when TOML allows, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'


@dataclass
class Section:
    """One table of the config and where it is."""

    file: str
    path: str
    table: Mapping[str, Any]
    problems: list[Problem]
    label: str | None = None
    # Job and daemon keys are located by their own path ("jobs.report.retries: ...");
    # a clock's keys are located at the clock and named in the message, so that its
    # label stays readable ('jobs.report.clocks[1] ("small"): catchup: ...').
    nested: bool = True
    seen_problem: bool = field(default=False, init=False)

    def report(self, message: str, key: str | None = None) -> None:
        self.seen_problem = True
        if key is None:
            path = self.path
        elif self.nested:
            path = f"{self.path}.{key}" if self.path else key
        else:
            path, message = self.path, f"{key}: {message}"
        self.problems.append(Problem(self.file, path, message, self.label))

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in self.table:
            if key not in allowed:
                self.report(unknown_key_message(key, allowed))

    def has(self, key: str) -> bool:
        return key in self.table

    def _expect(self, key: str, what: str) -> None:
        self.report(f"expected {what}, got {describe(self.table[key])}", key)

    def string(self, key: str, default: Any = None, *, allow_empty: bool = True) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, str):
            self._expect(key, "a string")
            return default
        if not allow_empty and not value.strip():
            self.report("must not be empty", key)
            return default
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self._expect(key, "an integer")
            return default
        if minimum is not None and value < minimum:
            self.report(f"{value} is too small: the minimum is {minimum}", key)
            return default
        return value

    def size(self, key: str, default: int, *, minimum: int = 1) -> int:
        """A size in bytes: an integer, or a string such as "512KB", "10MB", "1GB"."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, str):
            parsed = parse_size(value)
            if parsed is None:
                self.report(
                    f"{describe(value)} is not a size: write a number of bytes or "
                    "'512KB', '10MB', '1GB' (KB MB GB are KiB MiB GiB)",
                    key,
                )
                return default
            value = parsed
        elif isinstance(value, bool) or not isinstance(value, int):
            self._expect(key, "a size such as '10MB' or a number of bytes")
            return default
        if value < minimum:
            self.report(f"{value} bytes is too small: the minimum is {minimum}", key)
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, bool):
            self._expect(key, "true or false")
            return default
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        if key not in self.table:
            return default
        value = self.table[key]
        if value not in choices:
            shown = describe(value)
            self.report(f"{shown} is not allowed: use {_or_list(choices)}", key)
            return default
        return str(value)

    def strings(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
        """An array of strings."""
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, list):
            self._expect(key, "an array of strings")
            return default
        bad = [i for i, item in enumerate(value) if not isinstance(item, str)]
        for index in bad:
            self.report(f"expected a string, got {describe(value[index])}", f"{key}[{index}]")
        return default if bad else tuple(value)

    def string_table(self, key: str) -> dict[str, str]:
        """A table of string values (env, labels)."""
        if key not in self.table:
            return {}
        value = self.table[key]
        if not isinstance(value, dict):
            self._expect(key, "a table of strings")
            return {}
        result = {}
        for name, item in value.items():
            if isinstance(item, str):
                result[name] = item
            else:
                self.report(f"expected a string, got {describe(item)}", f"{key}.{toml_key(name)}")
        return result

    def table_of(self, key: str) -> dict[str, Any]:
        if key not in self.table:
            return {}
        value = self.table[key]
        if not isinstance(value, dict):
            self._expect(key, "a table")
            return {}
        return value

    def duration(
        self, key: str, default: timedelta | None, *, positive: bool = False
    ) -> timedelta | None:
        """A duration ("30s", "10m", "1d", ISO 8601) of fixed length, as a timedelta."""
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, str):
            self._expect(key, "a duration such as '30s', '10m' or '1h30m'")
            return default
        from clocks.durations import parse_duration
        from clocks.errors import ClockError

        try:
            parsed = parse_duration(value, what="duration", allow_zero=not positive)
        except ClockError as error:
            self.report(error.message, key)
            return default
        if getattr(parsed, "years", 0) or getattr(parsed, "months", 0):
            self.report(
                f"duration '{value}' has months or years, which have no fixed length: use days or weeks",
                key,
            )
            return default
        return timedelta(seconds=round(parsed.total_seconds()))


def _or_list(choices: Iterable[str]) -> str:
    items = list(choices)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]
