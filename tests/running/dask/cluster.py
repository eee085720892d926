"""A real Dask cluster on 127.0.0.1 for the tests: `dask scheduler` and `dask worker` processes.

    cluster = DaskCluster(tmp_path).start(workers=("w1", "w2"))
    cluster.address                     # "tcp://127.0.0.1:PORT"
    cluster.add_worker("gpu", resources="GPU=1")
    cluster.kill_worker("w1")           # SIGKILL, as a crash would
    cluster.stop()

The CLIs are those of the `distributed` installed beside clockd, so workers import clockd's
task. Workers run with `--nthreads 1 --no-nanny` (the worker's pid is the process a test
kills) and `--no-dashboard`, each in a session of its own, in `cwd` (the repository root:
`tests.targets` is importable from a run there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.helpers import ROOT, free_port, wait_until

DASK = str(Path(sys.executable).parent / "dask")


class DaskCluster:
    def __init__(self, tmp: Path, *, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.env = {**os.environ, **(env or {})}
        self.env.pop("CLOCKD_CONFIG", None)
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"dask-{name}.log", "ab") as log:  # the child keeps its own copy
            return subprocess.Popen(
                argv,
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        path = self.tmp / f"dask-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_scheduler(self, *, without_clockd: bool = False) -> DaskCluster:
        """The scheduler; `without_clockd`: in an interpreter that has `distributed` but not
        clockd (site-packages on its path, its .pth files, clockd's editable install among
        them, not read; started outside the repository, which `-m` would put on its path)."""
        argv, env, cwd = [DASK, "scheduler"], None, ROOT
        if without_clockd:
            argv = [sys.executable, "-S", "-m", "distributed.cli.dask_scheduler"]
            env, cwd = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}, self.tmp
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"]
        self.scheduler = self._spawn("scheduler", argv, env, cwd)
        wait_until(
            lambda: "Scheduler at:" in self.log("scheduler") or self.scheduler.poll() is not None,  # type: ignore[union-attr]
            60,
            "the Dask scheduler to listen",
        )
        assert self.scheduler.poll() is None, self.log("scheduler")
        return self

    def start(self, workers: tuple[str, ...] = ("w1", "w2")) -> DaskCluster:
        self.start_scheduler()
        for name in workers:
            self.add_worker(name, wait=False)
        for name in workers:
            self.wait_registered(name)
        return self

    def add_worker(self, name: str, *, resources: str | None = None, wait: bool = True) -> int:
        argv = [DASK, "worker", self.address, "--name", name, "--nthreads", "1"]
        argv += ["--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
        if resources:
            argv += ["--resources", resources]
        self.workers[name] = self._spawn(name, argv)
        if wait:
            self.wait_registered(name)
        return self.workers[name].pid

    def wait_registered(self, name: str) -> None:
        worker = self.workers[name]
        wait_until(
            lambda: (
                any(
                    "Register worker" in line and line.endswith(f"name: {name}")
                    for line in self.log("scheduler").splitlines()
                )
                or worker.poll() is not None
            ),
            60,
            f"Dask worker {name} to register",
        )
        assert worker.poll() is None, self.log(name)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker process, as a crash would (its runs' processes stay to the
        keeper)."""
        worker = self.workers.pop(name)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def stop_worker(self, name: str) -> None:
        worker = self.workers.pop(name, None)
        if worker is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)

    def stop_scheduler(self) -> None:
        if self.scheduler is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait(10)
        self.scheduler = None

    def stop(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name)
        self.stop_scheduler()
