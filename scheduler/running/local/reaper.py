"""The daemon as a subreaper: processes that left their run's group still end with their run.

A run's group is killed when its leader exits (`RunProcess.wait`), which misses a process
that left the group with `setsid` (a double-forked daemon). With `PR_SET_CHILD_SUBREAPER`,
such a process, once its parent is gone, becomes a child of the daemon instead of init's,
and `Subreaper.sweep` (once per loop wake, about a second) finds it among the daemon's
children:

- a child `RunProcess` started (`SPAWNED`) is never touched: it has its own wait (a pidfd, or
  `waitpid` of that pid), and reaping it here, as `waitpid(-1)` would, steals its exit status;
- any other child that is a zombie is reaped, by its pid;
- a live one whose marks (`CLOCKD_OWNER`, `CLOCKD_RUN_ID`, see `leftovers`) name a run of
  this daemon that is no longer active is killed, with the group it leads; one of a run
  still active is left until that run ends;
- a live one without this daemon's marks is left alone (a child the daemon was started
  with, a process that exec'd with another environment).

It is a child of ours until reaped, so its pid cannot name another process meanwhile.
What it cannot catch: an escaped process whose parent (also escaped, also marked) is still
alive; it becomes ours, and is killed, once that parent has been.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
from collections.abc import Callable

from scheduler.running.local.leftovers import ProcessInfo, processes, run_marks
from scheduler.running.local.process import SPAWNED

log = logging.getLogger("clockd.executor")

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants; False where it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children() -> set[int]:
    """This process's children, from each thread's /proc list (an orphan is reparented to
    any thread of ours); a scan of every process's parent where the kernel has no list."""
    me = os.getpid()
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{task}/children", "rb") as listed:
                found.update(int(pid) for pid in listed.read().split())
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN, or a thread gone
        found.update(info.pid for info in processes() if info.ppid == me)
    return found


class Subreaper:
    """Sweeps the children of the daemon (module docstring). `owner`: this daemon's owner;
    `is_active(run_id)`: whether the executor still holds that run."""

    def __init__(self, owner: str, is_active: Callable[[int], bool]) -> None:
        self.owner = owner
        self.is_active = is_active
        self._marks: dict[tuple[int, int], int | None] = {}  # (pid, start) → run id or None

    def sweep(self) -> tuple[int, int]:
        """One look at the children: (zombies reaped, processes killed)."""
        reaped = killed = 0
        seen: set[tuple[int, int]] = set()
        for pid in children() - SPAWNED:
            info = ProcessInfo.read(pid)
            if info is None:
                continue
            if info.state == "Z":
                reaped += self._reap(pid)
                continue
            key = (pid, info.start)
            seen.add(key)
            if key not in self._marks:  # its environment is read once
                marks = run_marks(pid)
                self._marks[key] = marks[1] if marks and marks[0] == self.owner else None
            run_id = self._marks[key]
            if run_id is not None and not self.is_active(run_id):
                killed += self._kill(info, run_id)
        self._marks = {key: run for key, run in self._marks.items() if key in seen}
        return reaped, killed

    @staticmethod
    def _reap(pid: int) -> int:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        return 1 if done else 0

    @staticmethod
    def _kill(info: ProcessInfo, run_id: int) -> int:
        try:
            if info.pgid == info.pid:  # it leads a group of its own: its group goes too
                os.killpg(info.pid, signal.SIGKILL)
            else:
                os.kill(info.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return 0
        log.info("killed a process left by a finished run pid=%d run_id=%d", info.pid, run_id)
        return 1


def start_subreaper(owner: str, is_active: Callable[[int], bool]) -> Subreaper | None:
    """This process as a subreaper for the runs of `owner`; None (and a warning) where the
    kernel refuses."""
    if not become_subreaper():
        log.warning("cannot become a subreaper: processes that leave a run's group may outlive it")
        return None
    return Subreaper(owner, is_active)
