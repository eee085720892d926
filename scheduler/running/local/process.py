"""One child process of a run: its own process group, argv only, output captured line by line.

    limiter = LogLimiter(max_bytes=10_000_000, sink=lambda time, stream, text: ...)
    process = RunProcess(["report", "--x", "9"], env=env, cwd=workdir, log=limiter)
    await process.start()              # OSError if the program cannot be started
    exit_code = await process.wait()   # negative: killed by that signal
    process.kill_group(signal.SIGTERM) # from elsewhere: the child and all its descendants

Never a shell: argv items arrive verbatim. The child starts a new session, so its pid is its
process group id and `killpg` reaches grandchildren too. When the child exits, whatever it left
in its group is killed before the child is reaped (nothing a run started outlives it; its
zombie keeps the group id from being reused meanwhile). A child that starts in the daemon's
own working directory is started by `os.posix_spawn`, any other by `subprocess.Popen` (which
can change directory); both give it the same stdin, pipes, signals and descriptors. Output
is split on b"\\n" and decoded as UTF-8 with replacement, so binary garbage cannot break the
capture; a line longer than `MAX_LINE_BYTES` is cut into pieces.

Why this module is long: spawning, capture, the group kill at the child's exit and the open
files limit are one process's life, and they share the process' state.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from scheduler.running.local.readiness import LoopReaders, Readiness, readiness
from scheduler.running.logcap import LogCap, marker_text
from scheduler.running.runlog import LineSink, RunLog
from scheduler.timesource import SYSTEM_TIME, TimeSource

MAX_LINE_BYTES = 64 * 1024
# After the main process exits, how long descendants may keep the pipes open before the
# group is killed: the run is over when its main process is, and nothing may outlive it.
PIPE_DRAIN_GRACE = 2.0


class LogLimiter:
    """A run's lines to `sink`, capped at `max_bytes` (`scheduler/running/logcap.py`): the
    head passes at once, the tail at `finish()` after one marker line for what was dropped.

    Shared by every attempt of a run, so the cap is per run. The caller keeps draining the
    pipe past the cap, so that the child never blocks on a full pipe.
    """

    def __init__(
        self, max_bytes: int, sink: LineSink, *, time_source: TimeSource = SYSTEM_TIME
    ) -> None:
        self.max_bytes = max_bytes
        self.sink = sink
        self.now = time_source.now
        self.cap: LogCap[tuple[datetime, str, str]] = LogCap(max_bytes)

    @property
    def logged_bytes(self) -> int:
        return self.cap.logged_bytes

    @property
    def dropped_bytes(self) -> int:
        return self.cap.dropped_bytes

    @property
    def truncated(self) -> bool:
        return self.cap.truncated

    def line(self, stream: str, text: str, *, time: datetime | None = None) -> None:
        item = (time or self.now(), stream, text)
        if self.cap.offer(item, len(text.encode("utf-8", "replace")) + 1):
            self.sink(*item)

    def clockd(self, text: str) -> None:
        """A line from clockd itself (attempts, hooks, kills): never counted, never dropped."""
        item = (self.now(), "clockd", text)
        if self.cap.offer_uncounted(item):
            self.sink(*item)

    def finish(self) -> None:
        """The run ended: what waited in the tail goes out, after the marker if any was
        dropped (stamped with the time of the first line kept after the gap)."""
        middle, tail = self.cap.finish()
        for item in middle:
            self.sink(*item)
        if self.cap.truncated:
            moment = tail[0][0] if tail else self.now()
            self.sink(moment, "clockd", marker_text(self.cap.dropped_bytes))
        for item in tail:
            self.sink(*item)


def _split_point(buffer: bytes | bytearray, limit: int) -> int:
    """Where to cut an over-long line without splitting a UTF-8 sequence."""
    cut = limit
    # buffer[cut] starts the next piece; step back while it is a continuation byte.
    for _ in range(3):
        if 0 < cut < len(buffer) and 0x80 <= buffer[cut] <= 0xBF:
            cut -= 1
    return cut if cut > 0 else limit


class _Pipe:
    """One output pipe of a child, read on readiness callbacks (`scheduler.running.local.readiness`; no
    transport, no task): lines go to `emit` as they arrive, `on_close` once at end of file."""

    def __init__(
        self,
        watch: Readiness | LoopReaders,
        file: IO[bytes],
        stream: str,
        emit: Callable[[str, bytes], None],
        on_close: Callable[[], None],
    ) -> None:
        self.watch = watch
        self.file = file
        self.fd = file.fileno()
        self.stream = stream
        self.emit = emit
        self.on_close = on_close
        self.buffer = bytearray()
        self.failed = False
        self.closed = False
        os.set_blocking(self.fd, False)
        watch.add(self.fd, self._readable)

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
        self.watch.remove(self.fd)
        self.file.close()
        if self.buffer and not self.failed:
            with contextlib.suppress(Exception):
                self.emit(self.stream, bytes(self.buffer))
        self.buffer.clear()
        self.on_close()


# Descriptors the daemon holds for one running run: its stdout, its stderr and its pidfd.
DESCRIPTORS_PER_RUN = 3
# Beside the runs: the database, the API's sockets, the loop's own, hooks, log followers.
_DESCRIPTORS_BESIDE_RUNS = 256


def make_room_for_runs(runs: int) -> tuple[int, int, int]:
    """Raise the soft limit of open descriptors (towards the hard one) so that `runs`
    concurrent runs fit. systemd starts services with a soft limit of 1024, which 340 running
    runs exhaust: later ones would fail with "Too many open files". Only raised when needed,
    since runs inherit it. Returns (wanted, soft before, soft after); unlimited is -1."""
    import resource

    wanted = runs * DESCRIPTORS_PER_RUN + _DESCRIPTORS_BESIDE_RUNS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if runs <= 0 or soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted, soft, soft
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return wanted, soft, max(new, soft)


_pidfd_works: bool | None = None
_devnull: int | None = None
# Pids of the children `RunProcess` started and has not reaped yet. A subreaper
# (`scheduler.running.local.reaper`) reaps only other children: these have their own wait.
SPAWNED: set[int] = set()


def _stdin() -> int:
    """One read-only /dev/null for every child's stdin (Popen's DEVNULL opens one per spawn)."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _devnull


