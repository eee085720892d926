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
from scheduler.errors import NotFound, UserError

if TYPE_CHECKING:
    from scheduler.models import Config, Job
    from scheduler.storage.sqlite.store import LogLine


def parse_parameter_values(
    job: Job, params: Sequence[str], params_json: str | None
) -> dict[str, Any]:
    """`--params-json` first, then each `-p NAME=VALUE` converted by the declared type."""
    from clocks.parameters import ParameterError

    values: dict[str, Any] = {}
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
            declared = ", ".join(job.parameters.names) or "none"
            raise UserError(
                f"unexpected parameters: {name} (job '{job.name}' declares: {declared})"
            )
        try:
            values[name] = job.parameters.convert_text(name, text)
        except ParameterError as error:
            raise UserError(f"-p {name}: {error}") from None
    return values


def _echo(line: LogLine) -> None:
    stamp = line.time.astimezone().strftime("%H:%M:%S")
    click.echo(f"{stamp} {line.text}", err=line.stream == "stderr")


async def run_local(config: Config, job: str, values: dict[str, Any], clock: str | None) -> int:
    """Create a manual run, execute it in this loop streaming its log; 0 if it succeeded."""
    from clocks.parameters import ParameterError
    from scheduler.daemon.service import Service
    from scheduler.models import Identity
    from scheduler.running.environment import hidden_variables_of
    from scheduler.running.executor import Executor
    from scheduler.storage import StoreUnavailable, open_configured_store
    from scheduler.storage.reader import StoreReader
    from scheduler.storage.writer import StoreWriter

    settings = config.daemon
    store = open_configured_store(settings, wait=False)
    writer = StoreWriter(store)
    writer.start()
    reader = StoreReader(
        lambda: open_configured_store(settings, readonly=True, wait=False),
        on_loop=not store.blocking,
    )
    try:
        hidden = hidden_variables_of(lambda: config)
        executor = Executor(
            writer, settings, api_url=None, child_token=None, echo=_echo, hidden_env=hidden
        )
        service = Service(config, writer, reader, executor, identity=Identity.for_cli())
        try:
            record = await service.create_run(job, values, clock=clock, trigger="manual")
        except ParameterError as error:
            raise UserError(f"job '{job}': {error}") from None
        except StoreUnavailable as error:
            raise UserError(f"the run was not created: {error}") from None
        click.echo(f"clockd: run {record.id} of job '{job}' started", err=True)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, lambda: loop.create_task(executor.cancel(record.id)))
        await executor.wait_idle()
        final = await service.get_run(record.id)
        assert final is not None
        if final.result is not None:  # a Python target's return value
            click.echo(json.dumps(final.result, ensure_ascii=False))
        detail = f" ({final.error})" if final.error else ""
        click.echo(f"clockd: run {final.id} {final.state}{detail}", err=True)
        return 0 if final.state == "succeeded" else 1
    finally:
        left = await asyncio.to_thread(writer.close, 30.0)
        if left:
            click.echo(f"clockd: {left} history writes could not be stored", err=True)
        reader.close()
        store.close()


@click.command()
@click.argument("job")
@with_parameter_options  # type: ignore[untyped-decorator]
@click.option("--clock", default=None, help="Use this clock's parameter defaults and time zone.")
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
    1 otherwise.

        clockd run report -p x=3 --clock small
    """
    from scheduler.config import load_config

    config = load_config(config_path)
    job_obj = config.jobs.get(job)
    if job_obj is None:
        raise NotFound(f"unknown job '{job}' (jobs: {', '.join(config.jobs) or 'none'})")
    if clock is not None and job_obj.clock(clock) is None:
        raise NotFound(f"job '{job}' has no clock '{clock}'")
    values = parse_parameter_values(job_obj, params, params_json)
    sys.exit(asyncio.run(run_local(config, job, values, clock)))
