"""`clockd trigger JOB`: ask the running daemon to start a run (and `--watch` it).

Start-up is kept cheap (click and the standard library's http.client through
`Client(lightweight=True)`; the config is read as plain TOML, only its [daemon] table).
`-p NAME=VALUE` values travel as text (`"parameter_text"` in the API body) and the daemon
converts them by the declared types, so this command needs neither the parameter model nor
a valid config. Where the daemon is and the token: `scheduler/cli/address.py`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scheduler.cli.address import (
    DaemonAddress,
    connect,
    locate_daemon,
    read_daemon_table,
)
from scheduler.cli.common import config_option, daemon_options, with_parameter_options
from scheduler.cli.completion import complete_clock, complete_job

__all__ = ["DaemonAddress", "connect", "locate_daemon", "read_daemon_table", "trigger"]


def parse_parameter_options(
    params: tuple[str, ...], params_json: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    if params_json:
        try:
            decoded = json.loads(params_json)
        except ValueError as error:
            raise click.UsageError(f"--params-json is not valid JSON: {error}") from None
        if not isinstance(decoded, dict):
            raise click.UsageError("--params-json must be a JSON object")
        values.update(decoded)
    texts: dict[str, str] = {}
    for item in params:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"-p expects NAME=VALUE, got {item!r}")
        texts[name.strip()] = text
    return values, texts


@click.command()
@click.argument("job", shell_complete=complete_job)
@with_parameter_options
@click.option(
    "--clock",
    default=None,
    help="Take parameter values (and time zone) from this clock.",
    shell_complete=complete_clock,
)
@click.option(
    "--watch", is_flag=True, help="Stream the run's log until it ends; exit 0 only if it succeeded."
)
@daemon_options
@config_option
def trigger(
    job: str,
    params: tuple[str, ...],
    params_json: str | None,
    clock: str | None,
    watch: bool,
    url: str | None,
    token_file: str | None,
    config_path: str | None,
) -> None:
    """Ask the running daemon to start a run of JOB; print its id.

    With --watch, stream its log and end with how it ended (`run 5 failed: exit code 4`);
    exit 0 only if it succeeded. Ctrl-C stops watching (exit 130): the run goes on.
    Inside a run (CLOCKD_API_URL set) the new run is recorded as a child of that run.
    """
    from scheduler.cli.output import describe_end

    values, texts = parse_parameter_options(params, params_json)
    client = connect(url, config_path, token_file)
    try:
        run = client.create_run(job, values, clock=clock, parameter_text=texts)
        click.echo(run["id"])
        if not watch:
            return
        try:
            final = client.wait_for_run(run["id"], stream_logs=True)
        except KeyboardInterrupt:
            click.echo(
                f"clockd: stopped watching run {run['id']}; it goes on in the daemon "
                f"(clockd logs {run['id']} --follow, clockd cancel {run['id']})",
                err=True,
            )
            sys.exit(130)
    finally:
        client.close()
    click.echo(f"run {final['id']} {describe_end(final)}", err=True)
    sys.exit(0 if final["state"] == "succeeded" else 1)
