"""The history pruner: deletes what the retention rules drop, in the background.

Rules: `[daemon] keep_runs_for` (finished runs older than that) and each job's `keep_runs`
(the latest N runs of each of its clocks; its runs without a clock count as one more
"clock"). Which runs may go is the store's business (`storage/pruning.py`: never an
unfinished run nor a parent of a remaining run).

A pass runs at start-up and then every `every` seconds. Each step is one small transaction
queued on the daemon's `StoreWriter` like any other write (so it is in order with the run
writes, retried while the store refuses writes, and on SQLite it runs on the loop between
fires), so a due fire never waits behind more than one step. Steps are kept short: the
number of runs a step may delete starts small and follows how long steps take (halved when
one takes over `STEP_TARGET`, doubled up to `pruning.RUNS_A_STEP` when well under it), and
after each step the pruner waits at least as long as the step took (the loop spends at most
half its time pruning). And no step starts when the scheduler's next pass (`next_pass`, the
loop time of its timer) is near: the pruner waits until just after it, so that the fires
due then are claimed first. Jobs' `keep_runs` follow reloads; `keep_runs_for` is read at start,
as every `[daemon]` key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scheduler.storage.pruning import RUNS_A_STEP, PruneRule, PruneStep

if TYPE_CHECKING:
    from scheduler.models import Job
    from scheduler.storage.base import RunStore
    from scheduler.storage.writer import StoreWriter
    from scheduler.timesource import TimeSource

log = logging.getLogger("clockd.pruner")

PRUNE_EVERY = 60.0  # seconds between passes
STEP_PAUSE = 0.02  # seconds between two steps at least: what came due meanwhile goes first
MAX_STEP_PAUSE = 1.0  # but no longer (a step that waited for a failing store took long)
STEP_TARGET = 0.01  # seconds a step should take
FIRST_LIMIT = 50  # runs the first step may delete
MIN_LIMIT = 10
FIRE_GUARD = 0.05  # seconds before the scheduler's next pass in which no step starts
AFTER_FIRE = 0.03  # and after it, time for the fires it handles to be claimed


def age_rule(keep_runs_for: timedelta | None, now: datetime) -> list[PruneRule]:
    return [] if keep_runs_for is None else [PruneRule(created_before=now - keep_runs_for)]


def count_rules(job: Job, clocks: Iterable[str | None]) -> list[PruneRule]:
    if job.keep_runs is None:
        return []
    return [PruneRule(job=job.name, clock=clock, keep=job.keep_runs) for clock in clocks]


class Pruner:
    """See the module docstring. `pruned`: runs deleted since start (metrics)."""

    def __init__(
        self,
        writer: StoreWriter,
        jobs: Callable[[], dict[str, Job]],
        keep_runs_for: timedelta | None,
        time_source: TimeSource,
        *,
        every: float = PRUNE_EVERY,
        pause: float = STEP_PAUSE,
        next_pass: Callable[[], float | None] | None = None,
    ) -> None:
        self.writer = writer
        self.jobs = jobs
        self.keep_runs_for = keep_runs_for
        self.time_source = time_source
        self.every = every
        self.pause = pause
        self.next_pass = next_pass
        self.pruned = 0
        self.limit = FIRST_LIMIT  # runs the next step may delete (adapts to step times)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pruner")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a pass that fails is tried again next time
                log.warning("pruning history failed: %s; next try in %.0fs", error, self.every)
            await asyncio.sleep(self.every)

    async def prune_once(self) -> int:
        """One pass over every rule; the number of runs deleted."""
        rules = age_rule(self.keep_runs_for, self.time_source.now())
        for job in list(self.jobs().values()):
            if job.keep_runs is not None:
                clocks = await self.writer.call(_clocks_of(job.name), "clocks to prune")
                rules.extend(count_rules(job, clocks))
        deleted = 0
        for rule in rules:
            while True:
                await self._keep_clear_of_fires()
                started = self.time_source.monotonic()
                step = await self.writer.call(_step_of(rule, self.limit), "prune history")
                took = self.time_source.monotonic() - started
                self._adapt(took)
                deleted += step.runs
                self.pruned += step.runs
                if not step.more:
                    break
                await asyncio.sleep(min(max(self.pause, took), MAX_STEP_PAUSE))
            await asyncio.sleep(0)
        if deleted:
            log.info("pruned runs=%d rules=%d", deleted, len(rules))
        return deleted

    async def _keep_clear_of_fires(self) -> None:
        """Wait past the scheduler's next pass when it comes before a step would end."""
        if self.next_pass is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(3):  # a pass may arm the next one at once: look again, a few times
            due = self.next_pass()
            if due is None:
                return
            ahead = due - loop.time()
            if ahead > FIRE_GUARD:
                return
            await asyncio.sleep(max(ahead, 0.0) + AFTER_FIRE)

    def _adapt(self, took: float) -> None:
        """The next step's size from how long this one took (a step that waited for the
        store to accept writes counts as slow, too: no harm in going gently then)."""
        if took > STEP_TARGET:
            self.limit = max(MIN_LIMIT, self.limit // 2)
        elif took < STEP_TARGET / 2:
            self.limit = min(RUNS_A_STEP, self.limit * 2)


def _clocks_of(job: str) -> Callable[[RunStore], list[str | None]]:
    def clocks(store: RunStore) -> list[str | None]:
        return store.run_clocks(job)

    return clocks


def _step_of(rule: PruneRule, limit: int) -> Callable[[RunStore], PruneStep]:
    def step(store: RunStore) -> PruneStep:
        return store.prune_runs(rule, limit)

    return step
