"""Time per fire event: clocks against raw croniter, cronsim and pendulum; rrule clocks against
dateutil's own rrule; a cron clock with a holiday calendar against the same without; CLI cold starts.

    .venv/bin/python benchmarks/next_fires.py [--events 100000] [--runs 10]

Everything printed is measured in this run (one pass per engine, Europe/Berlin). The cron
rows also say whether clocks produced the same fires as cronsim (cronie DST rules both).
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
ZONE_NAME = "Europe/Berlin"
ZONE = ZoneInfo(ZONE_NAME)
# A second past a boundary, so no engine can return the start itself.
START = datetime(2025, 1, 1, 0, 0, 1, tzinfo=ZONE)


def timed(run: Callable[[], list[datetime]]) -> tuple[float, list[datetime]]:
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        fires = run()
        return time.perf_counter() - began, fires
    finally:
        gc.enable()


def clocks_cron(expression: str, events: int) -> Callable[[], list[datetime]]:
    from clocks.cron import CronClock

    clock = CronClock(name="bench", expression=expression, timezone=ZONE_NAME)

    return _walk(clock, events)


def _walk(clock: Any, events: int) -> Callable[[], list[datetime]]:
    """`events` consecutive fires of a clocks/ clock from START, each after the previous one."""

    def run() -> list[datetime]:
        fires, after = [], START
        for _ in range(events):
            after = clock.next_fire(after)
            fires.append(after)
        return fires

    return run


def clocks_interval(events: int) -> Callable[[], list[datetime]]:
    from clocks.durations import parse_duration
    from clocks.interval import IntervalClock

    anchor = START.replace(hour=9, second=0)
    clock = IntervalClock(
        name="bench", interval=parse_duration("1d"), start=anchor, timezone=ZONE_NAME
    )

    return _walk(clock, events)


def croniter_run(expression: str, events: int) -> Callable[[], list[datetime]]:
    from croniter import croniter

    def run() -> list[datetime]:
        iterator = croniter(expression, START)
        return [iterator.get_next(datetime) for _ in range(events)]

    return run


def cronsim_run(expression: str, events: int) -> Callable[[], list[datetime]]:
    from itertools import islice

    from cronsim import CronSim

    def run() -> list[datetime]:
        return list(islice(CronSim(expression, START), events))

    return run


def pendulum_run(
    first: datetime, step: dict[str, int], events: int
) -> Callable[[], list[datetime]]:
    import pendulum

    def run() -> list[datetime]:
        current = pendulum.instance(first).in_tz(ZONE_NAME)
        fires = []
        for _ in range(events):
            fires.append(current)
            current = current.add(**step)
        return fires

    return run


ROWS = [
    # label, clocks engine, croniter/cronsim expression, pendulum first fire and step
    ("*/5 * * * *", "*/5 * * * *", START.replace(minute=5, second=0), {"minutes": 5}),
    ("30 2 * * *", "30 2 * * *", START.replace(hour=2, minute=30, second=0), {"days": 1}),
    ("interval 1d (09:00)", "0 9 * * *", START.replace(hour=9, second=0), {"days": 1}),
]


def fire_rows(events: int) -> list[list[str]]:
    table = []
    for label, expression, first, step in ROWS:
        if label.startswith("interval"):
            try:
                ours: Callable[[], list[datetime]] | None = clocks_interval(events)
                note = ""
            except ImportError as error:
                ours, note = None, f"clocks.interval not available yet ({error})"
        else:
            ours, note = clocks_cron(expression, events), ""
        measured: dict[str, float] = {}
        outputs: dict[str, list[datetime]] = {}
        engines = {
            "clocks": ours,
            "croniter": croniter_run(expression, events),
            "cronsim": cronsim_run(expression, events),
            "pendulum": pendulum_run(first, step, events),
        }
        for name, run in engines.items():
            if run is None:
                continue
            try:
                measured[name], outputs[name] = timed(run)
            except Exception as error:  # a failing engine is a row note, not a crash
                note += f" {name} failed: {type(error).__name__}: {error}"
        base = measured.get("croniter")

        def cell(name: str, measured: dict[str, float] = measured) -> str:
            seconds = measured.get(name)
            return "skipped" if seconds is None else f"{seconds / events * 1e6:.2f}"

        def ratio(
            name: str, measured: dict[str, float] = measured, base: float | None = base
        ) -> str:
            seconds = measured.get(name)
            return "-" if seconds is None or not base else f"{seconds / base:.2f}"

        if "clocks" in outputs and "cronsim" in outputs:
            same = [f.astimezone(UTC) for f in outputs["clocks"]] == [
                f.astimezone(UTC) for f in outputs["cronsim"]
            ]
            note = ("same fires as cronsim" if same else "fires differ from cronsim") + note
        table.append(
            [
                label,
                *(cell(n) for n in engines),
                *(ratio(n) for n in ("clocks", "cronsim", "pendulum")),
                note.strip(),
            ]
        )
    return table


RRULES = [
    ("rrule last weekday of the month", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
    ("rrule 3 times a weekday", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,12,17;BYMINUTE=0"),
    ("rrule every 10 minutes", "FREQ=MINUTELY;INTERVAL=10"),
]


def rrule_rows(events: int) -> list[list[str]]:
    """µs per fire: RRuleClock.fires and a next_fire walk against iterating dateutil's rrule
    with the same aware DTSTART (its own output: aware datetimes in the zone)."""
    from itertools import islice

    from dateutil.rrule import rrulestr

    from clocks.rrule import RRuleClock

    first = START.replace(hour=18, second=0, tzinfo=None)
    table = []
    for label, rule in RRULES:
        clock = RRuleClock(name="bench", rule=rule, start=first, timezone=ZONE_NAME)

        def oracle(rule: str = rule) -> list[datetime]:
            return list(islice(iter(rrulestr(rule, dtstart=first.replace(tzinfo=ZONE))), events))

        def iterate(clock: RRuleClock = clock) -> list[datetime]:
            return list(islice(clock.fires(START), events))

        base, expected = timed(oracle)
        ours, got = timed(iterate)
        walked, stepped = timed(_walk(clock, events))
        same = got == stepped == [moment.astimezone(UTC) for moment in expected]
        table.append(
            [
                label,
                f"{ours / events * 1e6:.2f}",
                f"{walked / events * 1e6:.2f}",
                f"{base / events * 1e6:.2f}",
                f"{ours / base:.2f}",
                f"{walked / base:.2f}",
                "same fires as dateutil" if same else "fires differ from dateutil",
            ]
        )
    return table


def calendar_rows(events: int) -> list[list[str]]:
    """µs per fire of a next_fire walk: a cron clock with the US holiday calendar (skip, and
    next_business_day) against the same cron clock without one."""
    from clocks.calendar import Calendar, Filters
    from clocks.cron import CronClock
    from clocks.filters import FilteredClock
    from scheduler.config.calendars import holiday_dates
    from scheduler.config.values import Section

    years = range(START.year, START.year + events // 200 + 2)
    closed = holiday_dates(Section("bench", "calendars.us", {}, []), "US", years) or {}
    calendar = Calendar("us", closed=closed)
    table = []
    for expression in ("0 9 * * *", "*/15 * * * *"):
        plain = CronClock(name="bench", expression=expression, timezone=ZONE_NAME)
        base, _ = timed(_walk(plain, events))
        for policy in ("skip", "next_business_day"):
            clock = FilteredClock.wrap(plain, Filters(calendar=calendar, on_closed_day=policy))
            ours, _ = timed(_walk(clock, events))
            table.append(
                [
                    f"cron {expression} + calendar us ({policy})",
                    f"{ours / events * 1e6:.2f}",
                    f"{base / events * 1e6:.2f}",
                    f"{ours / base:.2f}",
                ]
            )
    return table


def cold_starts(runs: int) -> list[list[str]]:
    clockd = str(ROOT / ".venv" / "bin" / "clockd")
    if not Path(clockd).exists():
        clockd = str(Path(sys.executable).parent / "clockd")
    demo = str(ROOT / "config" / "demo.toml")
    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("clockd --help", [clockd, "--help"]),
        ("clockd next report -n 10 (demo)", [clockd, "next", "report", "-n", "10", "-c", demo]),
        ("clockd check", [clockd, "check", "-c", demo]),
    ]
    table, baseline = [], None
    for label, argv in commands:
        times, error = [], ""
        for _ in range(runs):
            began = time.perf_counter()
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
            except (OSError, subprocess.TimeoutExpired) as failure:
                error = f"{type(failure).__name__}: {failure}"
                break
            times.append(time.perf_counter() - began)
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines()
                error = f"exit {done.returncode}: {lines[-1] if lines else '(no output)'}"
                break
        if error:
            table.append([label, "failed", "-", error])
            continue
        median = statistics.median(times) * 1000
        baseline = baseline if baseline is not None else median
        table.append([label, f"{median:.1f}", f"{median - baseline:+.1f}", ""])
    return table


def render(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, ["-" * w for w in widths], *rows]:
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=100_000, help="fire events per engine (100000)"
    )
    parser.add_argument("--runs", type=int, default=10, help="subprocess runs per command (10)")
    options = parser.parse_args(argv)
    versions = ", ".join(f"{name} {version(name)}" for name in ("croniter", "cronsim", "pendulum"))
    print(f"Python {platform.python_version()} on {platform.machine()}; {versions}")
    print(
        f"\nTime per fire event, {options.events} events, {ZONE_NAME}, µs (ratio = engine / croniter)\n"
    )
    header = [
        "schedule",
        "clocks",
        "croniter",
        "cronsim",
        "pendulum",
        "clocks/croniter",
        "cronsim/croniter",
        "pendulum/croniter",
        "note",
    ]
    print(render(header, fire_rows(options.events)))
    rrule_events = max(1, options.events // 10)
    print(
        f"\nrrule clocks, {rrule_events} fires, {ZONE_NAME}, µs per fire "
        "(ratio = clocks / iterating dateutil's rrule; target <= 1.0)\n"
    )
    rrule_header = [
        "rule",
        "clocks fires()",
        "clocks next_fire walk",
        "dateutil",
        "fires()/dateutil",
        "walk/dateutil",
        "note",
    ]
    print(render(rrule_header, rrule_rows(rrule_events)))
    print(
        f"\nA holiday calendar, {rrule_events} fires, µs per fire of a next_fire walk "
        "(ratio = with / without; target <= 1.5)\n"
    )
    print(render(["clock", "with calendar", "without", "ratio"], calendar_rows(rrule_events)))
    print(f"\nCold start, median of {options.runs} runs, ms\n")
    print(render(["command", "median ms", "vs python -c pass", "error"], cold_starts(options.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
