"""`clockd cancel RUN_ID`, `clockd pause JOB[/CLOCK]`, `clockd resume JOB[/CLOCK]`.

They go through the daemon's API. When no daemon answers at the config's address, pause and
resume write the pause flag into the database directly, but only where `local.write_refusal`
allows (as the database file's owner): a running daemon re-reads the flags within a second,
a stopped one when it starts. With an explicit --url / $CLOCKD_URL the daemon must answer.
"""

from __future__ import annotations

import click

from scheduler.cli.address import connect, remote_url
from scheduler.cli.common import config_option, daemon_options
from scheduler.cli.completion import complete_target
from scheduler.errors import DaemonUnreachable, UserError


@click.command()
@click.argument("run_id", type=click.IntRange(min=1))
@daemon_options
@config_option
def cancel(run_id: int, url: str | None, token_file: str | None, config_path: str | None) -> None:
    """Cancel a pending or running run (its whole process group is killed).

    Exits 1 when the run has already ended (the API answers 409).
    """
    from scheduler.cli.output import describe_end

    with connect(url, config_path, token_file) as client:
        record = client.cancel(run_id)
    click.echo(f"run {record['id']} {describe_end(record)}")


def _split(target: str) -> tuple[str, str | None]:
    job, _, clock = target.partition("/")
    if not job:
        raise click.UsageError(f"expected JOB or JOB/CLOCK, got {target!r}")
    return job, clock or None


def _set_paused(
    target: str, paused: bool, url: str | None, token_file: str | None, config_path: str | None
) -> None:
    job, clock = _split(target)
    what = f"job {job}" if clock is None else f"clock {clock} of job {job}"
    verb = "paused" if paused else "resumed"
    try:
        with connect(url, config_path, token_file) as client:
            if paused:
                client.pause(job, clock)
            else:
                client.resume(job, clock)
    except DaemonUnreachable as error:
        if remote_url(url):
            raise  # an explicit address that does not answer is the user's to fix
        database, running = _write_directly(job, clock, paused, config_path, error)
        when = (
            "the running daemon applies it within a second"
            if running
            else "the daemon applies it when it starts"
        )
        click.echo(f"{what} {verb} in the database {database} (no daemon answered; {when})")
        return
    click.echo(f"{what} {verb}")


def _write_directly(
    job: str, clock: str | None, paused: bool, config_path: str | None, error: DaemonUnreachable
) -> tuple[str, bool]:
    """Write the flag; (the database, whether a daemon holds it). UserError, naming the
    unanswered daemon, when the config cannot say where the database is or this user may
    not write it."""
    import os

    from scheduler.cli.local import daemon_holds, write_refusal
    from scheduler.config import load_config, locate_config
    from scheduler.problems import ConfigError
    from scheduler.storage import open_configured_store

    unanswered = error.message.split(" (", 1)[0]  # "the daemon at URL did not answer"
    if locate_config(config_path, os.environ) is None:
        raise UserError(f"{unanswered}, and no config says where its database is")
    try:
        config = load_config(config_path, environ=os.environ)
    except ConfigError as problems:
        raise UserError(
            f"{unanswered}, and the config has problems (clockd check lists them): "
            f"{problems.problems[0].render()}"
        ) from None
    job_obj = config.jobs.get(job)
    if job_obj is None:
        raise UserError(f"unknown job '{job}'")
    if clock is not None and job_obj.clock(clock) is None:
        known = ", ".join(c.name for c in job_obj.clocks) or "none"
        raise UserError(f"job '{job}' has no clock '{clock}' (clocks: {known})")
    database = config.daemon.database
    refusal = write_refusal(database)
    if refusal is not None:
        raise UserError(f"{unanswered}, and {refusal}")
    running = daemon_holds(database)
    store = open_configured_store(config.daemon)
    try:
        store.set_paused(job, clock, paused)
    finally:
        store.close()
    return database, running


@click.command()
@click.argument("target", metavar="JOB[/CLOCK]", shell_complete=complete_target)
@daemon_options
@config_option
def pause(target: str, url: str | None, token_file: str | None, config_path: str | None) -> None:
    """Stop firing a job (or one of its clocks); survives restarts.

    With no daemon answering, the flag is written to the database directly, but only by
    the database file's owner (README: "Who writes the database").
    """
    _set_paused(target, True, url, token_file, config_path)


@click.command()
@click.argument("target", metavar="JOB[/CLOCK]", shell_complete=complete_target)
@daemon_options
@config_option
def resume(target: str, url: str | None, token_file: str | None, config_path: str | None) -> None:
    """Resume firing a job (or one of its clocks); as pause, it may write the database."""
    _set_paused(target, False, url, token_file, config_path)
