"""Rendering shared by the commands: JSON with ISO times, words for states and outcomes, compact
local times, colours on a terminal only, and rich tables imported only when printed.

Everything here works on the API's JSON shapes (a run is `RunRecord.to_json()`), so a command
renders the same way whether it read the database or the API.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TextIO


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON text; datetimes as ISO 8601 with their offset, as they are."""
    return json.dumps(value, default=_default, ensure_ascii=False, indent=indent)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(to_json(value) + "\n")


def plural(count: int, word: str) -> str:
    """`1 job`, `2 jobs`, `0 clocks`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- colours --------------------------------------------------------------------------------


def use_colour(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Colours only on a terminal, never in a pipe or a file, and never with $NO_COLOR set
    (https://no-color.org: any non-empty value)."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


STATE_STYLES = {
    "pending": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "crashed": "bold red",
    "cancelled": "magenta",
    "skipped": "dim",
}


# -- words ----------------------------------------------------------------------------------


def state_words(state: str) -> str:
    """`timed_out` → `timed out`: a state as a sentence says it."""
    return state.replace("_", " ")


def describe_end(record: Mapping[str, Any]) -> str:
    """How a run ended, in words: `succeeded`, `failed: exit code 4`,
    `failed: cannot start 'x': No such file or directory`, `timed out after 2s (SIGTERM)`,
    `cancelled`. `record` is a run in the API's shape."""
    state = str(record.get("state"))
    error = record.get("error") or ""
    code = record.get("exit_code")
    if state == "succeeded":
        return "succeeded"
    if state == "timed_out":
        text = error or "timed out"
        if isinstance(code, int) and code < 0:
            text += f" ({signal_name(-code)})"
        elif isinstance(code, int):
            text += f" (exit code {code})"
        return text
    if state == "cancelled" and error in ("", "cancelled"):
        return "cancelled"
    return f"{state_words(state)}: {error}" if error else state_words(state)


def signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- times ----------------------------------------------------------------------------------


def parse_time(text: str | datetime | None) -> datetime | None:
    if text is None or isinstance(text, datetime):
        return text
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def compact_time(moment: str | datetime | None, now: datetime) -> str:
    """A time in this machine's zone, as short as it can be read: `14:03:07` today,
    `Mar 05 14:03` this year, `2025-03-05 14:03` before."""
    when = parse_time(moment)
    if when is None:
        return "-"
    local = when.astimezone()
    today = now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def run_duration(record: Mapping[str, Any], now: datetime) -> str:
    """How long the run took (or has been running): `2s`, `1m30s`, `0.4s`; `-` if not started."""
    from clocks.durations import describe_duration

    started = parse_time(record.get("started_at"))
    if started is None:
        return "-"
    ended = parse_time(record.get("ended_at")) or now
    elapsed = max(ended - started, timedelta(0))
    if elapsed < timedelta(seconds=10):  # tenths below ten seconds, whole seconds above
        elapsed = timedelta(seconds=round(elapsed.total_seconds(), 1))
    else:
        elapsed = timedelta(seconds=round(elapsed.total_seconds()))
    return describe_duration(elapsed)


def show_value(value: Any) -> str:
    """A parameter value as typed on a command line: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else to_json(value, indent=None)


def show_parameters(parameters: Mapping[str, Any] | None) -> str:
    return " ".join(f"{k}={show_value(v)}" for k, v in (parameters or {}).items())


# -- tables ---------------------------------------------------------------------------------


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """A table for people. rich is imported here, only when a table is printed."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console(file=stream or sys.stdout, soft_wrap=False).print(table)


def console(stream: TextIO | None = None, *, width: int | None = None) -> Any:
    """A rich Console that colours only where `use_colour` says so; `width` for a pipe."""
    from rich.console import Console

    stream = stream or sys.stdout
    colour = use_colour(stream)
    return Console(
        file=stream,
        width=width,
        no_color=not colour,
        color_system="auto" if colour else None,
        highlight=False,
        soft_wrap=False,
    )
