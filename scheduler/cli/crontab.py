"""`clockd import-crontab`: a crontab as clockd TOML on stdout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import click


def local_timezone() -> str:
    """The system's zone name, as cron used it: $TZ, else /etc/timezone, else /etc/localtime's link."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if "/" in tz or tz == "UTC":
        return tz
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


@click.command("import-crontab")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--timezone",
    default=None,
    metavar="ZONE",
    help="Zone of lines without CRON_TZ (default: this system's zone, which cron used).",
)
@click.option(
    "-c",
    "--config",
    "config_path",
    default=None,
    hidden=True,
    help="Accepted like by every command; import-crontab reads no config.",
)
@click.option(
    "--system",
    is_flag=True,
    help="Lines name a user after the schedule (/etc/crontab, /etc/cron.d); the user is "
    "dropped: every job runs as the daemon's user.",
)
@click.option(
    "--jobs-only",
    is_flag=True,
    help="Leave out [daemon], to paste the jobs into a config that has one "
    "(each clock then names its time zone).",
)
def import_crontab(
    file: TextIO, timezone: str | None, config_path: str | None, system: bool, jobs_only: bool
) -> None:
    """Convert the crontab FILE ('-' for stdin) to clockd TOML on stdout.

    Lines that cannot be converted (@reboot, % stdin, refused expressions) are reported on
    stderr and kept as comments; when no line could be converted, it exits 1. Check the
    result with `clockd check`.
    """
    from clocks.errors import ClockError
    from clocks.localtime import get_zone
    from scheduler.config.crontab import import_crontab as convert
    from scheduler.errors import UserError

    zone = timezone or local_timezone()
    try:
        get_zone(zone)
    except ClockError as error:
        raise UserError(error.message) from None
    name = getattr(file, "name", "crontab")
    source = name if name != "<stdin>" else "stdin"
    result = convert(file.read(), source=source, timezone=zone, system=system, jobs_only=jobs_only)
    click.echo(result.toml, nl=False)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.users:
        users = ", ".join(f"'{user}'" for user in result.users)
        click.echo(
            f"warning: {source}: its lines ran as {users}; clockd runs every job as the "
            "daemon's own user: check that it may do what they did (the user is kept as a "
            "comment on each clock)",
            err=True,
        )
    if result.refused and not result.lines:
        raise UserError(f"{source}: no line could be converted ({result.refused} refused)")
