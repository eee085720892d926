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
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

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


class _Capture(asyncio.SubprocessProtocol):
    """The child's pipes, as callbacks: lines go to the log as they arrive, and two futures
    tell when the process exited and when both pipes closed. No reader tasks, no polling."""

    def __init__(self, emit: Callable[[str, bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.emit = emit
        self.transport: asyncio.SubprocessTransport | None = None
        self.buffers = {1: bytearray(), 2: bytearray()}
        self.failed: set[int] = set()
        self.open_pipes = {1, 2}
        self.exited: asyncio.Future[int] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd in self.failed:
            return  # keep draining so the child never blocks on a full pipe
        buffer = self.buffers[fd]
        buffer += data
        try:
            while True:
                newline = buffer.find(b"\n")
                if newline == -1:
                    if len(buffer) < MAX_LINE_BYTES:
                        return
                    cut = _split_point(buffer, MAX_LINE_BYTES)
                    self.emit(_STREAMS[fd], bytes(buffer[:cut]))
                    del buffer[:cut]
                    continue
                self.emit(_STREAMS[fd], bytes(buffer[:newline]))
                del buffer[: newline + 1]
        except Exception as error:  # never stop draining: a blocked pipe would hang the child
            self.failed.add(fd)
            buffer.clear()
            self.emit(
                "clockd",
                f"[clockd: capture of {_STREAMS[fd]} failed: {error!r}; discarding the rest]".encode(),
            )

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd not in self.open_pipes:
            return
        buffer = self.buffers[fd]
        if buffer and fd not in self.failed:
            with contextlib.suppress(Exception):
                self.emit(_STREAMS[fd], bytes(buffer))
        buffer.clear()
        self.open_pipes.discard(fd)
        if not self.open_pipes and not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        assert self.transport is not None
        code = self.transport.get_returncode()
        if not self.exited.done() and code is not None:
            self.exited.set_result(code)


_STREAMS = {1: "stdout", 2: "stderr"}


class RunProcess:
    """A child process in its own process group with line-by-line capture of its output."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | str | None,
        log: LogLimiter,
        stdin: bytes | None = None,
    ) -> None:
        if not argv:
            raise ValueError("empty argv")
        self.argv = [str(item) for item in argv]
        self.env = dict(env)
        self.cwd = cwd
        self.log = log
        self.stdin = stdin
        self.pid: int | None = None
        self.exit_code: int | None = None
        self._capture: _Capture | None = None

    async def start(self) -> None:
        """Spawn the child. Raises OSError (FileNotFoundError, PermissionError) on failure."""
        loop = asyncio.get_running_loop()
        transport, capture = await loop.subprocess_exec(
            lambda: _Capture(self._emit),
            *self.argv,
            stdin=asyncio.subprocess.PIPE if self.stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            close_fds=True,
        )
        self._capture = capture
        self.pid = transport.get_pid()
        if self.stdin is not None:
            pipe = transport.get_pipe_transport(0)
            assert isinstance(pipe, asyncio.WriteTransport)
            with contextlib.suppress(ConnectionError):
                pipe.write(self.stdin)
            pipe.close()

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
        capture = self._capture
        assert capture is not None, "start() first"
        assert capture.transport is not None
        code = await capture.exited
        drained = asyncio.shield(capture.drained)
        try:
            await asyncio.wait_for(drained, PIPE_DRAIN_GRACE)
        except TimeoutError:
            self.log.clockd(
                "[clockd: processes of the run kept its output open after it exited; "
                "killed its process group]"
            )
            self.kill_group(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(capture.drained), PIPE_DRAIN_GRACE)
        capture.transport.close()
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
        return self._capture is not None and not self._capture.exited.done()


def describe_exit(code: int) -> str:
    """`exit code 3`, or `killed by SIGTERM` for a negative code."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"


def use_pidfd_child_watcher() -> bool:
    """Wait for children through pidfds instead of a thread per child (Python 3.11's default).

    Python 3.12 does this by default; on 3.11 it makes starting 1,000 runs at once markedly
    cheaper. Call before the event loop starts. False where the kernel has no pidfd_open.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    return True
