"""The runs of an executor, pending (FIFO) and running, and which pending run may start next.

A pending run starts when a global slot is free (`max_concurrent_runs`, 0 = no limit), its
job has fewer than `max_active_runs` running (0 = no limit), and, for a run of a clock whose
job says `overlap = "queue"` or `"skip"`, no run of that clock is running. The first pending
run that may start goes first; the rest keep their order. Runs of a remote backend (a Dask
executor, spec 9) take no slot: with every slot taken they may still start (their backend
caps them with the executor's own `max_concurrent_runs`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from scheduler.models import Trigger

if TYPE_CHECKING:
    from scheduler.running.run import Run


_SKIPPING_TRIGGERS = frozenset({Trigger.clock.value, Trigger.catchup.value})


class RunQueue:
    """Pending and running runs, by id in `active`; `idle` is set while there are none."""

    def __init__(self, max_concurrent_runs: int) -> None:
        self.max_concurrent_runs = max_concurrent_runs
        self.pending: deque[Run] = deque()
        self.active: dict[int, Run] = {}
        self.running = 0  # runs holding a slot
        self.remote_running = 0  # running runs of remote backends (no slot)
        self.remote_pending = 0  # pending runs of remote backends
        self.idle = asyncio.Event()
        self.idle.set()

    def add(self, run: Run) -> None:
        """A new pending run, last in line."""
        self.active[run.id] = run
        self.pending.append(run)
        self.idle.clear()
        if not run.backend.uses_local_slot:
            self.remote_pending += 1

    def active_of_clock(self, key: tuple[str, str]) -> Run | None:
        """A pending or running run of the clock `key` (job, clock), if any."""
        return next((run for run in self.active.values() if run.clock_key == key), None)

    def overlap_conflict(self, run: Run, first_number: int) -> str | None:
        """Why a run fired by its clock is `skipped` under `overlap = "skip"` (a run of that
        clock is pending or running), else None. Runs a user asked for wait instead, and so
        does a resumed run (`first_number` > 1): it ran already."""
        key = run.clock_key
        skipping = first_number == 1 and run.record.trigger in _SKIPPING_TRIGGERS
        if key is None or run.job.overlap != "skip" or not skipping:
            return None
        previous = self.active_of_clock(key)
        return None if previous is None else f"previous run {previous.id} still active"

    def take_next(self) -> Run | None:
        """The first pending run that may start now, marked running; None when none may."""
        limit = self.max_concurrent_runs
        if limit > 0 and self.running >= limit:
            run = self._next_remote()  # no slot: only a remote run may start
        else:
            run = next((run for run in self.pending if self._may_start(run)), None)
        if run is not None:
            self.pending.remove(run)
            run.running = True
            if run.backend.uses_local_slot:
                self.running += 1
            else:
                self.remote_pending -= 1
                self.remote_running += 1
        return run

    def _next_remote(self) -> Run | None:
        """The first pending run of a remote backend that may start (no scan without one)."""
        if not self.remote_pending:
            return None
        return next(
            (r for r in self.pending if not r.backend.uses_local_slot and self._may_start(r)),
            None,
        )

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
        held = self.active.pop(run.id, None)
        local = run.backend.uses_local_slot
        if run.running:
            run.running = False
            if local:
                self.running -= 1
            else:
                self.remote_running -= 1
        elif held is not None and not local:
            self.remote_pending -= 1
        if not self.active:
            self.idle.set()

    def count(self, job: str, clock: str | None = None) -> int:
        """Pending and running runs of a job (and clock)."""
        runs = self.active.values()
        return sum(1 for r in runs if r.record.job == job and clock in (None, r.record.clock))
