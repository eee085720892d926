"""`clockd next`: upcoming fires of a job with fully resolved parameters; no daemon needed."""

from __future__ import annotations

import dataclasses
import heapq
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

import click

from scheduler.cli.common import config_option
from scheduler.cli.completion import complete_clock, complete_job
from scheduler.errors import NotFound, UserError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from clocks.base import Clock
    from clocks.schedule import Schedule
    from scheduler.models import Config, Job
    from scheduler.storage.records import ClockState

MASK = "***"


def parse_after(text: str) -> date | datetime:
    """'2026-03-29T01:00', '2026-03-29 01:00:00+01:00', '2026-03-29' (midnight) → a date or
    datetime (`clocks.localtime.parse_wall_time`). One without offset is a wall time, to be
    read in each clock's zone."""
    from clocks.errors import ClockError
    from clocks.localtime import parse_wall_time

    try:
        return parse_wall_time(text)
    except ClockError as error:
        raise click.BadParameter(error.message, param_hint="--after") from None


def select_clocks(job: Job, clock_name: str | None) -> tuple[list[Clock], list[str]]:
    """The clocks to list, and notes about the ones left out."""
    if clock_name is not None:
        clock = job.clock(clock_name)
        if clock is None:
            known = ", ".join(c.name for c in job.clocks) or "none"
            raise NotFound(f"job '{job.name}' has no clock '{clock_name}': its clocks are {known}")
        notes = (
            [f"clock '{clock.name}' is disabled: the daemon does not fire it"]
            if not clock.enabled
            else []
        )
        return [dataclasses.replace(clock, enabled=True)], notes
    chosen = [c for c in job.clocks if c.enabled]
    notes = [f"clock '{c.name}' is disabled and not listed" for c in job.clocks if not c.enabled]
    return chosen, notes


