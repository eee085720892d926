"""`clockd runs`, `clockd show RUN_ID`, `clockd logs RUN_ID [--follow]`.

They read the database read-only (a WAL reader: they work while the daemon runs, and
without it), or the daemon's API when given `--url` / `$CLOCKD_URL` (`sources.py`).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from scheduler.cli.common import config_option, daemon_options
from scheduler.cli.completion import complete_clock, complete_job

STATES = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "crashed",
    "skipped",
)


@click.command()
@click.option("--job", default=None, help="Only this job's runs.", shell_complete=complete_job)
@click.option(
    "--clock", default=None, help="Only this clock's runs.", shell_complete=complete_clock
)
@click.option("--state", type=click.Choice(STATES), default=None, help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of run records (the API's).")
@click.option(
    "--wide", is_flag=True, help="Every column in full (ISO times, name, parent, error...)."
)
@daemon_options
@config_option
def runs(
    job: str | None,
    clock: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
    wide: bool,
    url: str | None,
    token_file: str | None,
    config_path: str | None,
) -> None:
    """List run history, newest first, with parameters.

    Fits 80 columns: times in this machine's zone (14:03:07 today, Mar 05 14:03 this year),
    and under a run its name, its parent and the error of a run that did not succeed.
    States are coloured on a terminal (not in a pipe, nor with $NO_COLOR set).
    Reads the database, or the daemon's API with --url / $CLOCKD_URL (then no config is
    needed); only the config's [daemon] table must be valid.
    """
    from scheduler.cli.output import print_json, use_colour
    from scheduler.cli.runs_table import runs_lines, wide_lines
    from scheduler.cli.sources import open_history

    history = open_history(url, token_file, config_path)
    try:
        records = history.runs(job=job, clock=clock, state=state, limit=limit)
    finally:
        history.close()
    if as_json:
        print_json(records)
        return
    if not records:
        click.echo("no runs", err=True)
        return
    now = datetime.now(UTC)
    colour = use_colour(sys.stdout)
    lines = wide_lines(records, now=now, colour=colour) if wide else None
    for line in lines or runs_lines(records, now=now, colour=colour):
        click.echo(line, color=colour)


@click.command()
@click.argument("run_id", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="The run record as JSON (the API's).")
@daemon_options
@config_option
def show(
    run_id: int, as_json: bool, url: str | None, token_file: str | None, config_path: str | None
) -> None:
    """Show one run: every field, how it ended and how long it took."""
    from scheduler.cli.output import describe_end, print_json, run_duration, to_json
    from scheduler.cli.sources import open_history

    history = open_history(url, token_file, config_path)
    try:
        record = history.run(run_id)
    finally:
        history.close()
    if as_json:
        print_json(record)
        return
    shown: dict[str, Any] = dict(record)
    state = str(record["state"])
    if state not in ("pending", "running"):
        shown["state"] = describe_end(record) if state != "succeeded" else state
    shown["took"] = run_duration(record, datetime.now(UTC))
    width = max(len(key) for key in shown)
    for key, value in shown.items():
        if isinstance(value, dict | list):
            value = to_json(value, indent=None)
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")


@click.command()
@click.argument("run_id", type=click.IntRange(min=1))
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
@daemon_options
@config_option
def logs(
    run_id: int, follow: bool, url: str | None, token_file: str | None, config_path: str | None
) -> None:
    """Print (or follow) the log of a run: time, stream (stdout, stderr, clockd), text."""
    from scheduler.cli.sources import open_history

    history = open_history(url, token_file, config_path)
    try:
        lines = history.follow(run_id) if follow else iter(history.log(run_id))
        for line in lines:
            moment = datetime.fromisoformat(line["time"])
            click.echo(
                f"{moment.isoformat(timespec='milliseconds')} {line['stream']} {line['text']}"
            )
    finally:
        history.close()
