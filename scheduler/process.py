"""One child process of a run: its own process group, argv only, output captured line by line.

    limiter = LogLimiter(max_bytes=10_000_000, sink=lambda time, stream, text: ...)
    process = RunProcess(["report", "--x", "9"], env=env, cwd=workdir, log=limiter)
    await process.start()              # OSError if the program cannot be started
    exit_code = await process.wait()   # negative: killed by that signal
    process.kill_group(signal.SIGTERM) # from elsewhere: the child and all its descendants

Never a shell: argv items arrive verbatim. The child starts a new session
(`start_new_session=True`), so its pid is its process group id and `killpg` reaches
grandchildren too. Output is split on b"\\n" and decoded as UTF-8 with replacement, so binary
garbage cannot break the capture; a line longer than `MAX_LINE_BYTES` is cut into pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

MAX_LINE_BYTES = 64 * 1024
# After the main process exits, how long descendants may keep the pipes open before the
# group is killed: the run is over when its main process is, and nothing may outlive it.
PIPE_DRAIN_GRACE = 2.0

LineSink = Callable[[datetime, str, str], None]  # (time, stream, text)


def _now() -> datetime:
    return datetime.now(UTC)


class LogLimiter:
    """Passes lines to `sink` until `max_bytes` of text have gone through, then one mark line.

    Shared by every attempt of a run, so the cap is per run. Lines past the cap are counted
    and dropped; the caller keeps draining the pipe so that the child never blocks on a
    full pipe.
    """

    def __init__(self, max_bytes: int, sink: LineSink, *, now: Callable[[], datetime] = _now):
        self.max_bytes = max_bytes
        self.sink = sink
        self.now = now
        self.logged_bytes = 0
        self.dropped_bytes = 0
        self.truncated = False

    def line(self, stream: str, text: str, *, time: datetime | None = None) -> None:
        size = len(text.encode("utf-8", "replace")) + 1
        if self.truncated:
            self.dropped_bytes += size
            return
        if self.logged_bytes + size > self.max_bytes:
            self.truncated = True
            self.dropped_bytes += size
            self.sink(
                time or self.now(),
                "clockd",
                f"[clockd: log truncated after {self.logged_bytes} bytes]",
            )
            return
        self.logged_bytes += size
        self.sink(time or self.now(), stream, text)

    def clockd(self, text: str) -> None:
        """A line from clockd itself (attempts, hooks, kills): never counted, never dropped."""
        self.sink(self.now(), "clockd", text)


def _split_point(buffer: bytes | bytearray, limit: int) -> int:
    """Where to cut an over-long line without splitting a UTF-8 sequence."""
    cut = limit
    # buffer[cut] starts the next piece; step back while it is a continuation byte.
    for _ in range(3):
        if 0 < cut < len(buffer) and 0x80 <= buffer[cut] <= 0xBF:
            cut -= 1
    return cut if cut > 0 else limit


class _Pipe:
    """One output pipe of a child, read on the loop's readiness callbacks (no transport, no
    task): lines go to `emit` as they arrive, `on_close` once at end of file."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        file: IO[bytes],
        stream: str,
        emit: Callable[[str, bytes], None],
        on_close: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.file = file
        self.fd = file.fileno()
        self.stream = stream
        self.emit = emit
        self.on_close = on_close
        self.buffer = bytearray()
        self.failed = False
        self.closed = False
        os.set_blocking(self.fd, False)
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        if self.failed:
            return  # keep draining so the child never blocks on a full pipe
        self.buffer += data
        try:
            self._split()
        except Exception as error:  # never stop draining: a blocked pipe would hang the child
            self.failed = True
            self.buffer.clear()
            self.emit(
                "clockd",
                f"[clockd: capture of {self.stream} failed: {error!r}; discarding the rest]".encode(),
            )

    def _split(self) -> None:
        buffer = self.buffer
        while True:
            newline = buffer.find(b"\n")
            if newline == -1:
                if len(buffer) < MAX_LINE_BYTES:
                    return
                cut = _split_point(buffer, MAX_LINE_BYTES)
                self.emit(self.stream, bytes(buffer[:cut]))
                del buffer[:cut]
                continue
            self.emit(self.stream, bytes(buffer[:newline]))
            del buffer[: newline + 1]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.file.close()
        if self.buffer and not self.failed:
            with contextlib.suppress(Exception):
                self.emit(self.stream, bytes(self.buffer))
        self.buffer.clear()
        self.on_close()


_pidfd_works: bool | None = None
_devnull: int | None = None


