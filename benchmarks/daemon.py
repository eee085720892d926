"""Daemon benchmarks: fire-to-process-start lateness, idle cost, start-up with many clocks.

    .venv/bin/python benchmarks/daemon.py                  # everything, < 5 minutes
    .venv/bin/python benchmarks/daemon.py --quick          # smaller: 1/100 clocks, 5 s idle, 1,000 loaded clocks

Lateness = process start − scheduled instant, for N clocks due at the same second, each
starting `/bin/true`. All three measure the same point, when the process exists (the spawn
returned), and spawn the same way a scheduler that keeps logs must: stdout and stderr on
pipes that are read, in a session of its own (so a timeout can kill the group), with the
same child watcher (pidfd on Linux, as clockd and Python 3.12+ use):
- clockd: a real `clockd serve`; start = the run's `started_at`, which the executor records
  right after the spawn returned;
- raw APScheduler 3.11: AsyncIOScheduler, N DateTrigger jobs whose coroutine starts the
  process;
- bare asyncio: one `loop.call_at`, then N spawns in a row (the floor).
The machine is shared: repeat a row before reading much into a difference under ~2x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
CLOCKD = Path(sys.executable).parent / "clockd"
TRUE = "/bin/true"


async def spawn_captured(argv: str) -> asyncio.subprocess.Process:
    """Start a process as clockd does: output on pipes, its own session."""
    return await asyncio.create_subprocess_exec(
        argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


def use_pidfd_child_watcher() -> None:
    """asyncio waits for children through pidfds (Python 3.12's default; 3.11 used a thread each)."""
    if sys.version_info < (3, 12) and hasattr(os, "pidfd_open"):
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f}"


# -- clockd as a real daemon -------------------------------------------------------------------


class Daemon:
    def __init__(self, folder: Path, config: str) -> None:
        self.folder = folder
        self.config = folder / "clockd.toml"
        self.config.write_text(config)
        self.database = folder / "clockd.db"
        self.starts = 0

    def start(self) -> float:
        """Start and wait for READY=1; seconds from exec to READY."""
        self.starts += 1
        self.notify_path = self.folder / f"notify-{self.starts}.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(120)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path)}
        started = time.monotonic()
        self.log = open(self.folder / "daemon.log", "wb")
        self.process = subprocess.Popen(
            [str(CLOCKD), "serve", "-c", str(self.config)],
            cwd=self.folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while True:
            message = self.notify.recv(4096).decode()
            if "READY=1" in message:
                return time.monotonic() - started

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.notify.close()
        self.log.close()


def clockd_config(
    clocks: int, at: datetime | None, *, per_job: int = 100, cron: str | None = None
) -> str:
    lines = [
        "[daemon]",
        'database = "clockd.db"',
        'listen = ""',
        f"max_concurrent_runs = {max(16, clocks)}",
        "",
    ]
    for start in range(0, clocks, per_job):
        job = f"j{start // per_job}"
        lines += [f"[jobs.{job}]", f'command = ["{TRUE}"]', ""]
        for index in range(start, min(clocks, start + per_job)):
            lines.append(f"[[jobs.{job}.clocks]]")
            lines.append(f'name = "c{index}"')
            if cron:
                lines.append(f'cron = "{cron}"')
            else:
                assert at is not None
                lines.append(f'at = ["{at.strftime("%Y-%m-%dT%H:%M:%SZ")}"]')
            lines.append("")
    return "\n".join(lines)


def clockd_lateness(clocks: int, lead: float) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(
            seconds=1
        )
        daemon = Daemon(Path(folder), clockd_config(clocks, at))
        try:
            daemon.start()
            if datetime.now(UTC) >= at:
                raise SystemExit(f"clockd took longer than {lead}s to start; raise --lead")
            deadline = time.monotonic() + lead + 120
            while time.monotonic() < deadline:
                time.sleep(0.2)
                conn = sqlite3.connect(daemon.database)
                rows = conn.execute(
                    "SELECT started_at, scheduled_time FROM runs WHERE started_at IS NOT NULL"
                ).fetchall()
                conn.close()
                if len(rows) >= clocks:
                    break
            parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
            return [
                (parse(started) - parse(scheduled)).total_seconds() for started, scheduled in rows
            ]
        finally:
            daemon.stop()


# -- raw APScheduler and the asyncio floor -------------------------------------------------------


async def _apscheduler(clocks: int, lead: float) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(seconds=1)
    results: list[float] = []
    processes = []
    done = asyncio.Event()

    async def job() -> None:
        process = await spawn_captured(TRUE)
        results.append(time.time() - at.timestamp())
        processes.append(process)
        if len(results) == clocks:
            done.set()

    scheduler = AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 10**6},
    )
    for index in range(clocks):
        scheduler.add_job(job, "date", run_date=at, id=f"c{index}")
    scheduler.start()
    await asyncio.wait_for(done.wait(), lead + 120)
    await asyncio.gather(*(p.communicate() for p in processes))
    scheduler.shutdown(wait=False)
    return results


