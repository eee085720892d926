"""Reruns: an attempt runs once, although Dask starts a dead worker's tasks again elsewhere.

When a worker leaves the cluster, the Dask scheduler sends the tasks it was processing to
other workers (up to `distributed.scheduler.allowed-failures` times, the user's setting),
and computes again a finished task whose result was lost with it. For a run that is a
second execution. `RerunGuard`, a scheduler plugin the daemon registers when it connects,
sees every transition of clockd's tasks: one that leaves `processing` or `memory` other
than by ending (its worker left, its result was lost) gets the annotation `RERUN`, which
every later `compute-task` message carries to its next worker; there `run_attempt` finds
it (`is_rerun`) and refuses before any process exists. Nothing travels per run: a start
asks nobody (a claim taken on the scheduler per start cost a round trip, and a multi-lock
name per run that the scheduler never forgets).

The scheduler cannot tell a task that ran on the worker that left from one that waited in
that worker's queue: both are refused, and their runs become `crashed` (then retried per
`retries`). The scheduler unpickles every task's function and arguments, so clockd is
installed there anyway; registering this plugin also checks that early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin

if TYPE_CHECKING:
    from distributed import Scheduler, Worker

PREFIX = "clockd-"  # the keys of clockd's tasks
PLUGIN = "clockd-rerun-guard-1"  # a new version of the plugin gets a new name
RERUN = "clockd-rerun"
_LEFT = frozenset({"processing", "memory"})  # what a task may have started in
_ENDED = frozenset({"memory", "erred", "forgotten"})


class RerunGuard(SchedulerPlugin):
    """Marks clockd's tasks that Dask is about to start again (module docstring)."""

    name = PLUGIN
    idempotent = True  # one per scheduler, whichever daemon registers it first

    def __init__(self) -> None:
        self.scheduler: Scheduler | None = None
        self.states: dict[str, str] = {}  # clockd keys → their last state (not forgotten)

    async def start(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if not isinstance(key, str) or not key.startswith(PREFIX):
            return
        # A transition through "released" reaches plugins as one, starting at "released":
        # the state before it is the last one seen here.
        before = self.states.get(key, start)
        if finish == "forgotten":
            self.states.pop(key, None)
        else:
            self.states[key] = finish
        if (start in _LEFT or before in _LEFT) and finish not in _ENDED:
            task = self.scheduler.tasks.get(key) if self.scheduler is not None else None
            if task is not None:
                task.annotations = {**(task.annotations or {}), RERUN: True}


def is_rerun(worker: Worker, key: str) -> bool:
    """Whether the task `key` running on `worker` is a second start of its attempt."""
    task = worker.state.tasks.get(key)
    annotations = getattr(task, "annotations", None) or {}
    return bool(annotations.get(RERUN))
