"""The per-fire costs of the model and the store, each beside a baseline measured in this run.

    .venv/bin/python benchmarks/model.py [--repeat 5]

The rows were timing assertions in tests (tests/clocks/test_parameters.py,
tests/storage/test_store.py, tests/clocks/test_interval.py); the tests keep what the code
must do, this table says how fast it does it here, now:

- resolving a job's parameters 1,000 times (the daemon does it per fire), against the same
  values checked by `jsonschema.validate`, which builds its validator on every call (the
  regression the old test guarded against: validating from scratch);
- claiming 1,000 fires in one `claim_fires` call, against the floor: the same rows put into
  a table of the same shape with plain sqlite3, one `executemany` in one transaction;
- 100,000 fires of a 1-day interval clock in Europe/Berlin, against pendulum adding k days
  to the anchor in wall time (the same fires: checked).

Each figure is the best of `--repeat` runs, in milliseconds; ratio = clockd / baseline.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BERLIN = "Europe/Berlin"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def best_of(repeat: int, setup: Callable[[], Callable[[], Any]]) -> tuple[float, Any]:
    """The fastest of `repeat` runs of what `setup()` returns (setup itself is not timed), in
    milliseconds, and that run's result."""
    times, result = [], None
    for _ in range(repeat):
        run = setup()
        gc.collect()
        gc.disable()
        try:
            began = time.perf_counter()
            result = run()
            times.append((time.perf_counter() - began) * 1000)
        finally:
            gc.enable()
    return min(times), result


# -- parameters ----------------------------------------------------------------------------

DECLARATIONS: dict[str, dict[str, Any]] = {
    "x": {"type": "integer", "minimum": 0},
    "label": {"type": "string", "default": "nightly"},
    "flag": {"type": "boolean", "default": True},
    "tags": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
    "api_key": {"type": "string", "secret": True, "default": "env:KEY"},
}


def resolve_parameters(count: int) -> Callable[[], Callable[[], Any]]:
    from clocks.parameters import ParameterSet, render_context

    parameters = ParameterSet.from_declarations(DECLARATIONS)
    context = render_context(scheduled_time=T0, timezone="UTC", job="j", clock="c", run_id=None)
    parameters.resolve({"x": 9}, context=context)  # the validators are built once, lazily

    def setup() -> Callable[[], Any]:
        return lambda: [parameters.resolve({"x": 9}, context=context) for _ in range(count)]

    return setup


def validate_from_scratch(count: int) -> Callable[[], Callable[[], Any]]:
    import jsonschema

    values = {"x": 9, "label": "nightly", "flag": True, "tags": ["a", "b"], "api_key": "env:KEY"}
    schemas = {
        name: {k: v for k, v in declaration.items() if k not in ("default", "secret")}
        for name, declaration in DECLARATIONS.items()
    }

    def setup() -> Callable[[], Any]:
        def run() -> None:
            for _ in range(count):
                for name, schema in schemas.items():
                    jsonschema.validate(values[name], schema)

        return run

    return setup


# -- store ---------------------------------------------------------------------------------


def claim_fires(count: int, folder: Path) -> Callable[[], Callable[[], Any]]:
    from scheduler.storage.sqlite.store import NewRun, Store

    def setup() -> Callable[[], Any]:
        path = Path(tempfile.mkdtemp(dir=folder)) / "clockd.db"
        store = Store.open(path)
        fires = [
            NewRun(
                job="report",
                clock="bulk",
                trigger="clock",
                scheduled_time=T0 + timedelta(seconds=i),
                parameters={"x": 9, "api_key": "***"},
                secret_refs={"api_key": "env:KEY"},
            )
            for i in range(count)
        ]

        def run() -> list[int | None]:
            try:
                return list(store.claim_fires(fires))
            finally:
                store.close()

        return run

    return setup