# What Popen's restore_signals resets in the child; Python ignores SIGPIPE, a child must not.
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)


def _may_posix_spawn(cwd: Path | str | None) -> bool:
    """`os.posix_spawn` has no working-directory action: it serves runs that start in ours."""
    if not hasattr(os, "posix_spawn"):
        return False
    try:
        return cwd is None or os.path.abspath(cwd) == os.getcwd()
    except OSError:  # our own folder was removed: Popen changes into the run's
        return False


def _executable(name: str, env: Mapping[str, str]) -> str:
    """`name` looked up as Popen looks it up: in the child's PATH, unless it has a slash.
    FileNotFoundError, or PermissionError when only files that are not executable match."""
    if os.sep in name:
        return name
    denied = False
    for folder in os.get_exec_path(env):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
        denied = denied or os.path.exists(candidate)
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _posix_spawn(argv: list[str], env: Mapping[str, str]) -> tuple[int, IO[bytes], IO[bytes]]:
    """(pid, stdout, stderr) of a child in a session of its own, started by `os.posix_spawn`.

    About a third less of the daemon's time per start than `subprocess.Popen` (whose argv,
    environment and descriptor handling are Python code): what a burst of 1,000 runs costs is
    mostly starts. The child gets what Popen gives it here: /dev/null on stdin, pipes on
    stdout and stderr, no other descriptor (every descriptor of the daemon is close-on-exec,
    `_close_inherited_descriptors`), default SIGPIPE."""
    _close_inherited_once()
    executable = _executable(argv[0], env)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        pid = os.posix_spawn(
            executable,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, _stdin(), 0),
                (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, err_write, 2),
            ],
            setsid=True,
            setsigdef=_DEFAULT_SIGNALS,
        )
    except BaseException:
        os.close(out_read)
        os.close(err_read)
        raise
    finally:
        os.close(out_write)
        os.close(err_write)
    return pid, open(out_read, "rb", buffering=0), open(err_read, "rb", buffering=0)


_inherited_closed = False


def _close_inherited_once() -> None:
    global _inherited_closed
    if not _inherited_closed:
        _close_inherited_descriptors()
        _inherited_closed = True


def prepare_spawning() -> None:
    """What the first run would set up, done ahead (at daemon start, on the loop): the first
    fire after start-up then starts as soon as later ones do."""
    _close_inherited_once()
    _stdin()
    readiness()


