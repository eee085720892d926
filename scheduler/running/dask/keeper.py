"""The keeper: kills a Dask worker's run process groups when that worker dies.

A worker killed with SIGKILL cannot kill its runs itself, and their process groups would
live on without anyone reading their output. So each worker process that runs clockd runs
starts one keeper, `python -m scheduler.running.dask.keeper TOKEN`, in a session of its own
(a signal to the worker's group does not reach it). The worker holds the write end of the
keeper's stdin and writes `+PID` after it starts a run's process (a session leader: its pid
is its process group) and `-PID` after that run ended. When the worker dies, however, the
kernel closes that pipe: the keeper reads end of file, sends SIGKILL to every registered
group and to the group of every process whose environment holds `CLOCKD_KEEPER=TOKEN`
(which catches a run started in the instant before its `+PID` was written), and exits.

The keeper reads its pipe every `POLL` seconds, never waiting on it: a registration is a
write into the pipe's buffer (1 MiB) that wakes nobody, where a keeper blocked in `read`
would be woken twice per run, on the machine the runs share. A dead worker's runs are
killed within `POLL`.

One keeper per worker process, not one supervisor per run: starting a Python process costs
about 20 ms, more than a short run's whole start on the cluster (benchmarks/dask_cluster.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

MARKER = "CLOCKD_KEEPER"
POLL = 0.5  # seconds between two reads of the keeper's pipe
PIPE_SIZE = 1 << 20


class Keeper:
    """The worker side: starts the keeper on first use and registers run process groups.
    Thread-safe (a worker runs tasks on several threads)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def _ensure(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is None or process.poll() is not None:
            process = subprocess.Popen(
                [sys.executable, "-m", "scheduler.running.dask.keeper", self.token],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
                bufsize=0,
            )
            assert process.stdin is not None
            with contextlib.suppress(OSError, AttributeError):  # Linux only; 64 KiB else
                fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            self._process = process
        return process

    def _write(self, text: str) -> None:
        data = text.encode()
        with self._lock:
            process = self._ensure()
            assert process.stdin is not None
            try:
                os.write(process.stdin.fileno(), data)
            except BrokenPipeError:  # the keeper was killed: start another, say it again
                self._process = None
                process = self._ensure()
                assert process.stdin is not None
                os.write(process.stdin.fileno(), data)

    def start(self) -> None:
        """Start the keeper now (before the first run's process exists)."""
        with self._lock:
            self._ensure()

    def register(self, pid: int) -> None:
        self._write(f"+{pid}\n")

    def unregister(self, pid: int) -> None:
        self._write(f"-{pid}\n")


def marked_groups(token: str) -> set[int]:
    """Process groups of the processes whose environment holds `CLOCKD_KEEPER=token`."""
    marker = f"{MARKER}={token}".encode()
    groups = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if marker not in environ.read().split(b"\0"):
                    continue
            groups.add(os.getpgid(int(name)))
        except OSError:  # gone, or not ours to read
            continue
    return groups


def kill_groups(groups: set[int]) -> None:
    for group in groups:
        if group > 1 and group != os.getpgrp():
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)


class _Stopped(Exception):
    """SIGTERM: kill what is registered, as at end of file (os.read would resume otherwise)."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


def main(token: str) -> int:
    registered: set[int] = set()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pending = b""
    os.set_blocking(0, False)
    try:
        while True:
            try:
                data = os.read(0, PIPE_SIZE)
            except BlockingIOError:
                time.sleep(POLL)
                continue
            if not data:  # end of file: the worker is gone
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line[:1] == b"+":
                    registered.add(int(line[1:]))
                elif line[:1] == b"-":
                    registered.discard(int(line[1:]))
    except (_Stopped, OSError, ValueError):
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    kill_groups(registered | marked_groups(token))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
