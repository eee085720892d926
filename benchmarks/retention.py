"""History retention under load: fire lateness while the pruner deletes most of a big history.

    .venv/bin/python benchmarks/retention.py                  # 1,000,000 runs, 120 s a mode
    .venv/bin/python benchmarks/retention.py --runs 100000 --seconds 30   # quicker

One SQLite history of `--runs` finished runs (job `bulk`, 100 clocks, created over the last
200 days, one log line each) is written by a direct bulk insert, then copied twice. On each
copy a real `clockd serve` runs for `--seconds` with 10 clocks firing every second (job
`tick`, `/bin/true`):
- off: no retention configured (the baseline, measured in the same run);
- on: `keep_runs_for = "90d"` and `bulk`'s `keep_runs = 2000` (the latest 2,000 per clock),
  so the pruner deletes about 800,000 runs and their log lines while the clocks fire.
Lateness = a tick run's `started_at` − its `scheduled_time` (the process exists). The table
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
import statistics
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


def measure(folder: Path, database: Path, seconds: float, *, retention: bool) -> dict[str, float]:
    port = free_port()
    config = folder / "clockd.toml"
    config.write_text(config_text(database, port, retention=retention))
    notify_path = folder / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(300)
    log = open(folder / "daemon.log", "wb")
    process = subprocess.Popen(
        [str(CLOCKD), "serve", "-c", str(config)],
        cwd=folder,
        env={**os.environ, "NOTIFY_SOCKET": str(notify_path)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while "READY=1" not in notify.recv(4096).decode():
            pass
        ready = datetime.now(UTC)
        time.sleep(seconds)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        notify.close()
        log.close()
    conn = sqlite3.connect(database)
    rows = conn.execute(
        "SELECT scheduled_time, started_at FROM runs WHERE job = 'tick' AND started_at IS NOT NULL"
    ).fetchall()
    left = conn.execute("SELECT COUNT(*) FROM runs WHERE job = 'bulk'").fetchone()[0]
    lines = conn.execute("SELECT COUNT(*) FROM run_logs").fetchone()[0]
    conn.close()
    late = sorted(
        (parse(started) - parse(scheduled)).total_seconds() * 1000
        for scheduled, started in rows
        if parse(scheduled) >= ready + timedelta(seconds=1)
    )
    return {
        "fires": len(late),
        "p50": statistics.median(late),
        "p99": late[min(len(late) - 1, int(len(late) * 0.99))],
        "max": late[-1],
        "left": left,
        "log_lines": lines,
    }


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=120.0)
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
        results = {}
        for mode, retention in (("off", False), ("on", True)):
            run_folder = folder / mode
            run_folder.mkdir()
            database = run_folder / "clockd.db"
            shutil.copy(source, database)
            results[mode] = measure(run_folder, database, args.seconds, retention=retention)
            results[mode]["size"], results[mode]["live"] = sizes(database)
        off, on = results["off"], results["on"]
        print(f"\n{TICKS} clocks firing every second for {args.seconds:.0f}s a mode")
        print(f"{'':28}{'off (baseline)':>16}{'on (pruning)':>16}{'on / off':>10}")
        for key, label in (("p50", "lateness p50 (ms)"), ("p99", "lateness p99 (ms)"),
                           ("max", "lateness max (ms)")):  # fmt: skip
            ratio = on[key] / off[key] if off[key] else float("nan")
            print(f"{label:28}{off[key]:>16.1f}{on[key]:>16.1f}{ratio:>10.2f}")
        print(f"{'fires measured':28}{off['fires']:>16,}{on['fires']:>16,}")
        print(f"{'bulk runs left':28}{off['left']:>16,}{on['left']:>16,}")
        print(f"{'log lines left':28}{off['log_lines']:>16,}{on['log_lines']:>16,}")
        print(f"{'database before (MiB)':28}{size_before[0]:>16.1f}{size_before[0]:>16.1f}")
        print(f"{'database after (MiB)':28}{off['size']:>16.1f}{on['size']:>16.1f}")
        print(f"{'live data after (MiB)':28}{off['live']:>16.1f}{on['live']:>16.1f}")


if __name__ == "__main__":
    main()