def plain_inserts(count: int, folder: Path) -> Callable[[], Callable[[], Any]]:
    """The floor: the same rows into a table like `runs` (its unique fire index included)."""

    def setup() -> Callable[[], Any]:
        path = Path(tempfile.mkdtemp(dir=folder)) / "plain.db"
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT, clock TEXT, trigger TEXT,"
            " state TEXT, scheduled_time TEXT, created_at TEXT, parameters TEXT,"
            " secret_refs TEXT, attempt INTEGER)"
        )
        connection.execute(
            "CREATE UNIQUE INDEX fires ON runs (job, clock, scheduled_time)"
            " WHERE trigger IN ('clock', 'catchup', 'backfill')"
        )
        now = T0.isoformat()
        rows = [
            (
                "report",
                "bulk",
                "clock",
                "pending",
                (T0 + timedelta(seconds=i)).isoformat(),
                now,
                '{"x":9,"api_key":"***"}',
                '{"api_key":"env:KEY"}',
                1,
            )
            for i in range(count)
        ]

        def run() -> int:
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(
                    "INSERT OR IGNORE INTO runs (job, clock, trigger, state, scheduled_time,"
                    " created_at, parameters, secret_refs, attempt)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                connection.execute("COMMIT")
                return int(connection.execute("SELECT count(*) FROM runs").fetchone()[0])
            finally:
                connection.close()

        return run

    return setup


# -- interval clock ------------------------------------------------------------------------

ANCHOR = "2025-01-01T09:00:00+01:00"


def interval_fires(count: int) -> Callable[[], Callable[[], Any]]:
    from clocks.durations import parse_duration
    from clocks.interval import IntervalClock

    clock = IntervalClock(
        name="daily",
        interval=parse_duration("1d"),
        start=datetime.fromisoformat(ANCHOR),
        timezone=BERLIN,
    )

    def setup() -> Callable[[], Any]:
        def run() -> list[datetime]:
            fires = []
            for moment in clock.fires(datetime(2024, 12, 31, tzinfo=UTC)):
                fires.append(moment)
                if len(fires) == count:
                    break
            return fires

        return run

    return setup


def pendulum_days(count: int) -> Callable[[], Callable[[], Any]]:
    import pendulum

    anchor = pendulum.parse(ANCHOR).in_timezone(BERLIN)  # type: ignore[union-attr]

    def setup() -> Callable[[], Any]:
        return lambda: [anchor.add(days=k) for k in range(count)]

    return setup


# -- the table -----------------------------------------------------------------------------


def rows(repeat: int, folder: Path) -> list[list[str]]:
    table = []

    def row(what: str, ours: tuple[float, Any], base_label: str, base: tuple[float, Any]) -> None:
        table.append(
            [what, f"{ours[0]:.1f}", base_label, f"{base[0]:.1f}", f"{ours[0] / base[0]:.2f}"]
        )

    row(
        "resolve parameters ×1,000",
        best_of(repeat, resolve_parameters(1000)),
        "jsonschema.validate ×1,000",
        best_of(repeat, validate_from_scratch(1000)),
    )
    claimed = best_of(repeat, claim_fires(1000, folder))
    assert claimed[1] == list(range(1, 1001)), "claim_fires did not create 1,000 runs"
    inserted = best_of(repeat, plain_inserts(1000, folder))
    assert inserted[1] == 1000
    row("claim_fires, 1,000 fires", claimed, "sqlite3 executemany, 1,000 rows", inserted)
    ours = best_of(repeat, interval_fires(100_000))
    theirs = best_of(repeat, pendulum_days(100_000))
    assert [f.timestamp() for f in ours[1]] == [f.timestamp() for f in theirs[1]], (
        "the interval clock and pendulum disagree"
    )
    row("1d interval, 100,000 fires (Berlin)", ours, "pendulum add(days=k)", theirs)
    return table


def render(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = []
    for line in [header, ["-" * w for w in widths], *body]:
        lines.append(
            " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each row; best kept (5)")
    options = parser.parse_args(argv)
    versions = ", ".join(
        f"{name} {version(name)}" for name in ("pendulum", "jsonschema", "sqlite-utils")
    )
    print(
        f"Python {platform.python_version()} on {platform.machine()}; SQLite {sqlite3.sqlite_version}; {versions}"
    )
    print(f"\nBest of {options.repeat} runs, ms (ratio = clockd / baseline)\n")
    with tempfile.TemporaryDirectory() as folder:
        table = rows(options.repeat, Path(folder))
    header = ["clockd", "ms", "baseline", "ms", "ratio"]
    print(render(header, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