def _close_inherited_descriptors() -> None:
    """Make every open descriptor above stderr close-on-exec (before the first posix_spawn).

    Python opens its own so; this catches what the daemon inherited from whoever started it,
    which a run must not get."""
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in descriptors:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


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

    Built on `os.posix_spawn` or `subprocess.Popen` and readiness callbacks
    (`scheduler.running.local.readiness`) rather than asyncio's subprocess transports: starting 1,000 runs
    at once then costs the spawns and little else (benchmarks/daemon.py). The exit is seen
    through a pidfd (Linux 5.3+), else by a thread blocked in waitpid for this child only.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | str | None,
        log: RunLog,
    ) -> None:
        if not argv:
            raise ValueError("empty argv")
        self.argv = [str(item) for item in argv]
        self.env = env
        self.cwd = cwd
        self.log = log
        self.pid: int | None = None
        self.exit_code: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None  # None when posix_spawn started it
        self._exited: asyncio.Future[int] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._pipes: list[_Pipe] = []
        self._pidfd: int | None = None
        self._reaped = False
        self._watch: Readiness | LoopReaders  # set by spawn

    def spawn(self) -> None:
        """Start the child now, on the loop's thread. OSError (FileNotFoundError,
        PermissionError, NotADirectoryError for a bad `cwd`) when it cannot start."""
        loop = asyncio.get_running_loop()
        self._watch = readiness(loop)
        if _may_posix_spawn(self.cwd):
            pid, stdout, stderr = _posix_spawn(self.argv, self.env)
        else:
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
            assert popen.stdout is not None
            assert popen.stderr is not None
            self._popen, pid, stdout, stderr = popen, popen.pid, popen.stdout, popen.stderr
        self.pid = pid
        SPAWNED.add(pid)
        self._exited = loop.create_future()
        self._drained = loop.create_future()
        self._pipes = [
            _Pipe(self._watch, stdout, "stdout", self._emit, self._pipe_closed),
            _Pipe(self._watch, stderr, "stderr", self._emit, self._pipe_closed),
        ]
        pidfd = _pidfd_open(pid)
        if pidfd is not None:
            self._pidfd = pidfd
            self._watch.add(pidfd, self._pidfd_readable)
        else:
            threading.Thread(
                target=self._wait_in_thread,
                args=(loop,),
                name=f"clockd-wait-{pid}",
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

    def _pidfd_readable(self) -> None:
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is None:
            return
        self._watch.remove(pidfd)
        os.close(pidfd)
        self._has_exited()

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self._exit_code(block=True)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._has_exited, code)

    def _has_exited(self, code: int | None = None) -> None:
        assert self._exited is not None
        if code is None:
            code = self._exit_code(block=False)
        if code is None:  # cannot happen after a pidfd said so; wait rather than guess
            code = self._exit_code(block=True)
        assert code is not None
        if not self._exited.done():
            self._exited.set_result(code)

    def _exit_code(self, *, block: bool) -> int | None:
        """The child's exit code once it has exited (negative: killed by that signal), None
        while it runs. It stays a zombie (WNOWAIT) until `_reap`: its pid, and so its process
        group id, cannot be reused before `wait` has killed what is left in the group."""
        assert self.pid is not None
        flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
        info = os.waitid(os.P_PID, self.pid, flags)
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def _reap(self) -> None:
        """Reap the exited child: from now on its pid may name another process."""
        if self._reaped or self.pid is None:
            return
        self._reaped = True
        with contextlib.suppress(ChildProcessError):
            if self._popen is not None:
                self._popen.wait()
            else:
                os.waitpid(self.pid, 0)
        SPAWNED.discard(self.pid)

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
        process exited, the group is killed so the capture can end. Then whatever is left in
        the group is killed anyway (a background child that closed its output), and the main
        process is reaped.
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
        # The run is over when its main process is; its zombie still holds the group's id.
        self.kill_group(signal.SIGKILL)
        self._reap()
        self.exit_code = code
        return code

    def kill_group(self, sig: int = signal.SIGKILL) -> bool:
        """Send `sig` to the child's whole process group; False when nothing was left (also
        once the child is reaped: its id may name another group then)."""
        if self.pid is None or self._reaped:
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
