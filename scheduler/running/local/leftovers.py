"""The processes of runs whose owner died, found and killed without touching anyone else's.

A restarted daemon kills what its dead instance's runs left before it marks them `crashed`
(spec 7). A run's processes are found two ways, in one pass over /proc:

- Its process group, recorded with the `running` state: the leader's `pid` and `pid_start`
  (its start time in clock ticks since boot). The group is killed only while a process with
  that pid *and* that start time lives: a pid alone may name an unrelated process by now.
- Its marks: every process of a run carries `CLOCKD_RUN_ID` and `CLOCKD_OWNER` (the owner's
  instance, never reused) in its environment. They find what the group misses: a process
  that left the group (`setsid`), one whose leader is gone, and those of a run whose start
  was not stored yet (no pid recorded). Each is signalled through a pidfd opened and checked
  against the start time seen in the scan, so a pid reused meanwhile is left alone.

Both find the processes of runs that ended too: a process that left its group survives its
run when the daemon died before its subreaper (`reaper`) could kill it.

What still escapes: a process that left the group *and* whose environment no longer holds
the marks (it exec'd with another environment), one the daemon's user may not read or
signal, and, on kernels without pidfds (before 5.3), nothing is waited for.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scheduler.running.environment import OWNER_ENV

if TYPE_CHECKING:
    from scheduler.storage.records import RunRecord

_RUN_ID_PREFIX = b"CLOCKD_RUN_ID="
_OWNER_PREFIX = OWNER_ENV.encode() + b"="
# A victim may fork while it is killed; its child carries the marks: look again, a few times.
_PASSES = 3


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as /proc/PID/stat shows it."""

    pid: int
    ppid: int
    pgid: int
    state: str  # "R", "S", ..., "Z" for a zombie
    start: int  # clock ticks since boot

    @classmethod
    def read(cls, pid: int) -> ProcessInfo | None:
        """None when there is no such process (or it vanished while read)."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                # The command name may hold spaces and parentheses: split after its last ")".
                fields = stat.read().rsplit(b")", 1)[1].split()
            return cls(pid, int(fields[1]), int(fields[2]), fields[0].decode(), int(fields[19]))
        except (OSError, IndexError, ValueError):
            return None


def processes() -> Iterator[ProcessInfo]:
    """Every process this one can see, but itself."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            info = ProcessInfo.read(int(name))
            if info is not None:
                yield info


