"""The runs of an executor, pending (FIFO) and running, and which pending run may start next.

A pending run starts when a global slot is free (`max_concurrent_runs`, 0 = no limit), its
job has fewer than `max_active_runs` running (0 = no limit), and, for a run of a clock whose
job says `overlap = "queue"` or `"skip"`, no run of that clock is running. The first pending
run that may start goes first; the rest keep their order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.running.run import Run


class RunQueue:
    """Pending and running runs, by id in `active`; `idle` is set while there are none."""

    def __init__(self, max_concurrent_runs: int) -> None:
        self.max_concurrent_runs = max_concurrent_runs
        self.pending: deque[Run] = deque()
        self.active: dict[int, Run] = {}
        self.running = 0  # runs holding a slot
        self.idle = asyncio.Event()
        self.idle.set()

    def add(self, run: Run) -> None:
        """A new pending run, last in line."""
        self.active[run.id] = run
        self.pending.append(run)
        self.idle.clear()

    def active_of_clock(self, key: tuple[str, str]) -> Run | None:
        """A pending or running run of the clock `key` (job, clock), if any."""
        return next((run for run in self.active.values() if run.clock_key == key), None)

    def take_next(self) -> Run | None:
        """The first pending run that may start now, marked running; None when none may."""
        limit = self.max_concurrent_runs
        # Every backend so far runs on this machine (`uses_local_slot`). Runs of a remote one
        # take no slot (spec 9): they will wait in a line of their own, taken before this
        # check, so that a full machine never makes this scan its whole line.
        if limit > 0 and self.running >= limit:
            return None
        run = next((run for run in self.pending if self._may_start(run)), None)
        if run is not None:
            self.pending.remove(run)
            run.running = True
            self.running += 1
        return run

    def _may_start(self, run: Run) -> bool:
        job, key = run.job, run.clock_key
        if job.max_active_runs <= 0 and (key is None or job.overlap == "allow"):
            return True  # the common case, without a look at every active run
        running = [r for r in self.active.values() if r.running]
        if job.max_active_runs > 0:
            if sum(1 for r in running if r.record.job == job.name) >= job.max_active_runs:
                return False
        if key is not None and job.overlap != "allow":
            return not any(r.clock_key == key for r in running)
        return True

    def drop(self, run: Run) -> None:
        """`run` ended, or will not start: it leaves `active` and frees its slot (a pending
        one is taken out of `pending` by the caller, which knows where it stands)."""
        self.active.pop(run.id, None)
        if run.running:
            run.running = False
            self.running -= 1
        if not self.active:
            self.idle.set()

    def count(self, job: str, clock: str | None = None) -> int:
        """Pending and running runs of a job (and clock)."""
        runs = self.active.values()
        return sum(1 for r in runs if r.record.job == job and clock in (None, r.record.clock))
