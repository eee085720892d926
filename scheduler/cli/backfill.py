"""`clockd backfill JOB --clock NAME --from DATE --to DATE [--dry-run | --local] [-p NAME=VALUE]`.

- `--dry-run` needs no daemon: the fires and their values are computed here from the config
  (with the clock's stored anchor when the database can be read), as `clockd next` does.
- By default the daemon creates the runs: they are asked for one fire at a time (so a
  progress bar can follow), and an unreachable daemon is an error.
- `--local` runs them in this process, as `clockd run` does: claimed through the same
  `Service.backfill` and `Firing.claim` as in the daemon (one run per fire, ever), at most
  `--concurrency` at once, with a progress bar; exit 1 if any did not succeed.

At most `MAX_BACKFILL_FIRES` (10,000) fires a backfill: a larger range is refused, with
about how many fires it has.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from typing import Any

import click

from scheduler.cli.common import config_option, daemon_options, parameter_options
from scheduler.cli.completion import complete_clock, complete_job
from scheduler.errors import DaemonUnreachable, NotFound, UserError


@click.command()
@click.argument("job", shell_complete=complete_job)
@click.option(
    "--clock",
    required=True,
    help="The clock whose fires to create.",
    shell_complete=complete_clock,
)
@click.option(
    "--from",
    "start",
    required=True,
    metavar="DATE",
    help="First day (or date-time), in the clock's zone.",
)
@click.option(
    "--to", "end", required=True, metavar="DATE", help="Last day (inclusive) or date-time."
)
@parameter_options[0]
@parameter_options[1]
@click.option("--dry-run", is_flag=True, help="List the fires and their values; no daemon needed.")
@click.option(
    "--local", is_flag=True, help="Run the fires in this process (no daemon), like clockd run."
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=1000),
    default=4,
    show_default=True,
    help="With --local: how many runs at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@daemon_options
@config_option
def backfill(
    job: str,
    clock: str,
    start: str,
    end: str,
    params: tuple[str, ...],
    params_json: str | None,
    dry_run: bool,
    local: bool,
    concurrency: int,
    as_json: bool,
    url: str | None,
    token_file: str | None,
    config_path: str | None,
) -> None:
    """One run per fire time of CLOCK between --from and --to, each with its own scheduled_time.

    A date is its whole day; a date-time without offset is wall time in the clock's zone
    (in a DST gap: the first instant after it; in a repeated hour: its first occurrence).
    -p NAME=VALUE (and --params-json) set a value for every run. At most 10,000 fires.

        clockd backfill report --clock nightly --from 2026-03-01 --to 2026-03-07 --dry-run
        clockd backfill report --clock nightly --from 2026-03-01 --to 2026-03-07 --local
    """
    from scheduler.cli.trigger import parse_parameter_options

    if dry_run and local:
        raise click.UsageError("--dry-run and --local exclude each other")
    check_bounds(start, end)
    values, texts = parse_parameter_options(params, params_json)
    if dry_run:
        plan = dry_run_plan(job, clock, start, end, values, texts, url, token_file, config_path)
        if as_json:
            click.echo(json.dumps(plan, indent=2, ensure_ascii=False))
        else:
            _print_plan(plan)
        return
    if local:
        sys.exit(
            run_locally(job, clock, start, end, values, texts, concurrency, as_json, config_path)
        )
    through_daemon(job, clock, start, end, values, texts, as_json, url, token_file, config_path)


def check_bounds(start: str, end: str) -> None:
    """Refuse, before anything else, a bound that is not a date or date-time. Both are read
    in the clock's zone with the same parser (`clocks.localtime`)."""
    from clocks.errors import ClockError
    from clocks.localtime import parse_wall_time

    for option, text in (("--from", start), ("--to", end)):
        try:
            parse_wall_time(text)
        except ClockError as error:
            raise click.BadParameter(error.message, param_hint=option) from None


def _bounds(clock: Any, start: str, end: str) -> tuple[datetime, datetime]:
    from clocks.localtime import get_zone, parse_moment

    zone = get_zone(clock.timezone)
    return parse_moment(start, zone, end=False), parse_moment(end, zone, end=True)


