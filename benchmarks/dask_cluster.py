"""Runs on a Dask cluster: clockd's Dask backend against raw `client.submit` (the floor) and
against clockd's local backend, in one run.

    .venv/bin/python benchmarks/dask_cluster.py             # 1,000 runs, 3 trials each
    .venv/bin/python benchmarks/dask_cluster.py --runs 200 --repeat 1
    .venv/bin/python benchmarks/dask_cluster.py --no-pin    # everything on every CPU

The cluster is real and local: `dask scheduler` and two `dask worker --nthreads 1` on
127.0.0.1. N clocks are due at the same second, each run starting `/bin/true`:
- clockd dask: a real `clockd serve` whose jobs run on the cluster; start = the run's
  `started_at` (the daemon has heard "started" from the worker), end = its `ended_at`;
- raw dask: at the same kind of instant, one asyncio client submits N tasks, each starting
  `/bin/true` as clockd's task does (posix_spawn in a session of its own, the worker's
  environment plus `CLOCKD_*`, stdout and stderr on pipes that are read, waited for);
  start = when the spawn returned on the worker, end = when the last result arrived;
- clockd local: the same daemon config on the local executor (a reference: not bounded by
  two worker threads).
Fire → start is start − the scheduled instant; throughput is N / (last end − instant). The
engines take turns (`--repeat` trials each); the table shows the medians.

The cluster (scheduler, workers and the runs they start) is pinned to one half of the CPUs
and the daemon, or the raw client, to the other, as on a daemon's machine beside a cluster:
what is compared is the work each puts on the cluster. The local engine runs its processes
on the daemon's half. `--no-pin` lets every process use every CPU (on two cores the daemon's
own work then slows the cluster down too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TRUE = "/bin/true"


def floor_task(index: int, scheduled: float) -> tuple[float, float]:
    """On a worker: start /bin/true as clockd's task does; (spawn returned, scheduled)."""
    env = {
        **os.environ,
        "CLOCKD_PARAMETERS": "{}",
        "CLOCKD_RUN_ID": str(index + 1),
        "CLOCKD_JOB": f"j{index // 100}",
        "CLOCKD_CLOCK": f"c{index}",
        "CLOCKD_SCHEDULED_TIME": datetime.fromtimestamp(scheduled, UTC).isoformat(),
    }
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    pid = os.posix_spawn(
        TRUE,
        [TRUE],
        env,
        file_actions=[(os.POSIX_SPAWN_DUP2, out_write, 1), (os.POSIX_SPAWN_DUP2, err_write, 2)],
        setsid=True,
        setsigdef=(signal.SIGPIPE,),
    )
    started = time.time()
    os.close(out_write)
    os.close(err_write)
    for fd in (out_read, err_read):
        while os.read(fd, 65536):
            pass
        os.close(fd)
    os.waitpid(pid, 0)
    return started, scheduled


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, folder: Path, cpus: set[int] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        self.processes = []
        log = open(folder / "dask.log", "ab")
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-dashboard",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        time.sleep(2)
        for name in ("w1", "w2"):
            self.processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "dask"),
                        "worker",
                        self.address,
                        "--name",
                        name,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        if cpus:
            for process in self.processes:
                os.sched_setaffinity(process.pid, cpus)
        asyncio.run(self._wait_workers())

    async def _wait_workers(self) -> None:
        from distributed import Client

        async with Client(self.address, asynchronous=True) as client:
            await client.wait_for_workers(2, timeout=60)

    def stop(self) -> None:
        for process in reversed(self.processes):
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def instant(lead: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(
        seconds=1
    )


# -- raw dask ------------------------------------------------------------------------------------


async def _raw(address: str, runs: int, lead: float) -> tuple[list[float], float]:
    from dask_cluster import floor_task  # as the workers import it: by reference
    from distributed import Client

    async with Client(address, asynchronous=True) as client:
        at = instant(lead).timestamp()
        await asyncio.sleep(at - time.time())
        futures = [client.submit(floor_task, i, at, pure=False) for i in range(runs)]
        results = await client.gather(futures)
        ended = time.time()
    return [started - scheduled for started, scheduled in results], runs / (ended - at)


# -- clockd --------------------------------------------------------------------------------------


def clockd_config(runs: int, at: datetime, executor: str, address: str) -> str:
    lines = [
        "[daemon]",
        'database = "clockd.db"',
        'listen = ""',
        f"max_concurrent_runs = {runs}",
        f'executor = "{executor}"',
        "",
        "[executors.cluster]",
        f'dask = "{address}"',
        "",
    ]
    for start in range(0, runs, 100):
        job = f"j{start // 100}"
        lines += [f"[jobs.{job}]", f'command = ["{TRUE}"]', ""]
        for index in range(start, min(runs, start + 100)):
            stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            lines += [f"[[jobs.{job}.clocks]]", f'name = "c{index}"', f'at = ["{stamp}"]', ""]
    return "\n".join(lines)


def _clockd(executor: str, address: str, runs: int, lead: float) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        at = instant(lead)
        (folder / "clockd.toml").write_text(clockd_config(runs, at, executor, address))
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(folder / "notify.sock"))
        notify.settimeout(120)
        with open(folder / "daemon.log", "wb") as log:
            daemon = subprocess.Popen(
                [str(BIN / "clockd"), "serve", "-c", "clockd.toml"],
                cwd=folder,
                env={**os.environ, "NOTIFY_SOCKET": str(folder / "notify.sock")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            while b"READY=1" not in notify.recv(4096):
                pass
            if datetime.now(UTC) >= at:
                raise SystemExit(f"clockd took longer than {lead}s to start; raise --lead")
            rows: list[tuple[str, str, str]] = []
            deadline = time.monotonic() + lead + 300
            while time.monotonic() < deadline and len(rows) < runs:
                time.sleep(0.5)
                with sqlite3.connect(folder / "clockd.db") as conn:
                    rows = conn.execute(
                        "SELECT started_at, ended_at, scheduled_time FROM runs "
                        "WHERE state = 'succeeded'"
                    ).fetchall()
            if len(rows) < runs:
                raise SystemExit(f"clockd ({executor}): only {len(rows)} of {runs} runs succeeded")
        finally:
            daemon.terminate()
            daemon.wait(60)
            notify.close()

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    late = [(parse(s) - parse(at_text)).total_seconds() for s, _, at_text in rows]
    last = max(parse(e) for _, e, _ in rows)
    return late, runs / (last - at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lead", type=float, default=6.0)
    parser.add_argument("--no-pin", action="store_true", help="no CPU halves (see above)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    cluster_cpus = None
    if not args.no_pin and len(cpus) >= 2:
        # The daemon or raw client (started from here) on the first half, the cluster on
        # the rest.
        cluster_cpus = set(cpus[len(cpus) // 2 :])
        os.sched_setaffinity(0, set(cpus[: len(cpus) // 2]))
    with tempfile.TemporaryDirectory() as name:
        cluster = Cluster(Path(name), cluster_cpus)
        try:
            engines = {
                "clockd dask": lambda: _clockd("cluster", cluster.address, args.runs, args.lead),
                "raw dask": lambda: asyncio.run(_raw(cluster.address, args.runs, args.lead)),
                "clockd local": lambda: _clockd("local", cluster.address, args.runs, args.lead),
            }
            trials: dict[str, list[tuple[float, float, float]]] = {e: [] for e in engines}
            # Not counted: the workers import clockd's task and the test function once.
            _clockd("cluster", cluster.address, 50, args.lead)
            asyncio.run(_raw(cluster.address, 50, args.lead))
            for _ in range(args.repeat):
                for engine, measure in engines.items():
                    late, rate = measure()
                    trials[engine].append((percentile(late, 0.5), percentile(late, 0.99), rate))
                    print(
                        f"  {engine}: p50 {trials[engine][-1][0] * 1000:.0f} ms, "
                        f"p99 {trials[engine][-1][1] * 1000:.0f} ms, {rate:.0f} runs/s",
                        file=sys.stderr,
                    )
        finally:
            cluster.stop()
    placement = (
        f"cluster on CPUs {sorted(cluster_cpus)}, daemon or client on the others"
        if cluster_cpus
        else "every process on every CPU"
    )
    print(
        f"\n{args.runs} runs of /bin/true, two workers with one thread each, median of "
        f"{args.repeat} trials, {placement}\n"
    )
    print("| engine | fire → start p50 | p99 | throughput | vs raw dask (p99, throughput) |")
    print("|---|---:|---:|---:|---:|")
    floor = [statistics.median(t[i] for t in trials["raw dask"]) for i in range(3)]
    for engine, values in trials.items():
        p50, p99, rate = (statistics.median(t[i] for t in values) for i in range(3))
        print(
            f"| {engine} | {p50 * 1000:,.0f} ms | {p99 * 1000:,.0f} ms | {rate:,.0f} runs/s | "
            f"{p99 / floor[1]:.2f}× / {floor[2] / rate:.2f}× |"
        )


if __name__ == "__main__":
    main()
