"""A run's process on a Dask worker: started in a session of its own, read, reaped, killed;
and what the worker process prepares once for all its runs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

_prepared = threading.Lock()
_descriptors_closed = False
_environ_snapshot: dict[str, str] | None = None

# What Popen's restore_signals resets in a child; a Dask worker ignores SIGPIPE.
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)


def spawn(
    argv: list[str], env: Mapping[str, str], workdir: Path | None
) -> tuple[int, int, int, subprocess.Popen[bytes] | None]:
    """(pid, stdout fd, stderr fd, Popen or None) of a child in a session of its own: by
    `os.posix_spawn` in the worker's own folder (cheaper), else by Popen, which can change
    into `workdir`."""
    if workdir is None or os.path.abspath(workdir) == os.getcwd():
        executable = argv[0] if os.sep in argv[0] else shutil.which(argv[0], path=env.get("PATH"))
        if executable is None:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = os.posix_spawn(
                executable,
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0),
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
            os.close(null)
        return pid, out_read, err_read, None
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=workdir,
        start_new_session=True,
        close_fds=True,
        bufsize=0,
    )
    assert popen.stdout is not None
    assert popen.stderr is not None
    out, err = os.dup(popen.stdout.fileno()), os.dup(popen.stderr.fileno())
    popen.stdout.close()
    popen.stderr.close()
    return popen.pid, out, err, popen


def read_pipe(fd: int) -> bytes | None:
    """What the pipe holds (b"" at its end), or None when nothing is there after all."""
    try:
        return os.read(fd, 65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def reap(pid: int, popen: subprocess.Popen[bytes] | None, *, block: bool) -> int | None:
    if popen is not None:
        return popen.wait() if block else popen.poll()
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


def killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def worker_environ() -> dict[str, str]:
    """This worker's environment, read once: runs start from it (a plain dict copies ten
    times faster than `os.environ`, which decodes every entry each time)."""
    global _environ_snapshot
    if _environ_snapshot is None:
        _environ_snapshot = dict(os.environ)
    return _environ_snapshot


def close_inherited_descriptors() -> None:
    """Once per worker process: make inherited descriptors close-on-exec (a run must not
    get the worker's sockets or log files)."""
    global _descriptors_closed
    with _prepared:
        if _descriptors_closed:
            return
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.set_inheritable(fd, False)
        _descriptors_closed = True
