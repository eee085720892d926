"""`clockd run JOB`: run a job now in this terminal, without the daemon; recorded in history."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from scheduler.cli.common import config_option, with_parameter_options
from scheduler.cli.completion import complete_clock, complete_job
from scheduler.errors import NotFound, UserError

if TYPE_CHECKING:
    from clocks.parameters import ParameterProblem
    from scheduler.models import Config, Job
    from scheduler.storage.sqlite.store import LogLine


def parse_parameter_values(
    job: Job, params: Sequence[str], params_json: str | None
) -> tuple[dict[str, Any], list[ParameterProblem]]:
    """`--params-json` first, then each `-p NAME=VALUE` converted by the declared type; the
    values, and the problems of texts that are not of their type (the run is refused with
    them and every other problem of the values: `Service.create_run(refused=...)`)."""
    from clocks.parameters import ParameterError

    values: dict[str, Any] = {}
    problems: list[ParameterProblem] = []
    if params_json:
        try:
            loaded = json.loads(params_json)
        except json.JSONDecodeError as error:
            raise UserError(
                f"--params-json is not valid JSON: {error.msg} at character {error.pos}"
            ) from None
        if not isinstance(loaded, dict):
            raise UserError("--params-json must be a JSON object, e.g. '{\"x\": 3}'")
        values.update(loaded)
    for item in params:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UserError(f"-p '{item}': expected NAME=VALUE", exit_code=2)
        if name not in job.parameters:
            values[name] = text  # refused as unexpected, with the other problems
            continue
        try:
            values[name] = job.parameters.convert_text(name, text)
        except ParameterError as error:
            values.pop(name, None)
            problems.extend(error.problems)
    return values, problems


def _echo(line: LogLine) -> None:
    stamp = line.time.astimezone().strftime("%H:%M:%S")
    click.echo(f"{stamp} {line.text}", err=line.stream == "stderr")


async def run_local(
    config: Config,
    job: str,
    values: dict[str, Any],
    clock: str | None,
    refused: Sequence[ParameterProblem] = (),
) -> int:
    """Create a manual run, execute it in this loop streaming its log; the exit code: 0 if it
    succeeded, 130 when Ctrl-C cancelled it, 1 otherwise."""
    from clocks.parameters import ParameterError
    from scheduler.cli.local import LocalSession
    from scheduler.cli.output import describe_end
    from scheduler.storage import StoreUnavailable

    async with LocalSession(config, echo=_echo) as session:
        try:
            record = await session.service.create_run(
                job, values, clock=clock, trigger="manual", refused=refused
            )
        except ParameterError as error:
            raise UserError(f"job '{job}': {error}") from None
        except StoreUnavailable as error:
            raise UserError(f"the run was not created: {error}") from None
        click.echo(f"clockd: run {record.id} of job '{job}' started", err=True)
        loop = asyncio.get_running_loop()
        interrupted: list[asyncio.Task[bool]] = []  # the cancels Ctrl-C asked for

        def cancel() -> None:
            if not interrupted:
                click.echo(f"clockd: Ctrl-C: cancelling run {record.id}", err=True)
            interrupted.append(loop.create_task(session.executor.cancel(record.id)))

        loop.add_signal_handler(signal.SIGINT, cancel)
        try:
            final = await session.wait_for(record.id)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        assert final is not None
        if final.result is not None:  # a Python target's return value
            click.echo(json.dumps(final.result, ensure_ascii=False))
        click.echo(f"clockd: run {final.id} {describe_end(final.to_json())}", err=True)
        if interrupted and final.state == "cancelled":
            return 130
        return 0 if final.state == "succeeded" else 1


@click.command()
@click.argument("job", shell_complete=complete_job)
@with_parameter_options
@click.option(
    "--clock",
    default=None,
    help="Use this clock's parameter defaults and time zone.",
    shell_complete=complete_clock,
)
@config_option
def run(
    job: str,
    params: tuple[str, ...],
    params_json: str | None,
    clock: str | None,
    config_path: str | None,
) -> None:
    """Run JOB now in this terminal, without the daemon.

    Streams its log, records it in history (trigger "manual") and exits 0 if it succeeded,
    1 otherwise. Ctrl-C cancels the run (its whole process group) and exits 130.

        clockd run report -p x=3 --clock small
    """
    from scheduler.config import load_config

    config = load_config(config_path)
    job_obj = config.jobs.get(job)
    if job_obj is None:
        raise NotFound(f"unknown job '{job}' (jobs: {', '.join(config.jobs) or 'none'})")
    if clock is not None and job_obj.clock(clock) is None:
        raise NotFound(f"job '{job}' has no clock '{clock}'")
    values, refused = parse_parameter_values(job_obj, params, params_json)
    sys.exit(asyncio.run(run_local(config, job, values, clock, refused)))
