"""`clockd check`: validate the config and report every problem."""

from __future__ import annotations

import os

import click

from scheduler.cli.common import config_option


@click.command("check")
@click.argument("config_file", required=False, metavar="[CONFIG]", type=click.Path(dir_okay=False))
@config_option
@click.pass_context
def check(ctx: click.Context, config_file: str | None, config_path: str | None) -> None:
    """Validate the config and report every problem.

    Prints "N jobs, M clocks OK" and exits 0, or every problem on stderr and exits 1.
    Warnings (a template inside a shell's script string) go to stderr, prefixed
    "warning:", and do not change the exit code.
    The config is CONFIG, else -c/--config, else $CLOCKD_CONFIG, ./clockd.toml,
    /etc/clockd/clockd.toml.
    """
    from scheduler.config import load_config

    if config_file and config_path and config_file != config_path:
        source = ctx.get_parameter_source("config_path")
        if source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"two configs given: '{config_file}' and -c '{config_path}'")
    config = load_config(config_file or config_path, environ=os.environ)
    for warning in config.warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    jobs, clocks = len(config.jobs), config.clock_count
    click.echo(f"{jobs} jobs, {clocks} clocks OK")  # spec 4 wording, also for 1
