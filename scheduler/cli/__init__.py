"""The `clockd` command. Sub-commands are imported only when used, so `clockd --help` stays fast."""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Any

import click

# name → (module:attribute, one-line help). The help is here so that listing the commands
# imports none of them.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("scheduler.cli.check:check", "Validate the config and report every problem."),
    "next": (
        "scheduler.cli.next:next_",
        "Show upcoming fires of a job with their resolved parameters.",
    ),
    "serve": ("scheduler.cli.serve:serve", "Run the daemon in the foreground."),
    "run": ("scheduler.cli.run:run", "Run a job now in this terminal, without the daemon."),
    "trigger": ("scheduler.cli.trigger:trigger", "Ask the running daemon to start a run."),
    "runs": ("scheduler.cli.history:runs", "List run history, newest first."),
    "show": ("scheduler.cli.history:show", "Show one run."),
    "logs": ("scheduler.cli.history:logs", "Print (or follow) the log of a run."),
    "cancel": ("scheduler.cli.control:cancel", "Cancel a run."),
    "pause": ("scheduler.cli.control:pause", "Stop firing a job or one of its clocks."),
    "resume": ("scheduler.cli.control:resume", "Resume firing a job or one of its clocks."),
    "backfill": (
        "scheduler.cli.backfill:backfill",
        "Create one run per fire of a clock in a date range.",
    ),
    "import-crontab": ("scheduler.cli.crontab:import_crontab", "Convert a crontab to clockd TOML."),
    "jobs": (
        "scheduler.cli.jobs:jobs",
        "List jobs and clocks: next and last fire, last state, paused.",
    ),
    "reload": ("scheduler.cli.reload:reload", "Ask the running daemon to re-read its config."),
    "daemons": ("scheduler.cli.daemons:daemons", "List the daemons sharing the database."),
    "db": ("scheduler.cli.db:db", "Database tools: copy the history into another database."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target = COMMANDS[cmd_name][0]
        module_name, attribute = target.split(":")
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            return None
        command: click.Command = getattr(module, attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, text) for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="clockd", prog_name="clockd")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file for every sub-command (same as the sub-command's own -c).",
)
def cli(config_path: str | None) -> None:
    """clockd: a scheduler daemon with parametrized clocks.

    Config: --config PATH, else $CLOCKD_CONFIG, else ./clockd.toml, else /etc/clockd/clockd.toml.
    Shell completion (job and clock names too): eval "$(_CLOCKD_COMPLETE=bash_source clockd)".
    """
    if config_path:
        # Sub-commands read $CLOCKD_CONFIG as their default; a sub-command's own -c still wins.
        os.environ["CLOCKD_CONFIG"] = config_path


def main(argv: list[str] | None = None) -> Any:
    """Entry point: user mistakes become one line on stderr, never a traceback."""
    from scheduler.errors import UserError
    from scheduler.problems import ConfigError

    try:
        return cli.main(args=argv, prog_name="clockd", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except ConfigError as error:
        for problem in error.problems:
            click.echo(problem.render(), err=True)
        sys.exit(1)
    except UserError as error:
        click.echo(f"clockd: {error.message}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        from scheduler.storage.base import StoreError

        if not isinstance(error, StoreError):
            raise
        click.echo(f"clockd: {error}", err=True)  # a database away: one line, no traceback
        sys.exit(1)
