"""`clockd reload`: ask the running daemon to re-read its config (`POST /api/v1/reload`)."""

from __future__ import annotations

import click

from scheduler.cli.common import config_option, daemon_options


@click.command()
@daemon_options
@config_option
def reload(url: str | None, token_file: str | None, config_path: str | None) -> None:
    """Ask the running daemon to re-read its config, as SIGHUP (systemctl reload) does.

    Prints what it now schedules and exits 0, or prints every problem of the new config and
    exits 1: the daemon refused it and keeps its old schedule running.
    """
    from scheduler.cli.address import connect
    from scheduler.cli.output import plural

    with connect(url, config_path, token_file) as client:
        answer = client.reload()
    jobs, clocks = plural(answer["jobs"], "job"), plural(answer["clocks"], "clock")
    click.echo(f"reloaded: {jobs}, {clocks}")
