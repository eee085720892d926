"""Several real `clockd serve` on one real PostgreSQL database, for the cluster e2e tests.

with Cluster(tmp_path, url, JOBS, names=("a", "b", "c")) as cluster:
    cluster.daemons["a"].kill_daemon_only()
    rows = cluster.query("SELECT state, count(*) FROM runs GROUP BY state")
"""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
import threading
from pathlib import Path
from typing import Any

from tests.helpers import DaemonProcess

DAEMON_TABLE = """
[daemon]
database = "{url}"
name = "{name}"
listen = "127.0.0.1:{{port}}"
daemon_timeout = "{timeout}"
shutdown_grace = "5s"
"""


class Cluster:
    def __init__(
        self,
        tmp: Path,
        url: str,
        jobs: str,
        *,
        names: tuple[str, ...] = ("a", "b", "c"),
        timeout: str = "3s",
        wait_ready: bool = True,
        extra: dict[str, str] | None = None,
    ) -> None:
        """`extra`: more config text for some daemons, by name (a config that differs)."""
        self.url = url
        self.daemons: dict[str, DaemonProcess] = {}
        for name in names:
            folder = tmp / name
            folder.mkdir()
            text = DAEMON_TABLE.format(url=url, name=name, timeout=timeout) + textwrap.dedent(jobs)
            text += textwrap.dedent((extra or {}).get(name, ""))
            self.daemons[name] = DaemonProcess(folder, text, wait_ready=wait_ready)

    def start(self) -> Cluster:
        self._draining = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        for daemon in self.daemons.values():
            daemon.start()
        return self

    def start_together(self, *names: str) -> None:
        """Start these daemons at once (none waits for another's READY=1), then wait for each."""
        from tests.helpers import wait_until

        for name in names:
            daemon = self.daemons[name]
            waits, daemon.wait_ready = daemon.wait_ready, False
            daemon.start()
            daemon.wait_ready = waits
        for name in names:
            daemon = self.daemons[name]
            wait_until(
                lambda daemon=daemon: daemon.notify.having("READY", "1") or daemon.exited(),  # type: ignore[union-attr, misc]
                30,
                f"READY=1 from {name}",
            )
            assert not daemon.exited(), daemon.log()

    def _drain(self) -> None:
        """Read the daemons' notify sockets all along, as systemd does: a daemon sends a
        STATUS= line whenever its number of runs changes, and a datagram socket nobody reads
        holds 10 before the sender waits."""
        while not self._draining.wait(0.2):
            for daemon in self.daemons.values():
                notify = daemon.notify
                if notify is not None:
                    with contextlib.suppress(OSError, ValueError):
                        notify.drain()

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if hasattr(self, "_draining"):
            self._draining.set()
            self._drainer.join(5)
        for daemon in self.daemons.values():
            daemon.stop()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            try:
                return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
            except psycopg.errors.UndefinedTable:
                return []

    def url_of(self, name: str) -> str:
        return f"http://127.0.0.1:{self.daemons[name].port}"


def kill_daemon_only(daemon: DaemonProcess) -> None:
    """SIGKILL the daemon's process alone, as a crash would: its runs' process groups live
    on (they are their own sessions)."""
    assert daemon.process is not None
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(10)


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in command and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found
