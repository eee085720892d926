"""`clockd daemons [--json]`: the daemons sharing this config's database (spec 8).

With PostgreSQL, every daemon that ever started on it: name, host, live / dead / stopped,
heartbeat age by the database's clock, and whether its config digest (jobs, calendars,
executors) matches this config's. With SQLite, the one daemon.
"""

from __future__ import annotations

import json
import sys

import click

from scheduler.cli.common import config_option

COLUMNS = ("name", "state", "host", "pid", "heartbeat", "config", "version", "listen")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array, as GET /api/v1/daemons.")
@config_option
def daemons(as_json: bool, config_path: str | None) -> None:
    """List the daemons sharing the database."""
    from scheduler.config import load_config
    from scheduler.daemon.membership import list_daemons
    from scheduler.storage import open_configured_store

    config = load_config(config_path)
    store = open_configured_store(config.daemon, readonly=True)
    try:
        listed = list_daemons(store, config)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for entry in listed:
        age = entry.get("heartbeat_age_seconds")
        table.add_row(
            entry["name"],
            entry["state"],
            entry.get("host") or "",
            str(entry.get("pid") or ""),
            "" if age is None else f"{age:.1f}s ago",
            entry["config_digest"] + ("" if entry["config_matches"] else " (differs)"),
            entry.get("version") or "",
            entry.get("listen") or "",
        )
    Console(width=None if sys.stdout.isatty() else 240).print(table)
