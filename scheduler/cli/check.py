"""`clockd check`: validate the config and report every problem (and warnings)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scheduler.cli.common import config_option

if TYPE_CHECKING:
    from scheduler.models import Config, Job
    from scheduler.problems import Problem


def shown_file(path: Path | None) -> str:
    """A job's file as a user would type it: relative to here when it is below here."""
    if path is None:
        return "clockd.toml"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def machine_warnings(config: Config, environ: Any = os.environ) -> list[Problem]:
    """What is valid but missing on this machine: a command's program not found (on the
    PATH the run gets, or at its path), a workdir that is not a folder, a target's `python`.
    Warnings, not problems: the config may be meant for another machine."""
    from scheduler.problems import Problem

    found: list[Problem] = []
    for job in config.jobs.values():
        where = f"jobs.{job.name}"
        file = shown_file(job.source)
        if not job.workdir.is_dir():
            found.append(
                Problem(
                    file, f"{where}.workdir", f"'{job.workdir}' is not a folder on this machine"
                )
            )
        program = job.command[0] if job.command else job.python
        key = f"{where}.command[0]" if job.command else f"{where}.python"
        if program and "{{" not in program and "{%" not in program:
            problem = _missing_program(job, program, environ)
            if problem:
                found.append(Problem(file, key, problem))
    return found


def _missing_program(job: Job, program: str, environ: Any) -> str | None:
    if program == "clockd" and job.command:
        return None  # a run's `clockd` is the daemon's own (environment.own_clockd)
    if "/" in program:
        path = Path(program).expanduser()
        path = path if path.is_absolute() else job.workdir / path
        if not os.access(path, os.X_OK) or path.is_dir():
            return f"'{program}' is not an executable file on this machine"
        return None
    search = job.env.get("PATH", environ.get("PATH", os.defpath))
    if shutil.which(program, path=search) is None:
        return f"'{program}' is not found on this machine's PATH (the PATH its runs get)"
    return None


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "path": problem.path,
        "label": problem.label,
        "message": problem.message,
        "text": problem.render(),
    }


@click.command("check")
@click.argument("config_file", required=False, metavar="[CONFIG]", type=click.Path(dir_okay=False))
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: ok, counts, problems, warnings."
)
@config_option
@click.pass_context
def check(
    ctx: click.Context, config_file: str | None, as_json: bool, config_path: str | None
) -> None:
    """Validate the config and report every problem.

    Prints "N jobs, M clocks OK" and exits 0, or every problem on stderr and exits 1.
    Warnings go to stderr, prefixed "warning:", and do not change the exit code: a
    template inside a shell's script string, a command's program or a workdir missing on
    this machine. With --json, one object on stdout:
    {"ok", "jobs", "clocks", "problems": [...], "warnings": [...]}, each problem
    {"file", "path", "label", "message", "text"}.
    The config is CONFIG, else -c/--config, else $CLOCKD_CONFIG, ./clockd.toml,
    /etc/clockd/clockd.toml.
    """
    import sys

    from scheduler.cli.output import plural, print_json
    from scheduler.config import load_config
    from scheduler.problems import ConfigError

    if config_file and config_path and config_file != config_path:
        source = ctx.get_parameter_source("config_path")
        if source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"two configs given: '{config_file}' and -c '{config_path}'")
    try:
        config = load_config(config_file or config_path, environ=os.environ)
    except ConfigError as error:
        if not as_json:
            raise
        print_json({"ok": False, "problems": [problem_json(p) for p in error.problems]})
        sys.exit(1)
    warnings = [*config.warnings, *machine_warnings(config)]
    jobs, clocks = len(config.jobs), config.clock_count
    if as_json:
        print_json(
            {
                "ok": True,
                "jobs": jobs,
                "clocks": clocks,
                "problems": [],
                "warnings": [problem_json(w) for w in warnings],
            }
        )
        return
    for warning in warnings:
        click.echo(f"warning: {warning.render()}", err=True)
    click.echo(f"{plural(jobs, 'job')}, {plural(clocks, 'clock')} OK")