def _local_values(job: Any, values: dict[str, Any], texts: dict[str, str]) -> dict[str, Any]:
    """`-p` texts converted by the declared types (every problem at once)."""
    from clocks.parameters import ParameterError

    given = dict(values)
    problems = []
    for name, text in texts.items():
        if name not in job.parameters:
            given[name] = text  # refused as unexpected with the rest
            continue
        try:
            given[name] = job.parameters.convert_text(name, text)
        except ParameterError as error:
            problems.extend(error.problems)
    unexpected = [p for p in job.parameters.check_names(given) if p.kind == "unexpected"]
    if problems or unexpected:
        raise UserError(f"job '{job.name}': {ParameterError([*unexpected, *problems])}")
    return given


def _job_and_clock(config: Any, job: str, clock: str) -> tuple[Any, Any]:
    job_obj = config.jobs.get(job)
    if job_obj is None:
        raise NotFound(f"unknown job '{job}' (jobs: {', '.join(config.jobs) or 'none'})")
    clock_obj = job_obj.clock(clock)
    if clock_obj is None:
        known = ", ".join(c.name for c in job_obj.clocks) or "none"
        raise NotFound(f"job '{job}' has no clock '{clock}' (clocks: {known})")
    return job_obj, clock_obj


def dry_run_plan(
    job: str,
    clock: str,
    start: str,
    end: str,
    values: dict[str, Any],
    texts: dict[str, str],
    url: str | None,
    token_file: str | None,
    config_path: str | None,
) -> dict[str, Any]:
    """The fires and values, from the config here (the API's answer with --url and no config)."""
    from clocks.parameters import ParameterError
    from scheduler.cli.address import connect, remote_url
    from scheduler.config import load_config, locate_config
    from scheduler.scheduling.backfill import backfill_times, plan_entries

    if remote_url(url) is not None and locate_config(config_path, os.environ) is None:
        with connect(url, config_path, token_file) as client:
            return client.backfill(
                job, clock, start, end, dry_run=True, parameters=values, parameter_text=texts
            )
    config = load_config(config_path, environ=os.environ)
    job_obj, clock_obj = _job_and_clock(config, job, clock)
    clock_obj = _anchored(config, job_obj, clock_obj)
    begin, finish = _bounds(clock_obj, start, end)
    given = _local_values(job_obj, values, texts)
    try:
        entries = plan_entries(job_obj, clock_obj, backfill_times(clock_obj, begin, finish), given)
    except ParameterError as error:
        raise UserError(f"job '{job}': {error}") from None
    return {
        "job": job,
        "clock": clock,
        "from": begin.isoformat(),
        "to": finish.isoformat(),
        "dry_run": True,
        "fires": entries,
        "created": 0,
        "skipped": 0,
    }


def _anchored(config: Any, job: Any, clock: Any) -> Any:
    """An interval clock without `start` anchored as the daemon stored it (read-only), else
    at now, said on stderr."""
    from scheduler.cli.next import stored_clock_states

    if not clock.needs_anchor:
        return clock
    states, _ = stored_clock_states(config)
    anchor = states.get((job.name, clock.name))
    if anchor is not None and anchor.anchor is not None:
        return clock.anchored(anchor.anchor)
    from scheduler.timesource import SYSTEM_TIME, whole_second

    now = whole_second(SYSTEM_TIME.now())
    click.echo(
        f"note: clock '{clock.name}' has no start and no stored anchor: anchored at now, "
        f"{now.isoformat()}",
        err=True,
    )
    return clock.anchored(now)


def _print_plan(plan: dict[str, Any]) -> None:
    from scheduler.cli.output import plural, print_table, show_parameters

    fires = plan["fires"]
    click.echo(f"{plan['job']} / {plan['clock']}: {plural(len(fires), 'fire')} (dry run)")
    if not fires:
        return
    rows = [
        (
            fire["time"],
            show_parameters(fire["parameters"])
            if fire.get("parameters") is not None
            else f"refused: {fire.get('error')}",
        )
        for fire in fires
    ]
    print_table(("time", "parameters"), rows)


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    stderr = Console(stderr=True)
    return Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=stderr,
        transient=not stderr.is_terminal,
        disable=not stderr.is_terminal,
    )