def _stdin() -> int:
    """One read-only /dev/null for every child's stdin (Popen's DEVNULL opens one per spawn)."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _devnull


def _pidfd_open(pid: int) -> int | None:
    """A pidfd for `pid`, or None where the kernel has none (then a thread waits instead)."""
    global _pidfd_works
    if _pidfd_works is False or not hasattr(os, "pidfd_open"):
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        _pidfd_works = False
        return None
    _pidfd_works = True
    return fd


class RunProcess:
    """A child process in its own process group with line-by-line capture of its output.

    Built on `subprocess.Popen` and the loop's readiness callbacks rather than asyncio's
    subprocess transports: starting 1,000 runs at once then costs the spawns and little
    else (benchmarks/daemon.py). The exit is seen through a pidfd (Linux 5.3+), else by a
    thread blocked in waitpid for this child only.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | str | None,
        log: LogLimiter,
    ) -> None:
        if not argv:
            raise ValueError("empty argv")
        self.argv = [str(item) for item in argv]
        self.env = env
        self.cwd = cwd
        self.log = log
        self.pid: int | None = None
        self.exit_code: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._pipes: list[_Pipe] = []

    def spawn(self) -> None:
        """Start the child now, on the loop's thread. OSError (FileNotFoundError,
        PermissionError, NotADirectoryError for a bad `cwd`) when it cannot start."""
        loop = asyncio.get_running_loop()
        popen = subprocess.Popen(
            self.argv,
            stdin=_stdin(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            close_fds=True,
            bufsize=0,
        )
        self._popen = popen
        self.pid = popen.pid
        self._exited = loop.create_future()
        self._drained = loop.create_future()
        assert popen.stdout is not None
        assert popen.stderr is not None
        self._pipes = [
            _Pipe(loop, popen.stdout, "stdout", self._emit, self._pipe_closed),
            _Pipe(loop, popen.stderr, "stderr", self._emit, self._pipe_closed),
        ]
        pidfd = _pidfd_open(popen.pid)
        if pidfd is not None:
            loop.add_reader(pidfd, self._pidfd_readable, loop, pidfd)
        else:
            threading.Thread(
                target=self._wait_in_thread,
                args=(loop,),
                name=f"clockd-wait-{popen.pid}",
                daemon=True,
            ).start()

    async def start(self) -> None:
        """`spawn`, for callers that are coroutines anyway."""
        self.spawn()

    @property
    def exited(self) -> asyncio.Future[int]:
        """Resolves to the exit code when the main process has exited (output may still come)."""
        assert self._exited is not None, "spawn() first"
        return self._exited

    def _pidfd_readable(self, loop: asyncio.AbstractEventLoop, pidfd: int) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        self._reap()

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._popen is not None
        self._popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._reap)

    def _reap(self) -> None:
        assert self._popen is not None
        assert self._exited is not None
        code = self._popen.poll()
        if code is None:  # cannot happen after a pidfd said so; wait rather than guess
            code = self._popen.wait()
        if not self._exited.done():
            self._exited.set_result(code)

    def _pipe_closed(self) -> None:
        assert self._drained is not None
        if all(pipe.closed for pipe in self._pipes) and not self._drained.done():
            self._drained.set_result(None)

    def _emit(self, stream: str, raw: bytes) -> None:
        if stream == "clockd":
            self.log.clockd(raw.decode("utf-8", "replace"))
            return
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        self.log.line(stream, raw.decode("utf-8", "replace"))

    async def wait(self) -> int:
        """Wait for the main process and for its output to be read; returns the exit code.

        When descendants still hold the pipes `PIPE_DRAIN_GRACE` seconds after the main
        process exited, the group is killed so the capture can end.
        """
        assert self._exited is not None, "spawn() first"
        assert self._drained is not None
        code = await self._exited
        if not self._drained.done():
            done, _ = await asyncio.wait({self._drained}, timeout=PIPE_DRAIN_GRACE)
            if not done:
                self.log.clockd(
                    "[clockd: processes of the run kept its output open after it exited; "
                    "killed its process group]"
                )
                self.kill_group(signal.SIGKILL)
                await asyncio.wait({self._drained}, timeout=PIPE_DRAIN_GRACE)
        for pipe in self._pipes:
            pipe.close()
        self.exit_code = code
        return code

    def kill_group(self, sig: int = signal.SIGKILL) -> bool:
        """Send `sig` to the child's whole process group; False when nothing was left."""
        if self.pid is None:
            return False
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    @property
    def running(self) -> bool:
        return self._exited is not None and not self._exited.done()


def describe_exit(code: int) -> str:
    """`exit code 3`, or `killed by SIGTERM` for a negative code."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"
