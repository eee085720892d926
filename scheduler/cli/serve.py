"""`clockd serve`: the daemon in the foreground (what systemd starts)."""

from __future__ import annotations

import sys

import click

from scheduler.cli.common import config_option


@click.command()
@click.option(
    "--name",
    default=None,
    help="This daemon's name among several sharing a database (else $CLOCKD_NAME, "
    "[daemon] name, the hostname).",
)
@config_option
def serve(name: str | None, config_path: str | None) -> None:
    """Run the daemon in the foreground.

    Exits 78 (EX_CONFIG) on an invalid config, so systemd does not restart it in a loop.
    SIGHUP reloads the config, SIGTERM stops after the runs' shutdown grace.
    """
    from scheduler.daemon.lifecycle import serve as run_daemon
    from scheduler.daemon.logs import setup_logging

    setup_logging("text")
    sys.exit(run_daemon(config_path, name=name))
