"""The `clockd runs` table: 80 columns by default, everything with `--wide`.

Default: one line a run (id, job/clock, state, scheduled time in this machine's zone, how
long it took, parameters cut to the width left), and under it, indented, what a run has
besides: its name, its parent, the Dask worker it ran on, the error of a run that did not succeed. `--wide`: every
column in full (ISO times with offset), never cut. States are coloured on a terminal only
(`output.use_colour`). Plain text: no rich import on this path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from scheduler.cli.output import (
    STATE_STYLES,
    compact_time,
    parse_time,
    run_duration,
    show_parameters,
    state_words,
)

WIDTH = 80
JOB_WIDTH = 24  # job/clock cut to this in the default layout
MIN_PARAMETERS = 12

_CLICK_COLOURS: dict[str, dict[str, Any]] = {
    "yellow": {"fg": "yellow"},
    "cyan": {"fg": "cyan"},
    "green": {"fg": "green"},
    "red": {"fg": "red"},
    "bold red": {"fg": "red", "bold": True},
    "magenta": {"fg": "magenta"},
    "dim": {"dim": True},
}


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, with … when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def paint(state: str, padded: str, colour: bool) -> str:
    if not colour:
        return padded
    return click.style(padded, **_CLICK_COLOURS.get(STATE_STYLES.get(state, ""), {}))


def _extras(run: Mapping[str, Any]) -> list[str]:
    extras = []
    if run.get("name"):
        extras.append(f"name {run['name']}")
    if run.get("parent_id") is not None:
        extras.append(f"parent {run['parent_id']}")
    if run.get("worker"):  # only runs on a cluster have one: where it ran matters there
        extras.append(f"worker {run['worker']}")
    if run.get("state") not in ("succeeded", "pending", "running") and run.get("error"):
        extras.append(f"error: {run['error']}")
    return extras


def runs_lines(
    runs: Sequence[Mapping[str, Any]], *, now: datetime, colour: bool, width: int = WIDTH
) -> list[str]:
    """The default layout, each line at most `width` characters (colour codes aside)."""
    rows = []
    for run in runs:
        where = run["job"] + (f"/{run['clock']}" if run.get("clock") else "")
        rows.append(
            (
                str(run["id"]),
                cut(where, JOB_WIDTH),
                state_words(str(run["state"])),
                compact_time(run.get("scheduled_time"), now),
                run_duration(run, now),
                show_parameters(run.get("parameters")),
            )
        )
    header = ("ID", "JOB/CLOCK", "STATE", "SCHEDULED", "TOOK", "PARAMETERS")
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(5)]
    used = sum(widths) + 2 * 5
    room = max(width - used, MIN_PARAMETERS)
    lines = [_join(header, widths, room)]
    indent = " " * (widths[0] + 2)
    for run, row in zip(runs, rows, strict=True):
        line = _join(row, widths, room)
        if colour:  # colour the state cell only, after the widths are settled
            start = widths[0] + 2 + widths[1] + 2
            cell = line[start : start + widths[2]]
            line = line[:start] + paint(str(run["state"]), cell, colour) + line[start + widths[2] :]
        lines.append(line.rstrip())
        extras = _extras(run)
        if extras:
            lines.append(indent + cut(" · ".join(extras), width - len(indent)))
    return lines


def _join(row: Sequence[str], widths: Sequence[int], room: int) -> str:
    ident, where, state, scheduled, took, parameters = row
    return (
        f"{ident:>{widths[0]}}  {where:<{widths[1]}}  {state:<{widths[2]}}  "
        f"{scheduled:<{widths[3]}}  {took:>{widths[4]}}  {cut(parameters, room)}"
    )


WIDE_COLUMNS = (
    ("ID", "id"),
    ("JOB", "job"),
    ("CLOCK", "clock"),
    ("NAME", "name"),
    ("TRIGGER", "trigger"),
    ("STATE", "state"),
    ("SCHEDULED", "scheduled_time"),
    ("STARTED", "started_at"),
    ("TOOK", None),
    ("ATTEMPT", "attempt"),
    ("PARENT", "parent_id"),
    ("DAEMON", "daemon"),
    ("WORKER", "worker"),
    ("PARAMETERS", "parameters"),
    ("ERROR", "error"),
)


def _wide_cell(run: Mapping[str, Any], key: str | None, now: datetime) -> str:
    if key is None:
        return run_duration(run, now)
    value = run.get(key)
    if value is None or value == "":
        return "-"
    if key.endswith(("_time", "_at")):
        moment = parse_time(value)
        return moment.astimezone().isoformat() if moment else str(value)
    if key == "parameters":
        return show_parameters(value) or "-"
    if key == "state":
        return state_words(str(value))
    return str(value)


def wide_lines(runs: Sequence[Mapping[str, Any]], *, now: datetime, colour: bool) -> list[str]:
    """Every column, in full, aligned; the last column (error) is not padded."""
    rows = [[_wide_cell(run, key, now) for _, key in WIDE_COLUMNS] for run in runs]
    header = [title for title, _ in WIDE_COLUMNS]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    state_index = header.index("STATE")

    def join(cells: Sequence[str], state: str | None) -> str:
        parts = []
        for index, cell in enumerate(cells):
            padded = cell if index == len(cells) - 1 else f"{cell:<{widths[index]}}"
            if index == state_index and state is not None:
                padded = paint(state, padded, colour)
            parts.append(padded)
        return "  ".join(parts).rstrip()

    lines = [join(header, None)]
    lines.extend(join(row, str(run["state"])) for run, row in zip(runs, rows, strict=True))
    return lines
