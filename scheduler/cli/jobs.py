"""`clockd jobs [--json]`: every clock with its next and last fire, its last run's state and
whether it is paused, soonest first — what `systemctl list-timers` shows for timers.

Through the API with --url / $CLOCKD_URL (`GET /api/v1/jobs`: the daemon's own plan), else
from the config and the database read-only: stored interval anchors, pause flags, last
fires and runs (without a database yet: next fires only, and a note).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from scheduler.cli.common import config_option, daemon_options


def local_overview(
    config_path: str | None, now: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """The jobs in the API's shape, computed here; and notes for people."""
    from scheduler.config import load_config
    from scheduler.daemon.overview import (
        add_last_runs,
        clock_keys,
        describe_job,
        fires_only,
        read_last_runs,
    )
    from scheduler.scheduling.clockbook import ClockBook
    from scheduler.storage import StoreOpenError, open_configured_store

    config = load_config(config_path, environ=os.environ, now=now)
    notes: list[str] = []
    store = None
    try:
        store = open_configured_store(config.daemon, readonly=True)
    except StoreOpenError as error:
        notes.append(f"{error.message}; next fires from the config alone")
    try:
        states = store.clock_states() if store is not None else {}
        book = ClockBook(states=states)  # no `save`: an anchor found here is not stored

        def next_fire(job: Any, clock: Any) -> datetime | None:
            if not (job.enabled and clock.enabled):
                return None
            if clock.needs_anchor and (job.name, clock.name) not in states:
                notes.append(
                    f"clock '{clock.name}' of job '{job.name}' has no start and no stored "
                    "anchor: its next fire assumes it is loaded now"
                )
            return book.effective(job.name, clock).next_fire(now)

        described = [describe_job(job, book, next_fire) for job in config.jobs.values()]
        keys = clock_keys(described)
        last_runs = read_last_runs(store, keys) if store is not None else {}
    finally:
        if store is not None:
            store.close()
    last_fires = {key: s.last_fire for key, s in states.items() if s.last_fire}
    add_last_runs(described, last_runs, fires_only(config.jobs, book, last_fires))
    return described, notes


def span(seconds: float) -> str:
    """A time span in its two largest units: `45s`, `4m10s`, `3h5m`, `2d`."""
    whole = int(abs(seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (name, size) in enumerate(units):
        if whole < size and name != "s":
            continue
        first, rest = divmod(whole, size)
        text = f"{first}{name}"
        if index + 1 < len(units):
            next_name, next_size = units[index + 1]
            if rest // next_size:
                text += f"{rest // next_size}{next_name}"
        return text
    return "0s"


def rows_of(described: Sequence[Mapping[str, Any]], now: datetime) -> list[list[str]]:
    """One row a clock (a job without clocks: one row), soonest next fire first."""
    from scheduler.cli.output import compact_time, parse_time, state_words

    keyed = []
    for job in described:
        if not job["clocks"]:
            never = datetime.max.replace(tzinfo=UTC)
            keyed.append((never, ["-", "-", "-", job["name"], "triggered only", ""]))
        for clock in job["clocks"]:
            upcoming = parse_time(clock.get("next_fire"))
            paused = clock.get("paused") or job.get("paused")
            if not (job.get("enabled", True) and clock.get("enabled", True)):
                shown = "disabled"
            elif upcoming is None:
                shown = "-"
            else:
                shown = (
                    f"{compact_time(upcoming, now)} (in {span((upcoming - now).total_seconds())})"
                )
            last = clock.get("last_run")
            last_run = f"{last['id']} {state_words(last['state'])}" if last else "-"
            last_state = last["state"] if last else ""
            keyed.append(
                (
                    upcoming or datetime.max.replace(tzinfo=UTC),
                    [
                        shown,
                        compact_time(clock.get("last_fire"), now)
                        if clock.get("last_fire")
                        else "-",
                        last_run,
                        f"{job['name']}/{clock['name']}",
                        "paused" if paused else "",
                        last_state,
                    ],
                )
            )
    keyed.sort(key=lambda item: item[0])
    return [row for _, row in keyed]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array of jobs (the API's shape).")
@daemon_options
@config_option
def jobs(as_json: bool, url: str | None, token_file: str | None, config_path: str | None) -> None:
    """List jobs and clocks: next and last fire, last run's state, paused.

    Like `systemctl list-timers`, soonest next fire first. Asks the daemon with --url /
    $CLOCKD_URL; else computes from the config and reads the database (stored anchors,
    pause flags, last runs), with no daemon needed.
    """
    from scheduler.cli.address import connect, remote_url
    from scheduler.cli.output import print_json, use_colour
    from scheduler.cli.runs_table import paint

    now = datetime.now(UTC).replace(microsecond=0)
    notes: list[str] = []
    if remote_url(url) is not None:
        with connect(url, config_path, token_file) as client:
            described = client.jobs()
    else:
        described, notes = local_overview(config_path, now)
    for note in dict.fromkeys(notes):
        click.echo(f"note: {note}", err=True)
    if as_json:
        print_json(described)
        return
    if not described:
        click.echo("no jobs", err=True)
        return
    colour = use_colour(sys.stdout)
    header = ["NEXT", "LAST FIRE", "LAST RUN", "JOB/CLOCK", "", ""]
    rows = rows_of(described, now)
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(4)]
    for cells in [header, *rows]:
        padded = [f"{cell:<{widths[i]}}" for i, cell in enumerate(cells[:4])]
        if colour and cells[5]:
            padded[2] = paint(cells[5], padded[2], colour)
        click.echo(f"{'  '.join(padded)}  {cells[4]}".rstrip(), color=colour)