def run_marks(pid: int) -> tuple[str, int] | None:
    """(owner, run id) from the environment a process started with; None without both or
    when it cannot be read (another user's, a zombie, gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            data = environ.read()
    except OSError:
        return None
    if _OWNER_PREFIX not in data:  # the common case: not a run's process
        return None
    owner = run_id = None
    for item in data.split(b"\0"):
        if item.startswith(_OWNER_PREFIX):
            owner = item[len(_OWNER_PREFIX) :].decode("utf-8", "replace")
        elif item.startswith(_RUN_ID_PREFIX) and item[len(_RUN_ID_PREFIX) :].isdigit():
            run_id = int(item[len(_RUN_ID_PREFIX) :])
    return (owner, run_id) if owner and run_id is not None else None


def marked_runs(accept: Callable[[str], bool]) -> set[tuple[str, int]]:
    """(owner, run id) of the marks of every live process whose owner `accept`s: a start
    looks up which of them name runs of its own database (`scheduler.daemon.recovery`)."""
    found: set[tuple[str, int]] = set()
    for info in processes():
        if info.state != "Z" and (marks := run_marks(info.pid)) is not None and accept(marks[0]):
            found.add(marks)
    return found


@dataclass
class KillReport:
    """What `kill_leftovers` did, by run id."""

    groups: dict[int, int] = field(default_factory=dict)  # run → process group killed
    processes: dict[int, set[int]] = field(default_factory=dict)  # run → pids signalled
    # Runs with a process that could not be signalled or did not end within the wait: their
    # processes are not known to be gone (never retried).
    survivors: set[int] = field(default_factory=set)

    @property
    def killed(self) -> int:
        return sum(len(pids) for pids in self.processes.values())


def kill_leftovers(runs: Sequence[RunRecord], *, wait: float = 5.0) -> KillReport:
    """Kill the processes of `runs` (rows a dead owner left unfinished; see the module
    docstring) with SIGKILL, and wait up to `wait` seconds for them to end. Blocking: call
    it on a thread, or before the loop has anything else to do."""
    report = KillReport()
    marks: set[tuple[str | None, int]] = {(run.owner, run.id) for run in runs if run.owner}
    leaders = {run.pid: run for run in runs if run.pid and run.pid_start is not None}
    if not marks and not leaders:
        return report
    handles: dict[int, tuple[int | None, int]] = {}  # pid → (pidfd, run id)
    try:
        for _ in range(_PASSES):
            victims = _find(marks, leaders, report)
            victims = {info: run_id for info, run_id in victims.items() if info.pid not in handles}
            if not victims:
                break
            for info, run_id in victims.items():
                handle = _kill(info)
                if handle is False:
                    report.survivors.add(run_id)
                    continue
                report.processes.setdefault(run_id, set()).add(info.pid)
                handles[info.pid] = (handle, run_id)
        _wait_gone(handles, wait, report)
    finally:
        for pidfd, _ in handles.values():
            if pidfd is not None:
                os.close(pidfd)
    return report


def _find(
    marks: set[tuple[str | None, int]],
    leaders: dict[int, RunRecord],
    report: KillReport,
) -> dict[ProcessInfo, int]:
    """One pass over /proc: the live processes of the runs, by their run's id. A group whose
    leader still has its recorded start time is killed here, at once and as a whole."""
    table = [info for info in processes() if info.state != "Z"]
    victims: dict[ProcessInfo, int] = {}
    for info in table:
        run = leaders.get(info.pid)
        if run is not None and info.start == run.pid_start and info.pgid == info.pid:
            if _kill_group(info):
                report.groups[run.id] = info.pid
            else:
                report.survivors.add(run.id)
    groups = {pid: leaders[pid].id for pid in report.groups.values()}
    for info in table:
        if info.pgid in groups:  # in a verified group (killed above): waited for as well
            victims[info] = groups[info.pgid]
            continue
        found = run_marks(info.pid) if marks else None
        if found is not None and found in marks:
            victims[info] = found[1]
    return victims


def _kill_group(leader: ProcessInfo) -> bool:
    """SIGKILL to the group of `leader`, checked first through a pidfd: the pid still names
    the process that started when the run's leader did."""
    pidfd = _pidfd(leader)
    if pidfd is False:
        return True  # gone meanwhile: nothing of that group is known to be left
    try:
        os.killpg(leader.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return True


def _pidfd(info: ProcessInfo) -> int | bool | None:
    """A pidfd of the process `info` describes, opened and then checked: False when that
    process is gone (its pid names another one, or none); None without pidfd support."""
    try:
        pidfd: int | None = os.pidfd_open(info.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):
        pidfd = None
    now = ProcessInfo.read(info.pid)
    if now is None or now.start != info.start or now.state == "Z":
        if pidfd is not None:
            os.close(pidfd)
        return False
    return pidfd


def _kill(info: ProcessInfo) -> int | bool | None:
    """SIGKILL to one process: its pidfd to wait on (None without pidfd support; False when
    it could not be signalled). One that vanished meanwhile counts as killed."""
    pidfd = _pidfd(info)
    if pidfd is False:
        return None
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(info.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        if pidfd is not None:
            os.close(pidfd)
        return False
    return pidfd


def _wait_gone(handles: dict[int, tuple[int | None, int]], wait: float, report: KillReport) -> None:
    """Until every signalled process has ended (a pidfd turns readable), at most `wait` s."""
    poller = select.poll()
    left: dict[int, int] = {}
    for pidfd, run_id in handles.values():
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
            left[pidfd] = run_id
    deadline = time.monotonic() + wait
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            report.survivors.update(left.values())
            return
        for pidfd, _ in poller.poll(remaining * 1000):
            poller.unregister(pidfd)
            left.pop(pidfd, None)
