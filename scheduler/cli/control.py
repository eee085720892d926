"""`clockd cancel RUN_ID`, `clockd pause JOB[/CLOCK]`, `clockd resume JOB[/CLOCK]`.

They go through the daemon's API. When the daemon does not answer, pause and resume write
the database directly (`Store.set_paused`), which the daemon reads when it starts, and say so.
"""

from __future__ import annotations

import click

from scheduler.cli.common import config_option, url_option
from scheduler.cli.trigger import connect, read_daemon_table
from scheduler.config.find import locate_config
from scheduler.errors import DaemonUnreachable, UserError


@click.command()
@click.argument("run_id", type=click.IntRange(min=1))
@url_option
@config_option
def cancel(run_id: int, url: str | None, config_path: str | None) -> None:
    """Cancel a pending or running run (its whole process group is killed)."""
    with connect(url, config_path) as client:
        record = client.cancel(run_id)
    click.echo(f"run {record['id']}: {record['state']}")


def _split(target: str) -> tuple[str, str | None]:
    job, _, clock = target.partition("/")
    if not job:
        raise click.UsageError(f"expected JOB or JOB/CLOCK, got {target!r}")
    return job, clock or None


def _set_paused(target: str, paused: bool, url: str | None, config_path: str | None) -> None:
    job, clock = _split(target)
    what = f"job {job}" if clock is None else f"clock {clock} of job {job}"
    verb = "paused" if paused else "resumed"
    try:
        with connect(url, config_path) as client:
            if paused:
                client.pause(job, clock)
            else:
                client.resume(job, clock)
    except DaemonUnreachable as error:
        if url:
            raise  # an explicit address that does not answer is the user's to fix
        database = _write_directly(job, clock, paused, config_path)
        click.echo(f"clockd: {error.message}", err=True)
        click.echo(
            f"{what} {verb} in the database {database} directly; "
            "the daemon applies it when it starts"
        )
        return
    click.echo(f"{what} {verb}")


def _write_directly(job: str, clock: str | None, paused: bool, config_path: str | None) -> str:
    import os

    from scheduler.config import load_config
    from scheduler.storage import open_configured_store

    config_file = locate_config(config_path, os.environ)
    if config_file is None:
        raise UserError("the daemon did not answer and no config says where its database is")
    read_daemon_table(config_file)  # a readable file first: a clear message if not
    config = load_config(config_file)
    job_obj = config.jobs.get(job)
    if job_obj is None:
        raise UserError(f"unknown job '{job}'")
    if clock is not None and job_obj.clock(clock) is None:
        known = ", ".join(c.name for c in job_obj.clocks) or "none"
        raise UserError(f"job '{job}' has no clock '{clock}' (clocks: {known})")
    store = open_configured_store(config.daemon)
    try:
        store.set_paused(job, clock, paused)
    finally:
        store.close()
    return config.daemon.database


@click.command()
@click.argument("target", metavar="JOB[/CLOCK]")
@url_option
@config_option
def pause(target: str, url: str | None, config_path: str | None) -> None:
    """Stop firing a job (or one of its clocks); survives restarts."""
    _set_paused(target, True, url, config_path)


@click.command()
@click.argument("target", metavar="JOB[/CLOCK]")
@url_option
@config_option
def resume(target: str, url: str | None, config_path: str | None) -> None:
    """Resume firing a job (or one of its clocks)."""
    _set_paused(target, False, url, config_path)
