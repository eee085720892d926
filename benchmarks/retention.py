"""History retention under load: fire lateness while the pruner deletes most of a big history.

    .venv/bin/python benchmarks/retention.py              # 1,000,000 runs, 2 trials: ~8 minutes
    .venv/bin/python benchmarks/retention.py --runs 100000 --repeat 1    # quicker

One SQLite history of `--runs` finished runs (job `bulk`, 100 clocks, created over the last
200 days, one log line each) is written by a direct bulk insert. Each trial copies it twice;
on each copy a real `clockd serve` runs with 10 clocks firing every second (job `tick`,
`/bin/true`):
- on: `keep_runs_for = "90d"` and `bulk`'s `keep_runs = 2000` (the latest 2,000 per clock),
  so the start-up pass deletes about 800,000 runs and their log lines while the clocks
  fire; measured until that pass ends (its "pruned runs=" log line);
- off: no retention (the baseline), for as long, right after: the machine is shared, so
  the two windows of a trial are close in time, and `--repeat` trials are pooled.
Lateness = a tick run's `started_at` − its `scheduled_time` (its process exists). The table
gives p50 / p99 / max per mode and the ratios on / off, the runs left, and the database size
before and after (SQLite keeps freed pages in the file for reuse: "live" is the file minus
its free pages).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLOCKD = Path(sys.executable).parent / "clockd"
CLOCKS = 100  # clocks of the bulk job
TICKS = 10  # clocks firing every second during the measurement


def iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def build_history(path: Path, runs: int, now: datetime) -> float:
    """`runs` finished runs and a log line each, inserted directly; seconds it took."""
    from scheduler.storage.sqlite.store import SQLiteStore

    SQLiteStore.open(path).close()  # the schema, migrated
    started = time.monotonic()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    span = timedelta(days=200).total_seconds()
    oldest = now - timedelta(days=200)

    def rows():  # type: ignore[no-untyped-def]
        for index in range(runs):
            created = oldest + timedelta(seconds=span * index / runs)
            text = iso_millis(created)
            yield (
                index + 1,
                "bulk",
                f"c{index % CLOCKS}",
                "clock",
                "succeeded",
                '{"x":1}',
                text[:19] + "Z",
                text,
                text,
                text,
                1,
                0,
                0.01,
                "bench",
                "daemon:bench:1",
            )

    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO runs (id, job, clock, trigger, state, parameters, scheduled_time, "
        "created_at, started_at, ended_at, attempt, exit_code, lateness, daemon, owner) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    conn.executemany(
        "INSERT INTO run_logs (run_id, seq, time, stream, text) VALUES (?, 1, ?, 'stdout', ?)",
        ((index + 1, iso_millis(now), f"line of run {index + 1}") for index in range(runs)),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_text(database: Path, port: int, *, retention: bool) -> str:
    ticks = "\n".join(
        f'[[jobs.tick.clocks]]\nname = "t{i}"\ninterval = "1s"\n' for i in range(TICKS)
    )
    return f"""
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
{'keep_runs_for = "90d"' if retention else ""}

[jobs.bulk]
command = ["true"]
{"keep_runs = 2000" if retention else ""}

