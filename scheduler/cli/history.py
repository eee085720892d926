"""`clockd runs`, `clockd show RUN_ID`, `clockd logs RUN_ID [--follow]`.

They read the SQLite file directly (a read-only WAL connection), so they work while the
daemon runs and without it.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from scheduler.cli.common import config_option
from scheduler.errors import NotFound

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scheduler.storage import RunRecord, RunStore

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
FOLLOW_POLL_SECONDS = 0.3


@contextmanager
def open_history(config_path: str | None) -> Iterator[RunStore]:
    from scheduler.config import load_config
    from scheduler.storage import open_configured_store

    config = load_config(config_path)
    store = open_configured_store(config.daemon, readonly=True)
    try:
        yield store
    finally:
        store.close()


def _time(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _duration(record: RunRecord) -> str:
    if record.started_at is None:
        return ""
    seconds = (
        (record.ended_at or datetime.now(record.started_at.tzinfo)) - record.started_at
    ).total_seconds()
    return f"{seconds:.1f}s"


def _get(store: RunStore, run_id: int) -> RunRecord:
    record = store.get_run(run_id)
    if record is None:
        raise NotFound(f"unknown run {run_id}")
    return record


@click.command()
@click.option("--job", default=None, help="Only this job's runs.")
@click.option("--clock", default=None, help="Only this clock's runs.")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of run records.")
@config_option
def runs(
    job: str | None,
    clock: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
    config_path: str | None,
) -> None:
    """List run history, newest first, with parameters."""
    with open_history(config_path) as store:
        records = store.list_runs(job=job, clock=clock, state=state, limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], indent=2))
        return
    if not records:
        click.echo("no runs", err=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in "id job clock trigger state scheduled took daemon parameters".split():
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            str(r.id),
            r.job,
            r.clock or "-",
            r.trigger,
            r.state,
            _time(r.scheduled_time),
            _duration(r),
            r.daemon or "-",
            json.dumps(r.parameters, ensure_ascii=False),
        )
    # a pipe or a file gets long lines rather than cells folded to 80 columns
    Console(width=None if sys.stdout.isatty() else 240).print(table)


@click.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The run record as JSON.")
@config_option
def show(run_id: int, as_json: bool, config_path: str | None) -> None:
    """Show one run."""
    with open_history(config_path) as store:
        record = _get(store, run_id)
    data: dict[str, Any] = record.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        click.echo(f"{key:<{width}}  {'' if value is None else value}")


@click.command()
@click.argument("run_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
@config_option
def logs(run_id: int, follow: bool, config_path: str | None) -> None:
    """Print (or follow) the log of a run."""
    with open_history(config_path) as store:
        _get(store, run_id)
        seq = 0
        while True:
            lines = store.read_log(run_id, after_seq=seq)
            for line in lines:
                stamp = line.time.isoformat(timespec="milliseconds")
                click.echo(f"{stamp} {line.stream} {line.text}")
                seq = line.seq
            if not follow:
                return
            if not lines and _get(store, run_id).is_final:
                # one more read: lines written between the last read and the final state
                for line in store.read_log(run_id, after_seq=seq):
                    click.echo(
                        f"{line.time.isoformat(timespec='milliseconds')} {line.stream} {line.text}"
                    )
                return
            if not lines:
                time.sleep(FOLLOW_POLL_SECONDS)