async def _floor(clocks: int, lead: float) -> list[float]:
    loop = asyncio.get_running_loop()
    at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(seconds=1)
    fired = asyncio.Event()
    loop.call_at(loop.time() + (at.timestamp() - time.time()), fired.set)
    await fired.wait()
    results, processes = [], []
    for _ in range(clocks):
        processes.append(await spawn_captured(TRUE))
        results.append(time.time() - at.timestamp())
    await asyncio.gather(*(p.communicate() for p in processes))
    return results


# -- the table -----------------------------------------------------------------------------------


def main() -> None:
    use_pidfd_child_watcher()  # the baselines wait for children through pidfds, as clockd does
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shrink everything (about a minute)")
    parser.add_argument(
        "--clocks",
        type=int,
        nargs="*",
        default=None,
        help="simultaneous clocks (default 1 100 1000)",
    )
    parser.add_argument(
        "--idle", type=float, default=None, help="idle seconds before a single fire (default 30)"
    )
    parser.add_argument(
        "--cpu-window", type=float, default=None, help="idle CPU window in seconds (default 60)"
    )
    parser.add_argument(
        "--loaded",
        type=int,
        default=None,
        help="loaded clocks for RSS/CPU/start-up (default 10000)",
    )
    parser.add_argument(
        "--lead", type=float, default=6.0, help="seconds between start and the fire"
    )
    args = parser.parse_args()
    clocks = args.clocks or ([1, 100] if args.quick else [1, 100, 1000])
    idle = args.idle if args.idle is not None else (5 if args.quick else 30)
    window = args.cpu_window if args.cpu_window is not None else (10 if args.quick else 60)
    loaded = args.loaded if args.loaded is not None else (1000 if args.quick else 10_000)

    print(
        f"# fire → process start (/bin/true), ms; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(f"{'clocks':>7} {'engine':<12} {'p50':>8} {'p99':>8} {'max':>8} {'runs':>6}")
    for count in clocks:
        for engine, measure in (
            ("clockd", lambda c=count: clockd_lateness(c, args.lead)),
            ("apscheduler", lambda c=count: asyncio.run(_apscheduler(c, 2.0))),
            ("asyncio", lambda c=count: asyncio.run(_floor(c, 2.0))),
        ):
            values = measure()
            print(
                f"{count:>7} {engine:<12} {ms(statistics.median(values))} {ms(percentile(values, 99))} "
                f"{ms(max(values))} {len(values):>6}",
                flush=True,
            )

    single = clockd_lateness(1, idle)
    print(f"\n# single fire after {idle:.0f} s idle (clockd): {ms(single[0]).strip()} ms")

    with tempfile.TemporaryDirectory() as folder:
        daemon = Daemon(Path(folder), clockd_config(loaded, None, cron="0 0 1 1 *"))
        try:
            ready = daemon.start()
            time.sleep(2)  # settle
            cpu_before, wall_before = daemon.cpu_seconds(), time.monotonic()
            time.sleep(window)
            cpu = (daemon.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
            print(f"\n# {loaded} loaded clocks (cron '0 0 1 1 *'), clockd")
            print(f"start-up to READY=1 (first load): {ready:.2f} s")
            print(f"RSS: {daemon.rss_mib():.1f} MiB")
            print(f"idle CPU over {window:.0f} s: {cpu * 100:.2f} % of one core")
            daemon.stop()
            again = daemon.start()  # clock state rows exist now: no first-load writes
            print(f"restart to READY=1 (state exists): {again:.2f} s")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
