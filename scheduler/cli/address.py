"""Where the daemon is and how to prove who we are: the one lookup of every daemon command.

Address: `--url`, else `$CLOCKD_URL` (click reads both into `url`), else `$CLOCKD_API_URL`
(inside a run), else the config's `[daemon] listen`.
Token: `--token-file`, else `$CLOCKD_TOKEN_FILE` (both into `token_file`), else `$CLOCKD_TOKEN`
(a token itself, as inside a run), else the config's `[daemon] token_file`.

The config is read as plain TOML, only its `[daemon]` table, and only when the address or
the token must come from it: with `--url` (or in a run) a config that cannot be read is a
warning, not an error — `trigger --url` works while the config has a syntax error.
Start-up stays cheap: click and the standard library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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
    """The `[daemon]` table of the config at `path` (plain TOML, nothing validated)."""
    import tomllib

    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read the config: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: invalid TOML: {error}") from None
    table = document.get("daemon", {})
    return table if isinstance(table, dict) else {}


def read_token_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as error:
        raise UserError(f"{path}: cannot read the API token: {error.strerror or error}") from None


def locate_daemon(
    url: str | None,
    config_path: str | None,
    environ: Mapping[str, str] | None = None,
    *,
    token_file: str | None = None,
) -> DaemonAddress:
    """The daemon's address and token, by the rules of the module docstring."""
    environ = os.environ if environ is None else environ
    url = url or environ.get("CLOCKD_URL") or environ.get("CLOCKD_API_URL") or None
    token: str | None = None
    if token_file:
        token = read_token_file(Path(token_file).expanduser())
    elif environ.get("CLOCKD_TOKEN_FILE"):
        token = read_token_file(Path(environ["CLOCKD_TOKEN_FILE"]).expanduser())
    elif environ.get("CLOCKD_TOKEN"):
        token = environ["CLOCKD_TOKEN"]
    config: Path | None = None
    table: dict[str, Any] = {}
    if not url or token is None:
        config = locate_config(config_path, environ)
        if config is not None:
            try:
                table = read_daemon_table(config)
            except UserError as error:
                if not url:
                    raise
                # The address is known: the config only could have named a token file.
                click.echo(f"warning: {error.message}; going on without its token_file", err=True)
                config = None
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
    if token is None and table.get("token_file") and config is not None:
        path = Path(str(table["token_file"])).expanduser()
        token = read_token_file(path if path.is_absolute() else config.parent / path)
    return DaemonAddress(
        url=normalise_url(url), token=token, config_path=config, daemon_table=table
    )


def normalise_url(url: str) -> str:
    """`host:port` → `http://host:port`; a wildcard listen address is reached on loopback."""
    url = url.strip().rstrip("/")
    if "://" in url:
        return url
    host, _, port = url.rpartition(":")
    if host in ("0.0.0.0", "", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}" if port else f"http://{url}"


def connect(url: str | None, config_path: str | None, token_file: str | None = None) -> Client:
    """A lightweight client of the daemon; inside a run, runs it creates are its children."""
    from scheduler.client import Client

    address = locate_daemon(url, config_path, token_file=token_file)
    run_id = os.environ.get("CLOCKD_RUN_ID", "")
    in_run = bool(os.environ.get("CLOCKD_API_URL"))
    return Client(
        address.url,
        address.token,
        parent_id=int(run_id) if in_run and run_id.isdigit() else None,
        lightweight=True,  # http.client: a command should start fast
    )


def remote_url(url: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """For commands that read locally unless told otherwise (`runs`, `show`, `logs`, `jobs`):
    the API address when one was given (--url, $CLOCKD_URL, or $CLOCKD_API_URL in a run)."""
    environ = os.environ if environ is None else environ
    return url or environ.get("CLOCKD_URL") or environ.get("CLOCKD_API_URL") or None