def upcoming_fires(
    job: Job,
    *,
    after: date | datetime | None = None,
    count: int = 10,
    clock_name: str | None = None,
    now: datetime,
    anchors: Mapping[tuple[str, str], datetime] | None = None,
    show_skipped: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The next `count` fires strictly after `after` (default `now`), and notes for people.

    With `show_skipped`, the fires that calendar, exclude and between removed come too, at
    their own time, as `{"time", "clock", "skipped": REASON}` (at most MAX_SKIPPED_LISTED), and
    moved ones carry `"moved_from"` and `"reason"` (spec 2.5); `count` counts kept fires.

    Each fire is `{"time": ISO in the clock's zone, "clock": name, "parameters": {...}}`
    with secrets masked. A naive `after` is wall time in each clock's own zone (a date: its
    midnight there). An interval clock without `start` is anchored where the daemon stored
    its anchor (`anchors`, by (job, clock)), else at `now`.
    """
    from clocks.localtime import get_zone, to_instant
    from clocks.schedule import Schedule

    clocks, notes = select_clocks(job, clock_name)
    if not job.enabled:
        notes.append(f"job '{job.name}' is disabled: the daemon does not fire it")
    if not job.clocks:
        notes.append(f"job '{job.name}' has no clocks: it runs only when triggered")
    secrets = {parameter.name for parameter in job.parameters if parameter.secret}
    now = now.astimezone(UTC).replace(microsecond=0)
    streams = []
    for position, clock in enumerate(clocks):
        stored = (anchors or {}).get((job.name, clock.name)) if clock.needs_anchor else None
        if stored is not None:
            clock = clock.anchored(stored)
        elif clock.needs_anchor:
            clock = clock.anchored(now)
            notes.append(
                f"clock '{clock.name}' has no start: anchored at now, {now.isoformat()}; "
                "the daemon anchors it when it first loads the clock"
            )
        zone = get_zone(clock.timezone)
        since = now if after is None else to_instant(after, zone)
        schedule = Schedule(job.name, [clock], job.parameters)
        if show_skipped:
            streams.append(_fate_entries(schedule, since, position, zone, secrets, count))
        else:
            streams.append(_entries(schedule, since, position, zone, secrets, count))
    if not show_skipped:
        return [entry for _, _, entry in islice(heapq.merge(*streams), count)], notes
    entries: list[dict[str, Any]] = []
    kept = skipped = 0
    for _, _, entry in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        if "skipped" in entry:
            skipped += 1
            if skipped > MAX_SKIPPED_LISTED:
                notes.append(
                    f"more than {MAX_SKIPPED_LISTED} removed fires: the rest are not listed"
                )
                break
        else:
            kept += 1
        entries.append(entry)
        if kept >= count:
            break
    return entries, notes


MAX_SKIPPED_LISTED = 1000


def _fate_entries(
    schedule: Schedule,
    since: datetime,
    position: int,
    zone: ZoneInfo,
    secrets: set[str],
    count: int,
) -> Iterator[tuple[datetime, int, dict[str, Any]]]:
    """`_entries` with the removed and moved fires said (spec 2.5)."""
    from clocks.parameters import ParameterError

    clock = schedule.clocks[0]
    fates = schedule.fates(since)
    kept = skipped = 0
    while kept < count and skipped <= MAX_SKIPPED_LISTED:
        try:
            fate = next(fates, None)
        except ParameterError as error:
            raise UserError(
                f"job '{schedule.job_name}': clock '{clock.name}': a fire cannot get its "
                f"parameters: {error}"
            ) from None
        if fate is None:
            return
        entry: dict[str, Any] = {
            "time": fate.time.astimezone(zone).isoformat(),
            "clock": clock.name,
        }
        if not fate.kept:
            skipped += 1
            entry["skipped"] = fate.reason
        else:
            kept += 1
            entry["parameters"] = {
                name: (MASK if name in secrets else value)
                for name, value in (fate.parameters or {}).items()
            }
            if fate.moved:
                entry["moved_from"] = fate.original.astimezone(zone).isoformat()
                entry["reason"] = fate.reason
        yield fate.time, position, entry


def _entries(
    schedule: Schedule,
    since: datetime,
    position: int,
    zone: ZoneInfo,
    secrets: set[str],
    count: int,
) -> Iterator[tuple[datetime, int, dict[str, Any]]]:
    """One clock's fires as (time, position, entry), `position` breaking ties in clock order."""
    from clocks.parameters import ParameterError

    clock = schedule.clocks[0]
    fires = schedule.fires(since)
    for _ in range(count):
        try:
            fire = next(fires, None)
        except ParameterError as error:
            shown = since.astimezone(zone).isoformat()
            raise UserError(
                f"job '{schedule.job_name}': clock '{clock.name}': a fire after {shown} "
                f"cannot get its parameters: {error}"
            ) from None
        if fire is None:
            return
        since = fire.time
        values = {
            name: (MASK if name in secrets else value)
            for name, value in (fire.parameters or {}).items()
        }
        yield (
            fire.time,
            position,
            {
                "time": fire.time.astimezone(zone).isoformat(),
                "clock": clock.name,
                "parameters": values,
            },
        )


def _show_value(value: Any) -> str:
    from scheduler.cli.output import to_json

    return value if isinstance(value, str) else to_json(value, indent=None)


@click.command("next")
@click.argument("job_name", metavar="JOB", shell_complete=complete_job)
@click.option(
    "--clock",
    "clock_name",
    default=None,
    metavar="NAME",
    help="Only this clock.",
    shell_complete=complete_clock,
)
@click.option(
    "-n",
    "--count",
    type=click.IntRange(1, 10000),
    default=10,
    show_default=True,
    help="How many fires.",
)
@click.option(
    "--after",
    default=None,
    metavar="DATETIME",
    help="List fires strictly after this time (default now); without offset it is in each clock's zone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of fires.")
