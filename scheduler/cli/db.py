"""`clockd db copy --to URL`: this config's run history into another database (SQLite →
PostgreSQL, spec 8), so that moving from one machine to several keeps it."""

from __future__ import annotations

import click

from scheduler.cli.common import config_option


@click.group()
def db() -> None:
    """Database tools."""


@db.command("copy")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The PostgreSQL database to copy into (postgresql://USER@HOST:PORT/NAME).",
)
@click.option(
    "--password",
    "password_ref",
    default=None,
    metavar="REF",
    help="The target's password as a secret reference (env:NAME or file:PATH); "
    "else PGPASSWORD or ~/.pgpass.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Delete the history the target holds first (without it, a target that holds one "
    "is refused).",
)
@config_option
def copy(target_url: str, password_ref: str | None, replace: bool, config_path: str | None) -> None:
    """Copy this config's run history (runs with their ids, logs, last fires, anchors,
    pause flags) into another database. Stop `clockd serve` first."""
    from scheduler.config import load_config
    from scheduler.errors import UserError
    from scheduler.storage import StoreError, is_url, open_configured_store, open_store
    from scheduler.storage.copy import copy_history

    if not is_url(target_url):
        raise UserError(f"--to must be a PostgreSQL URL (postgresql://...), not {target_url!r}")
    config = load_config(config_path)
    if config.daemon.database == target_url:
        raise UserError("--to names this config's own database: nothing to copy")
    source = open_configured_store(config.daemon)
    try:
        if hasattr(source, "lock_for_daemon"):
            try:
                source.lock_for_daemon()  # no daemon writes while we read
            except StoreError as error:
                raise UserError(f"{error}: stop it before copying its history") from None
        target = open_store(target_url, password=password_ref)
        try:
            counts = copy_history(source, target, replace=replace)  # type: ignore[arg-type]
        finally:
            target.close()
    finally:
        source.close()
    click.echo(
        f"copied {counts.runs} runs, {counts.log_lines} log lines and {counts.clocks} clock "
        f"states into {target.location}"
    )