[jobs.tick]
command = ["/bin/true"]
{ticks}
"""


def sizes(path: Path) -> tuple[float, float]:
    """(file MiB with its WAL, live MiB: without free pages)."""
    total = path.stat().st_size
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        total += wal.stat().st_size
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    return total / 2**20, (total - free * page) / 2**20


class Daemon:
    """A real `clockd serve` on one copy of the history, until `stop()`."""

    def __init__(self, folder: Path, database: Path, *, retention: bool) -> None:
        self.folder, self.database = folder, database
        config = folder / "clockd.toml"
        config.write_text(config_text(database, free_port(), retention=retention))
        notify_path = folder / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(notify_path))
        self.notify.settimeout(300)
        self.log_path = folder / "daemon.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(CLOCKD), "serve", "-c", str(config)],
            cwd=folder,
            env={**os.environ, "NOTIFY_SOCKET": str(notify_path)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while "READY=1" not in self.notify.recv(4096).decode():
            pass
        self.ready = datetime.now(UTC)

    def pruned_line(self) -> str | None:
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "pruned runs=" in line:
                return line
        return None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.notify.close()
        self.log.close()

    def lateness_ms(self, until: datetime) -> list[float]:
        """Process start − scheduled time of the tick runs scheduled in (ready + 1 s, until]."""
        conn = sqlite3.connect(self.database)
        rows = conn.execute(
            "SELECT scheduled_time, started_at FROM runs "
            "WHERE job = 'tick' AND started_at IS NOT NULL"
        ).fetchall()
        conn.close()
        start = self.ready + timedelta(seconds=1)
        return [
            (parse(started) - parse(scheduled)).total_seconds() * 1000
            for scheduled, started in rows
            if start < parse(scheduled) <= until
        ]

    def counts(self) -> tuple[int, int]:
        conn = sqlite3.connect(self.database)
        left = conn.execute("SELECT COUNT(*) FROM runs WHERE job = 'bulk'").fetchone()[0]
        lines = conn.execute("SELECT COUNT(*) FROM run_logs").fetchone()[0]
        conn.close()
        return left, lines


def trial(folder: Path, source: Path, limit: float) -> dict[str, dict[str, object]]:
    """Pruning on until its first pass ends (at most `limit` s), then the baseline for as
    long, each on a fresh copy of the history."""
    results: dict[str, dict[str, object]] = {}
    window = limit
    for mode in ("on", "off"):
        run_folder = folder / mode
        shutil.rmtree(run_folder, ignore_errors=True)
        run_folder.mkdir()
        database = run_folder / "clockd.db"
        shutil.copy(source, database)
        daemon = Daemon(run_folder, database, retention=mode == "on")
        try:
            if mode == "on":
                deadline = time.monotonic() + limit
                while daemon.pruned_line() is None and time.monotonic() < deadline:
                    time.sleep(0.5)
                window = (datetime.now(UTC) - daemon.ready).total_seconds()
            else:
                time.sleep(window)
        finally:
            daemon.stop()
        until = daemon.ready + timedelta(seconds=window)
        left, lines = daemon.counts()
        size, live = sizes(database)
        results[mode] = {
            "late": daemon.lateness_ms(until),
            "window": window,
            "left": left,
            "log_lines": lines,
            "size": size,
            "live": live,
        }
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=300.0, help="longest pruning window")
    parser.add_argument("--repeat", type=int, default=2, help="trials (on, then off) to pool")
    args = parser.parse_args()
    if not CLOCKD.exists():
        sys.exit(f"{CLOCKD} not found: install clockd in this venv first")
    with tempfile.TemporaryDirectory(prefix="clockd-retention-") as tmp:
        folder = Path(tmp)
        source = folder / "history.db"
        now = datetime.now(UTC)
        took = build_history(source, args.runs, now)
        size_before = sizes(source)
        print(f"history: {args.runs:,} runs and log lines inserted in {took:.1f}s")
        trials = [trial(folder, source, args.seconds) for _ in range(args.repeat)]
        late = {mode: [v for t in trials for v in t[mode]["late"]] for mode in ("off", "on")}
        last = trials[-1]
        windows = ", ".join(f"{t['on']['window']:.0f}s" for t in trials)
        print(f"\n{TICKS} clocks firing every second; pruning passes took {windows}; the")
        print("baseline (no retention) ran as long on a fresh copy right after each pass")
        print(f"{'':28}{'off (baseline)':>16}{'on (pruning)':>16}{'on / off':>10}")
        for fraction, label in ((0.5, "lateness p50 (ms)"), (0.99, "lateness p99 (ms)"),
                                (1.0, "lateness max (ms)")):  # fmt: skip
            off, on = percentile(late["off"], fraction), percentile(late["on"], fraction)
            ratio = on / off if off else float("nan")
            print(f"{label:28}{off:>16.1f}{on:>16.1f}{ratio:>10.2f}")
        print(f"{'fires measured':28}{len(late['off']):>16,}{len(late['on']):>16,}")
        for key, label in (("left", "bulk runs left"), ("log_lines", "log lines left")):
            print(f"{label:28}{last['off'][key]:>16,}{last['on'][key]:>16,}")
        print(f"{'database before (MiB)':28}{size_before[0]:>16.1f}{size_before[0]:>16.1f}")
        print(f"{'database after (MiB)':28}{last['off']['size']:>16.1f}{last['on']['size']:>16.1f}")
        print(
            f"{'live data after (MiB)':28}{last['off']['live']:>16.1f}{last['on']['live']:>16.1f}"
        )


if __name__ == "__main__":
    main()