@click.option(
    "--show-skipped",
    is_flag=True,
    help="Also list the fires that calendar, exclude and between removed or moved, with the reason.",
)
@config_option
def next_(
    job_name: str,
    clock_name: str | None,
    count: int,
    after: str | None,
    as_json: bool,
    show_skipped: bool,
    config_path: str | None,
) -> None:
    """Show upcoming fires of JOB with their resolved parameters.

    Dynamic values are rendered for each fire; secrets are shown as ***.
    No daemon is needed. The database is read, read-only, when it can be: an
    interval clock without `start` takes the anchor the daemon stored (else the
    current second, said in a note), and fires of paused clocks are marked
    "(paused)" (`"paused": true` in --json). A disabled clock is listed only when
    named with --clock.
    """
    from scheduler.cli.output import print_json, print_table
    from scheduler.config import load_config
    from scheduler.timesource import SYSTEM_TIME, whole_second

    after_time = parse_after(after) if after is not None else None
    now = whole_second(SYSTEM_TIME.now())
    config = load_config(config_path, environ=os.environ, now=now)
    job = config.jobs.get(job_name)
    if job is None:
        known = ", ".join(sorted(config.jobs)) or "none"
        raise NotFound(f"unknown job '{job_name}': the jobs are {known}")
    states, unread = stored_clock_states(config)
    anchors = {key: state.anchor for key, state in states.items() if state.anchor is not None}
    entries, notes = upcoming_fires(
        job,
        after=after_time,
        count=count,
        clock_name=clock_name,
        now=now,
        anchors=anchors,
        show_skipped=show_skipped,
    )
    notes.extend(mark_paused(entries, job, states))
    if unread and any(clock.needs_anchor for clock in job.clocks):
        notes.append(unread)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        print_json(entries)
        return
    if not entries:
        click.echo(f"job '{job.name}': no upcoming fires")
        return
    rows = [
        (
            entry["time"],
            entry["clock"] + (" (paused)" if entry.get("paused") else ""),
            "  ".join(f"{k}={_show_value(v)}" for k, v in entry.get("parameters", {}).items()),
        )
        for entry in entries
    ]
    since = after or now.isoformat()
    title = f"next fires of job '{job.name}' after {since}"
    if not show_skipped:
        print_table(("time", "clock", "parameters"), rows, title=title)
        return
    notes_column = [_fate_note(entry) for entry in entries]
    print_table(
        ("time", "clock", "parameters", "note"),
        [(*row, note) for row, note in zip(rows, notes_column, strict=True)],
        title=title,
    )


def _fate_note(entry: dict[str, Any]) -> str:
    """`skipped: closed: Thanksgiving Day (US)`, `moved from 2026-02-01 (closed: Sunday)`."""
    if "skipped" in entry:
        return f"skipped: {entry['skipped']}"
    return entry.get("reason") or ""


# -- what the daemon stored (read-only) --------------------------------------------------------


def stored_clock_states(config: Config) -> tuple[dict[tuple[str, str], ClockState], str | None]:
    """The clock states the daemon stored (interval anchors, pause flags), read-only; and a
    note when the database cannot be read (then `next` computes without them)."""
    from pathlib import Path

    from scheduler.storage import StoreError, StoreOpenError, is_url, open_configured_store

    database = config.daemon.database
    if not is_url(database) and not Path(database).exists():
        # Nothing stored yet; and no storage library imported for nothing (start-up time).
        return {}, f"{database}: no database yet: interval anchors and pause marks are not known"
    try:
        store = open_configured_store(config.daemon, readonly=True)
    except StoreOpenError as error:
        return {}, f"{error.message}: interval anchors and pause marks are not known here"
    try:
        return store.clock_states(), None
    except (StoreError, OSError) as error:
        return {}, f"the database cannot be read ({error}): anchors and pause marks are unknown"
    finally:
        store.close()


def mark_paused(
    entries: list[dict[str, Any]], job: Job, states: Mapping[tuple[str, str], ClockState]
) -> list[str]:
    """Give fires of paused clocks (or of a paused job) `"paused": True`; notes saying so."""
    from scheduler.storage.base import JOB_WIDE

    def paused(clock: str) -> bool:
        for key in ((job.name, JOB_WIDE), (job.name, clock)):
            state = states.get(key)
            if state is not None and state.paused:
                return True
        return False

    paused_clocks = sorted({e["clock"] for e in entries if paused(e["clock"])})
    for entry in entries:
        if entry["clock"] in paused_clocks:
            entry["paused"] = True
    return [
        f"clock '{name}' is paused: the daemon does not fire it (clockd resume {job.name}/{name})"
        for name in paused_clocks
    ]
