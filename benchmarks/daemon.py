"""Daemon benchmarks: fire-to-process-start lateness, idle cost, start-up with many clocks.

    .venv/bin/python benchmarks/daemon.py                  # everything, about 10 minutes
    .venv/bin/python benchmarks/daemon.py --quick          # smaller: 1/100 clocks, 5 s idle, 1,000 loaded clocks

Lateness = process start − scheduled instant, for N clocks due at the same second, each
starting the same child: `/bin/true`, and `python -S -c pass` (a child that takes real CPU
while later ones are still being started). All three engines measure the same point, when
the process exists (the spawn returned), and spawn the way a scheduler that keeps logs must:
stdout and stderr on pipes that are read, in a session of its own (so a timeout can kill the
group), with the same child watcher (pidfd on Linux, as clockd and Python 3.12+ use), and
with the environment a clockd run gets (the runner's own plus the `CLOCKD_*` variables):
- clockd: a real `clockd serve`; start = the run's `started_at`, which the executor records
  right after the spawn returned;
- raw APScheduler 3.11: AsyncIOScheduler, N DateTrigger jobs whose coroutine starts the
  process;
- bare asyncio: one `loop.call_at`, then N spawns in a row (the floor).
The machine is shared and a burst of 1,000 spawns is CPU-bound on 2 cores, so one trial of
an engine can be 1.5x another trial of the same engine. Each row therefore runs the three
engines in turn `--repeat` times and prints the median of the trials' p50 and p99, and the
spread (min–max) of the p99s; the ratios compare those medians.
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
CHILDREN = {"true": [TRUE], "python": [sys.executable, "-S", "-c", "pass"]}


def run_env(index: int, at: datetime) -> dict[str, str]:
    """The environment a clockd run gets (spec 3), built per run as clockd builds it: the
    baselines start the same process, environment included, not a cheaper one that inherits."""
    return {
        **os.environ,
        "CLOCKD_PARAMETERS": "{}",
        "CLOCKD_RUN_ID": str(index + 1),
        "CLOCKD_JOB": f"j{index // 100}",
        "CLOCKD_CLOCK": f"c{index}",
        "CLOCKD_SCHEDULED_TIME": at.isoformat(),
        "CLOCKD_TOKEN": "x" * 43,
    }


async def spawn_captured(argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start a process as clockd does: output on pipes, its own session."""
    return await asyncio.create_subprocess_exec(
        *argv,
        env=env,
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
    clocks: int,
    at: datetime | None,
    *,
    per_job: int = 100,
    cron: str | None = None,
    child: list[str] | None = None,
) -> str:
    command = ", ".join(f'"{item}"' for item in (child or [TRUE]))
    lines = [
        "[daemon]",
        'database = "clockd.db"',
        'listen = ""',
        f"max_concurrent_runs = {max(16, clocks)}",
        "",
    ]
    for start in range(0, clocks, per_job):
        job = f"j{start // per_job}"
        lines += [f"[jobs.{job}]", f"command = [{command}]", ""]
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


def clockd_lateness(clocks: int, lead: float, child: list[str] | None = None) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(
            seconds=1
        )
        daemon = Daemon(Path(folder), clockd_config(clocks, at, child=child))
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


async def _apscheduler(clocks: int, lead: float, child: list[str]) -> list[float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(seconds=1)
    results: list[float] = []
    processes = []
    done = asyncio.Event()

    async def job(index: int) -> None:
        process = await spawn_captured(child, run_env(index, at))
        results.append(time.time() - at.timestamp())
        processes.append(process)
        if len(results) == clocks:
            done.set()

    scheduler = AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 10**6},
    )
    for index in range(clocks):
        scheduler.add_job(job, "date", run_date=at, id=f"c{index}", args=[index])
    scheduler.start()
    await asyncio.wait_for(done.wait(), lead + 120)
    await asyncio.gather(*(p.communicate() for p in processes))
    scheduler.shutdown(wait=False)
    return results


