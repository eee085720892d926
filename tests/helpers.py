"""Helpers shared by the end-to-end tests: waiting, free ports, and a real `clockd serve`.

with DaemonProcess(tmp_path, CONFIG) as daemon:   # READY=1 seen on a real notify socket
    wait_until(lambda: len(daemon.runs()) >= 2, 10, "two runs")
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def clockd_argv() -> list[str]:
    candidate = Path(sys.executable).parent / "clockd"
    return [str(candidate)] if candidate.exists() else [sys.executable, "-m", "scheduler.cli"]


def wait_until(
    predicate: Callable[[], T], timeout: float, describe: str, interval: float = 0.05
) -> T:
    """Poll `predicate` until it returns something truthy; fail with `describe` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {describe} (last value: {last!r})"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NotifySocket:
    """A real AF_UNIX datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        """Every message received so far (still readable after `close`)."""
        while self.socket.fileno() != -1:
            try:
                data = self.socket.recv(65536)
            except BlockingIOError:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            fields["_received"] = repr(time.monotonic())
            self.messages.append(fields)
        return self.messages

    def having(self, key: str, value: str | None = None) -> list[dict[str, str]]:
        return [m for m in self.drain() if key in m and (value is None or m[key] == value)]

    def close(self) -> None:
        self.drain()
        self.socket.close()


class DaemonProcess:
    """`clockd serve` on a temp TOML, in its own process group, with NOTIFY_SOCKET bound in tmp.

    The config text may use `{database}` and `{listen}` placeholders; `listen = ""` by default.
    """

    def __init__(
        self,
        tmp: Path,
        config: str,
        *,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        name: str = "clockd.toml",
        open_files: int | None = None,
    ) -> None:
        self.tmp = tmp
        self.open_files = open_files  # a soft RLIMIT_NOFILE for the daemon, as systemd's 1024
        self.config_path = tmp / name
        self.database = tmp / "clockd.db"
        self.extra_env = env or {}
        self.wait_ready = wait_ready
        self.write_config(config)
        self.notify: NotifySocket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "daemon.log"

    def write_config(self, text: str) -> None:
        port = free_port()
        self.port = port
        self.config_path.write_text(
            textwrap.dedent(text)
            .replace("{database}", str(self.database))
            .replace("{port}", str(port))
        )

    def start(self) -> DaemonProcess:
        notify_path = self.tmp / f"notify-{time.monotonic_ns()}.sock"
        self.notify = NotifySocket(notify_path)
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), **self.extra_env}
        env.pop("CLOCKD_CONFIG", None)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*clockd_argv(), "serve", "-c", str(self.config_path)],
            cwd=self.tmp,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killed as a whole in stop()
            preexec_fn=self._limit_open_files if self.open_files else None,
        )
        if self.wait_ready:
            wait_until(lambda: self.notify.having("READY", "1") or self.exited(), 20, "READY=1")  # type: ignore[union-attr]
            if self.exited():
                raise AssertionError(
                    f"clockd serve exited {self.process.returncode}:\n{self.log()}"
                )
        return self

    def _limit_open_files(self) -> None:
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (the daemon and every run it started)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def stop(self) -> None:
        self.kill()
        if self.notify is not None:
            self.notify.close()
        if hasattr(self, "_log"):
            self._log.close()

    def __enter__(self) -> DaemonProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reading the real SQLite file ------------------------------------------------------

    def runs(self, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return read_runs(self.database, where, params)


def read_runs(
    database: Path, where: str = "1", params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """Run rows straight from the database file (parameters decoded), oldest first."""
    if not database.exists():
        return []
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(f"SELECT * FROM runs WHERE {where} ORDER BY id", params).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()
    result = []
    for row in rows:
        record = dict(row)
        if isinstance(record.get("parameters"), str):
            record["parameters"] = json.loads(record["parameters"])
        result.append(record)
    return result


def run_clockd(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*clockd_argv(), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def wait_until_async(predicate: Callable[[], bool], timeout: float, describe: str) -> None:
    """`wait_until` for code running on an event loop: polls without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {describe}")
        await asyncio.sleep(0.02)


def wait_for_api(daemon: DaemonProcess) -> DaemonProcess:
    """Until /healthz answers (a daemon started with wait_ready=False, or one being restarted)."""
    import httpx

    def answers() -> bool:
        try:
            return (
                httpx.get(f"http://127.0.0.1:{daemon.port}/healthz", timeout=2).status_code == 200
            )
        except httpx.TransportError:
            return False

    wait_until(answers, 15, "the HTTP API to answer")
    return daemon
