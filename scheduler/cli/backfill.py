"""`clockd backfill JOB --clock NAME --from DATE --to DATE [--dry-run]` through the daemon.

A dry run lists each fire and its resolved values. A real run asks the daemon for the
fires, then creates them one at a time (so a progress bar can follow), and reports how
many runs were created and how many fires already had one.
"""

from __future__ import annotations

import json

import click

from scheduler.cli.common import config_option, url_option
from scheduler.cli.trigger import connect


@click.command()
@click.argument("job")
@click.option("--clock", required=True, help="The clock whose fires to create.")
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
@click.option("--dry-run", is_flag=True, help="List the fires and their values; create nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the daemon's answer as JSON.")
@url_option
@config_option
def backfill(
    job: str,
    clock: str,
    start: str,
    end: str,
    dry_run: bool,
    as_json: bool,
    url: str | None,
    config_path: str | None,
) -> None:
    """One run per fire time of CLOCK between --from and --to, each with its own scheduled_time.

    A date is its whole day; a date-time without offset is wall time in the clock's zone
    (in a DST gap: the first instant after it; in a repeated hour: its first occurrence).
    """
    from rich.console import Console

    check_bounds(start, end)

    console = Console()
    with connect(url, config_path) as client:
        plan = client.backfill(job, clock, start, end, dry_run=True)
        fires = plan["fires"]
        if dry_run:
            if as_json:
                click.echo(json.dumps(plan, indent=2))
                return
            _print_plan(console, plan)
            return
        created, skipped, failed = [], 0, []
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("backfill"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=not console.is_terminal,
        ) as progress:
            task = progress.add_task("", total=len(fires))
            for fire in fires:
                progress.update(task, description=fire["time"])
                answer = client.backfill(job, clock, fire["time"], fire["time"])
                for entry in answer["fires"]:
                    if entry.get("run_id") is not None:
                        created.append(entry["run_id"])
                    elif entry.get("error"):
                        failed.append(entry)
                    else:
                        skipped += 1
                progress.advance(task)
    if as_json:
        click.echo(json.dumps({"created": created, "skipped": skipped, "failed": failed}, indent=2))
        return
    click.echo(
        f"{len(created)} runs created, {skipped} skipped (already had a run)"
        + (f", {len(failed)} refused" if failed else "")
    )
    for entry in failed:
        click.echo(f"  {entry['time']}: {entry['error']}", err=True)


def check_bounds(start: str, end: str) -> None:
    """Refuse, before asking the daemon, a bound that is not a date or date-time. The daemon
    reads them in the clock's zone with the same parser (`clocks.localtime`)."""
    from clocks.errors import ClockError
    from clocks.localtime import parse_wall_time

    for option, text in (("--from", start), ("--to", end)):
        try:
            parse_wall_time(text)
        except ClockError as error:
            raise click.BadParameter(error.message, param_hint=option) from None


def _print_plan(console: object, plan: dict) -> None:  # type: ignore[type-arg]
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{plan['job']} / {plan['clock']}: {len(plan['fires'])} fires (dry run)")
    table.add_column("time")
    table.add_column("parameters")
    for fire in plan["fires"]:
        values = fire.get("parameters")
        table.add_row(
            fire["time"],
            Text(json.dumps(values, ensure_ascii=False))
            if values is not None
            else Text(str(fire.get("error")), style="red"),
        )
    console.print(table)  # type: ignore[attr-defined]