async def _floor(clocks: int, lead: float, child: list[str]) -> list[float]:
    loop = asyncio.get_running_loop()
    at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(seconds=1)
    fired = asyncio.Event()
    loop.call_at(loop.time() + (at.timestamp() - time.time()), fired.set)
    await fired.wait()
    results, processes = [], []
    for index in range(clocks):
        processes.append(await spawn_captured(child, run_env(index, at)))
        results.append(time.time() - at.timestamp())
    await asyncio.gather(*(p.communicate() for p in processes))
    return results


# -- the table -----------------------------------------------------------------------------------


def trial(engine: str, count: int, child: list[str], lead: float) -> list[float]:
    if engine == "clockd":
        return clockd_lateness(count, lead, child)
    if engine == "apscheduler":
        return asyncio.run(_apscheduler(count, 2.0, child))
    return asyncio.run(_floor(count, 2.0, child))


ENGINES = ("clockd", "apscheduler", "asyncio")


def lateness_rows(counts: list[int], children: list[str], repeat: int, lead: float) -> None:
    print(
        f"# fire → process start, ms: median over {repeat} trials of each trial's p50 and p99 "
        f"(min–max of the p99s); {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(
        "# ratios: of the medians, and [in brackets] the median of each round's own ratio (the"
        " engines of one round run back to back, so a drift of the machine cancels out)"
    )
    print(
        f"{'child':<7} {'clocks':>6} {'engine':<12} {'p50':>8} {'p99':>8} {'p99 min–max':>17}"
        f" {'p99 / apscheduler':>18} {'p99 / asyncio':>14}"
    )
    for kind in children:
        for count in counts:
            trials: dict[str, list[tuple[float, float]]] = {engine: [] for engine in ENGINES}
            for _ in range(repeat):  # engines in turn, so drifts of the machine hit them alike
                for engine in ENGINES:
                    values = trial(engine, count, CHILDREN[kind], lead)
                    if len(values) != count:
                        raise SystemExit(f"{engine}: {len(values)} of {count} runs started")
                    trials[engine].append((statistics.median(values), percentile(values, 99)))
            p99 = {e: statistics.median(t[1] for t in trials[e]) for e in ENGINES}
            for engine in ENGINES:
                p50 = statistics.median(t[0] for t in trials[engine])
                spread = [t[1] for t in trials[engine]]
                ratios = (
                    f" {_ratios(trials, p99, 'apscheduler'):>18} {_ratios(trials, p99, 'asyncio'):>14}"
                    if engine == "clockd"
                    else ""
                )
                print(
                    f"{kind:<7} {count:>6} {engine:<12} {ms(p50)} {ms(p99[engine])} "
                    f"{ms(min(spread)).strip():>8}–{ms(max(spread)).strip():<8}{ratios}",
                    flush=True,
                )


def _ratios(
    trials: dict[str, list[tuple[float, float]]], p99: dict[str, float], baseline: str
) -> str:
    """clockd's p99 over `baseline`'s: of the medians, and [the median of the rounds' ratios]."""
    paired = statistics.median(
        ours[1] / theirs[1] for ours, theirs in zip(trials["clockd"], trials[baseline], strict=True)
    )
    return f"{p99['clockd'] / p99[baseline]:.2f} [{paired:.2f}]"


