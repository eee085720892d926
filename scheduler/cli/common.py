"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="CLOCKD_CONFIG",
    default=None,
    help="Config file (else $CLOCKD_CONFIG, ./clockd.toml, /etc/clockd/clockd.toml).",
)

url_option = click.option(
    "--url",
    envvar="CLOCKD_URL",
    default=None,
    help="Daemon API address (else $CLOCKD_URL, inside a run $CLOCKD_API_URL, else the "
    "config's listen).",
)

token_file_option = click.option(
    "--token-file",
    envvar="CLOCKD_TOKEN_FILE",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="File holding the API token (else $CLOCKD_TOKEN_FILE, $CLOCKD_TOKEN, the config's "
    "token_file).",
)


def daemon_options(function: F) -> F:
    """--url and --token-file: how a command reaches the daemon (scheduler/cli/address.py)."""
    return url_option(token_file_option(function))


parameter_options = [
    click.option(
        "-p",
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="A parameter value, converted by its declared type (repeatable).",
    ),
    click.option(
        "--params-json", default=None, metavar="JSON", help="Parameter values as a JSON object."
    ),
]


def with_parameter_options(function: F) -> F:
    for option in reversed(parameter_options):
        function = option(function)
    return function
