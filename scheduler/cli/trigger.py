"""`clockd trigger JOB`: ask the running daemon to start a run (and `--watch` it).

Start-up is kept cheap (click and the standard library's http.client through
`Client(lightweight=True)`; the config is read as plain TOML, only its [daemon] table). `-p NAME=VALUE` values travel as text (`"parameter_text"` in the API body)
and the daemon converts them by the declared types, so this command needs neither the
parameter model nor a readable config.

Where the daemon is: --url, else $CLOCKD_URL, else (inside a run) $CLOCKD_API_URL, else the
config's `listen`. The token: $CLOCKD_TOKEN inside a run, else the config's `token_file`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scheduler.cli.common import config_option, url_option, with_parameter_options
from scheduler.config.find import locate_config
from scheduler.errors import UserError
from scheduler.models import DEFAULT_LISTEN

if TYPE_CHECKING:
    from scheduler.client import Client


@dataclass(frozen=True)
class DaemonAddress:
    url: str
    token: str | None
    config_path: Path | None  # the config that told us, if any
    daemon_table: dict[str, Any]


def read_daemon_table(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"{path}: cannot read the config: {error}") from None
    table = document.get("daemon", {})
    return table if isinstance(table, dict) else {}


def locate_daemon(url: str | None, config_path: str | None, environ: Any = None) -> DaemonAddress:
    environ = os.environ if environ is None else environ
    in_run = bool(environ.get("CLOCKD_API_URL"))
    token = environ.get("CLOCKD_TOKEN") or None if in_run else None
    config: Path | None = None
    table: dict[str, Any] = {}
    needs_config = not (url or environ.get("CLOCKD_API_URL")) or (token is None and not in_run)
    if needs_config:
        config = locate_config(config_path, environ)
        if config is not None:
            table = read_daemon_table(config)
    if not url:
        url = environ.get("CLOCKD_API_URL")
    if not url:
        if config is None:
            raise UserError(
                "no daemon address: give --url, set $CLOCKD_URL, or point --config at the "
                "daemon's config (its [daemon] listen)"
            )
        listen = str(table.get("listen", DEFAULT_LISTEN))
        if not listen:
            raise UserError(f'{config}: daemon.listen is "": the daemon has no HTTP API')
        url = listen
    if token is None and not in_run and table.get("token_file") and config is not None:
        token_file = Path(str(table["token_file"])).expanduser()
        if not token_file.is_absolute():
            token_file = config.parent / token_file
        try:
            token = token_file.read_text(encoding="utf-8").strip() or None
        except OSError as error:
            raise UserError(f"{token_file}: cannot read the API token: {error.strerror}") from None
    if "://" not in url:
        host, _, port = url.rpartition(":")
        if host in ("0.0.0.0", "", "::", "[::]"):
            host = "127.0.0.1"  # a wildcard listen address is reached on loopback
        url = f"http://{host}:{port}" if port else f"http://{url}"
    return DaemonAddress(url=url, token=token, config_path=config, daemon_table=table)


def connect(url: str | None, config_path: str | None) -> Client:
    from scheduler.client import Client

    address = locate_daemon(url, config_path)
    run_id = os.environ.get("CLOCKD_RUN_ID", "")
    in_run = bool(os.environ.get("CLOCKD_API_URL"))
    return Client(
        address.url,
        address.token,
        parent_id=int(run_id) if in_run and run_id.isdigit() else None,
        lightweight=True,  # http.client: a command should start fast
    )


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
@click.argument("job")
@with_parameter_options
@click.option(
    "--clock", default=None, help="Take parameter values (and time zone) from this clock."
)
@click.option(
    "--watch", is_flag=True, help="Stream the run's log until it ends; exit 0 only if it succeeded."
)
@url_option
@config_option
def trigger(
    job: str,
    params: tuple[str, ...],
    params_json: str | None,
    clock: str | None,
    watch: bool,
    url: str | None,
    config_path: str | None,
) -> None:
    """Ask the running daemon to start a run of JOB; print its id.

    Inside a run (CLOCKD_API_URL set) the new run is recorded as a child of that run.
    """
    values, texts = parse_parameter_options(params, params_json)
    client = connect(url, config_path)
    try:
        run = client.create_run(job, values, clock=clock, parameter_text=texts)
        click.echo(run["id"])
        if not watch:
            return
        final = client.wait_for_run(run["id"], stream_logs=True)
    finally:
        client.close()
    state = final["state"]
    detail = f" (exit code {final['exit_code']})" if final.get("exit_code") not in (None, 0) else ""
    click.echo(f"run {final['id']} {state}{detail}", err=True)
    sys.exit(0 if state == "succeeded" else 1)