def through_daemon(
    job: str,
    clock: str,
    start: str,
    end: str,
    values: dict[str, Any],
    texts: dict[str, str],
    as_json: bool,
    url: str | None,
    token_file: str | None,
    config_path: str | None,
) -> None:
    from scheduler.cli.address import connect

    created: list[int] = []
    skipped = 0
    failed: list[dict[str, Any]] = []
    try:
        with connect(url, config_path, token_file) as client:
            plan = client.backfill(
                job, clock, start, end, dry_run=True, parameters=values, parameter_text=texts
            )
            with _progress() as progress:
                task = progress.add_task("", total=len(plan["fires"]))
                for fire in plan["fires"]:
                    progress.update(task, description=fire["time"])
                    answer = client.backfill(
                        job,
                        clock,
                        fire["time"],
                        fire["time"],
                        parameters=values,
                        parameter_text=texts,
                    )
                    for entry in answer["fires"]:
                        if entry.get("run_id") is not None:
                            created.append(entry["run_id"])
                        elif entry.get("error"):
                            failed.append(entry)
                        else:
                            skipped += 1
                    progress.advance(task)
    except DaemonUnreachable as error:
        unanswered = error.message.split(" (", 1)[0]  # "the daemon at URL did not answer"
        raise UserError(
            f"{unanswered}: start it, or use --local to run the fires in this process "
            "(--dry-run lists them)"
        ) from None
    _report(created, skipped, failed, as_json)


def _report(created: list[int], skipped: int, failed: list[dict[str, Any]], as_json: bool) -> None:
    from scheduler.cli.output import plural

    if as_json:
        click.echo(json.dumps({"created": created, "skipped": skipped, "failed": failed}, indent=2))
        return
    click.echo(
        f"{plural(len(created), 'run')} created, {skipped} skipped (already had a run)"
        + (f", {len(failed)} refused" if failed else "")
    )
    for entry in failed:
        click.echo(f"  {entry['time']}: {entry['error']}", err=True)


def run_locally(
    job: str,
    clock: str,
    start: str,
    end: str,
    values: dict[str, Any],
    texts: dict[str, str],
    concurrency: int,
    as_json: bool,
    config_path: str | None,
) -> int:
    """Claim and run the fires here; 0 if every run created succeeded."""
    from scheduler.config import load_config

    config = load_config(config_path, environ=os.environ)
    job_obj, clock_obj = _job_and_clock(config, job, clock)
    given = _local_values(job_obj, values, texts)
    return asyncio.run(
        _run_locally(config, job_obj, clock_obj, start, end, given, concurrency, as_json)
    )


async def _run_locally(
    config: Any,
    job: Any,
    clock: Any,
    start: str,
    end: str,
    given: dict[str, Any],
    concurrency: int,
    as_json: bool,
) -> int:
    from clocks.parameters import ParameterError
    from scheduler.cli.local import LocalSession
    from scheduler.cli.output import describe_end

    finished: list[Any] = []
    progress = _progress()
    task = progress.add_task("", total=None)

    def on_event(kind: str, record: Any) -> None:
        if kind == "finished":
            finished.append(record)
            progress.update(task, advance=1, description=record.scheduled_time.isoformat())

    async with LocalSession(
        config,
        echo=None,
        on_event=on_event,
        max_concurrent_runs=concurrency,
        what="clockd backfill --local",
    ) as session:
        begin, finish = _bounds(session.service.book.effective(job.name, clock), start, end)
        with progress:
            try:
                entries = await session.service.backfill(
                    job.name, clock.name, begin, finish, given=given
                )
            except ParameterError as error:
                raise UserError(f"job '{job.name}': {error}") from None
            created = [e["run_id"] for e in entries if e.get("run_id") is not None]
            progress.update(task, total=len(created))
            await session.executor.wait_idle()
            records = [await session.service.get_run(run_id) for run_id in created]
    skipped = sum(1 for e in entries if e.get("run_id") is None and not e.get("error"))
    refused = [e for e in entries if e.get("error")]
    bad = [r for r in records if r is not None and r.state != "succeeded"]
    _report(created, skipped, refused, as_json)
    if not as_json:
        for record in bad:
            click.echo(
                f"  run {record.id} ({record.scheduled_time.isoformat()}) {describe_end(record.to_json())}",
                err=True,
            )
    return 1 if bad or refused else 0