def idle_fires(fires: int, idle: float) -> list[float]:
    """One clock whose fires are `idle` seconds apart: the lateness of each, after idling."""
    with tempfile.TemporaryDirectory() as folder:
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=idle + 1)
        times = [first + timedelta(seconds=idle * k) for k in range(fires)]
        config = clockd_config(1, first).replace(
            f'at = ["{first.strftime("%Y-%m-%dT%H:%M:%SZ")}"]',
            "at = [" + ", ".join(f'"{t.strftime("%Y-%m-%dT%H:%M:%SZ")}"' for t in times) + "]",
        )
        daemon = Daemon(Path(folder), config)
        try:
            daemon.start()
            time.sleep(max(0.0, (times[-1] - datetime.now(UTC)).total_seconds()) + 1.0)
            conn = sqlite3.connect(daemon.database)
            rows = conn.execute(
                "SELECT started_at, scheduled_time FROM runs WHERE started_at IS NOT NULL"
            ).fetchall()
            conn.close()
        finally:
            daemon.stop()
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return [(parse(started) - parse(scheduled)).total_seconds() for started, scheduled in rows]


def loaded_daemon(loaded: int, window: float) -> None:
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
    seconds, rss = plain_apscheduler_start(loaded)
    print(
        f"baseline, plain APScheduler with {loaded} cron jobs (exec → started): {seconds:.2f} s, "
        f"RSS {rss:.1f} MiB; clockd's first load / that: {ready / seconds:.2f}"
    )


_PLAIN_APSCHEDULER = """
import asyncio, sys
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

def job():
    pass

async def main():
    scheduler = AsyncIOScheduler(timezone="UTC")
    for index in range(int(sys.argv[1])):
        scheduler.add_job(job, CronTrigger.from_crontab("0 0 1 1 *", timezone="UTC"), id=f"c{index}")
    scheduler.start()
    status = open("/proc/self/status").read().split("VmRSS:")[1].split()[0]
    print(int(status) / 1024, flush=True)
    scheduler.shutdown(wait=False)

asyncio.run(main())
"""


def plain_apscheduler_start(jobs: int) -> tuple[float, float]:
    """The baseline of start-up: a process that adds `jobs` plain cron jobs to APScheduler
    3.11 and starts it (seconds from exec, RSS in MiB)."""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", _PLAIN_APSCHEDULER, str(jobs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - started, float(out.stdout.split()[0])


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
        "--child",
        choices=[*CHILDREN, "both"],
        default="both",
        help="what each run starts: /bin/true, python -S -c pass, or both (default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="trials per row and engine (default 3)"
    )
    parser.add_argument(
        "--idle", type=float, default=None, help="idle seconds before each single fire (default 30)"
    )
    parser.add_argument(
        "--idle-fires", type=int, default=None, help="single fires after idling (default 5)"
    )
    parser.add_argument(
        "--cpu-window", type=float, default=None, help="idle CPU window in seconds (default 60)"
    )
    parser.add_argument(
        "--loaded",
        type=int,
        default=None,
        help="loaded clocks for RSS/CPU/start-up (default 10000; 0 skips)",
    )
    parser.add_argument(
        "--lead", type=float, default=4.0, help="seconds between clockd's start and the fire"
    )
    args = parser.parse_args()
    clocks = (
        args.clocks if args.clocks is not None else ([1, 100] if args.quick else [1, 100, 1000])
    )
    children = list(CHILDREN) if args.child == "both" else [args.child]
    repeat = args.repeat or (1 if args.quick else 3)
    idle = args.idle if args.idle is not None else (5 if args.quick else 30)
    idle_count = args.idle_fires if args.idle_fires is not None else (2 if args.quick else 5)
    window = args.cpu_window if args.cpu_window is not None else (10 if args.quick else 60)
    loaded = args.loaded if args.loaded is not None else (1000 if args.quick else 10_000)

    if clocks:
        lateness_rows(clocks, children, repeat, args.lead)
    if idle_count:
        single = idle_fires(idle_count, idle)
        print(
            f"\n# {len(single)} single fires, each after {idle:.0f} s idle (clockd, /bin/true): "
            f"p50 {ms(statistics.median(single)).strip()} ms, "
            f"p99 {ms(percentile(single, 99)).strip()} ms, max {ms(max(single)).strip()} ms"
        )
    if loaded:
        loaded_daemon(loaded, window)


if __name__ == "__main__":
    main()
