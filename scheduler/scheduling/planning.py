"""The plan: every enabled clock as one APScheduler job, kept in step with config and wall time.

APScheduler 3.11.3 traps avoided here (see shared/notes/libraries.md §1):
- job defaults are set explicitly (grace None, no coalescing, no instance cap) *and* the
  executor does not count instances, so nothing is dropped silently;
- the job function is never called: `ClockdExecutor._do_submit_job` hands (clock, run_times)
  to `firing`, which owns the scheduled time;
- jobs are never re-added with `replace_existing` (it drops a backlog) — a reload modifies them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.executors.base import BaseExecutor

from scheduler.timesource import whole_second

if TYPE_CHECKING:
    from apscheduler.job import Job as APJob
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from clocks.base import Clock
    from scheduler.models import Job
    from scheduler.scheduling.clockbook import ClockBook
    from scheduler.scheduling.firing import Firing

log = logging.getLogger("clockd.daemon")


def _checked_first_fire(job: Job, clock: Clock, now: datetime) -> tuple[datetime | None] | None:
    """The first fire after `now` as the config check found it, when it still is: checked at
    or before `now`, and not yet due (no fire lies between the check and `now`)."""
    checked = job.first_fires.get(clock.name)
    if checked is None:
        return None
    checked_at, first = checked
    if checked_at <= now and (first is None or first > now):
        return (first,)
    return None


def _placeholder(job: str, clock: str) -> None:  # pragma: no cover - never called
    """APScheduler needs a job function; clockd's executor never calls it."""


# APScheduler checks the function's signature on every add_job (inspect.signature, ~40 µs);
# a precomputed one makes loading 10,000 clocks markedly cheaper.
_placeholder.__signature__ = inspect.signature(_placeholder)  # type: ignore[attr-defined]
# Handed to add_job as its textual reference: APScheduler then only imports it, instead of
# deriving the reference from the function and checking that it leads back (a third less
# time per add_job).
_PLACEHOLDER_REF = f"{__name__}:{_placeholder.__name__}"


class ClockdExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands due fires to `Firing` instead of calling the job function."""

    def __init__(self, firing: Firing) -> None:
        super().__init__()
        self.firing = firing

    def submit_job(self, job: APJob, run_times: list[datetime]) -> None:
        # No max_instances accounting: runs are not APScheduler's business, the executor's
        # overlap policy decides; counting here would drop fires after the first N.
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: APJob, run_times: list[datetime]) -> None:
        trigger = job.trigger
        times = []
        for run_time in run_times:
            nominal = trigger.consume(run_time)
            # A due fire that starts a gap (a forward jump seen by APScheduler's timer before
            # the daemon's tick) was skipped by the jump: the gap's catchup rule decided it.
            if not trigger.in_gap(run_time):
                times.append(nominal)
        if times:
            self.firing.submit(job.kwargs["job"], job.kwargs["clock"], times)


def clock_fingerprint(job: Job, clock: Clock) -> str:
    """Equal fingerprints: the clock fires the same, so a reload keeps its next fire."""
    return f"{job.enabled}|{clock!r}"


def create_scheduler(firing: Firing) -> AsyncIOScheduler:
    """An AsyncIOScheduler in UTC whose due fires go to `firing`, with no silent drops,
    waking on time (`scheduler.scheduling.ontime`)."""
    from scheduler.scheduling.ontime import OnTimeScheduler

    return OnTimeScheduler(
        timezone="UTC",
        executors={"default": ClockdExecutor(firing)},
        job_defaults={
            "misfire_grace_time": None,
            "coalesce": False,
            "max_instances": 1_000_000,
        },
    )


def job_id(job: str, clock: str) -> str:
    return f"{job}/{clock}"


class Planner:
    """Plans clocks into `scheduler`: at start (after catch-up), on reload, after a jump.

    `jobs` is read on every use, so a gap seen after a reload looks at the new config."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        book: ClockBook,
        firing: Firing,
        jobs: Callable[[], Mapping[str, Job]],
        *,
        started_wall: datetime,
    ) -> None:
        self.scheduler = scheduler
        self.book = book
        self.firing = firing
        self.jobs = jobs
        # What a forward jump catches up from when a clock has never fired.
        self.started_wall = started_wall
        self.fingerprints: dict[tuple[str, str], str] = {}

    def plan_all(self, jobs: Mapping[str, Job], now: datetime) -> None:
        """Catch up and plan every clock (last fires and anchors as read at start, in
        `firing` and `book`); new anchors and first-seen marks in one write each."""
        first_seen: dict[tuple[str, str], datetime] = {}
        self.book.hold_anchors()
        for job in jobs.values():
            for clock in job.clocks:
                self.plan(job, clock, now, catch_up=True, first_seen=first_seen)
        self.book.save_anchors()
        self._mark_first_seen(first_seen)

    def _mark_first_seen(self, first_seen: dict[tuple[str, str], datetime]) -> None:
        if first_seen:
            self.firing.last_fires.update(first_seen)
            self.firing.writer.submit(
                lambda store: store.set_last_fires(first_seen), "first-seen marks"
            )

    def plan(
        self,
        job: Job,
        clock: Clock,
        now: datetime,
        *,
        catch_up: bool,
        first_seen: dict[tuple[str, str], datetime] | None = None,
        fresh: bool = False,
    ) -> None:
        """Schedule one clock (after its catch-up) from now.

        `first_seen` collects the "seen until now" marks of first-loaded clocks, for the caller
        to write in one transaction; without it each is written at once. A `fresh` clock (one
        a reload added or enabled) is marked seen until now whatever it fired before: the time
        it did not exist, or was disabled, is never caught up (spec 7), not now and not after
        a restart."""
        from scheduler.scheduling.triggers import ClockTrigger

        key = (job.name, clock.name)
        self.fingerprints[key] = clock_fingerprint(job, clock)
        if not (job.enabled and clock.enabled):
            return
        effective = self.book.effective(job.name, clock)
        last_fire = self.firing.last_fires.get(key)
        if fresh and last_fire is not None and last_fire < whole_second(now):
            self._mark_first_seen({key: whole_second(now)})
            log.info(
                "clock starts fresh job=%s clock=%s last_fire=%s",
                job.name,
                clock.name,
                last_fire.isoformat(),
            )
            last_fire = whole_second(now)
            catch_up = False
        known: tuple[datetime | None] | None = None  # the first fire after now, when found here
        if catch_up and last_fire is not None:
            following = effective.next_fire(last_fire)
            if following is not None and following <= now:
                self.firing.catch_up(job, effective, now, since=last_fire)
            else:  # nothing missed (the common restart): that fire is also the first after now
                known = (following,)
        if last_fire is None:
            # First load: mark "seen until now", so that fires missed while the daemon is
            # down before the clock's first fire are caught up too.
            if first_seen is not None:
                first_seen[key] = whole_second(now)
            else:
                self._mark_first_seen({key: whole_second(now)})
        if known is None and effective is clock:
            known = _checked_first_fire(job, clock, now)
        trigger = ClockTrigger(effective, on_gap=self.gap_handler(job.name, clock.name))
        first = trigger.first_after(now) if known is None else trigger.jittered(known[0])
        if first is None:
            log.info("clock has no more fires job=%s clock=%s", job.name, clock.name)
            return
        self.scheduler.add_job(
            _PLACEHOLDER_REF,
            trigger=trigger,
            kwargs={"job": job.name, "clock": clock.name},
            id=job_id(job.name, clock.name),
            name=job_id(job.name, clock.name),
            next_run_time=first,
            misfire_grace_time=None,
            coalesce=False,
            max_instances=1_000_000,
        )

    def gap_handler(self, job_name: str, clock_name: str):  # type: ignore[no-untyped-def]
        def on_gap(first: datetime, now: datetime) -> None:
            # APScheduler was about to list every fire of a long gap (a forward jump seen by
            # its timer before our watcher): apply the catchup rule instead, bounded. The gap
            # includes `first`, the fire APScheduler found due (the executor drops it), so
            # `missed` looks after the second before it (fires are whole seconds).
            job = self.jobs().get(job_name)
            clock = job.clock(clock_name) if job else None
            if job is None or clock is None:
                return
            effective = self.book.effective(job_name, clock)
            times = self.firing.missed(job, effective, now, since=first - timedelta(seconds=1))
            log.warning(
                "gap in fires job=%s clock=%s from=%s to=%s catchup=%d",
                job_name,
                clock_name,
                first.isoformat(),
                now.isoformat(),
                len(times),
            )
            if times:
                self.firing.submit(job_name, clock_name, times, "catchup")

        return on_gap

    def next_fire(self, job: str, clock: str) -> datetime | None:
        scheduled = self.scheduler.get_job(job_id(job, clock))
        if scheduled is None or scheduled.next_run_time is None:
            return None
        return whole_second(scheduled.trigger.nominal(scheduled.next_run_time))

    def replan(self, now: datetime, *, forward: bool, jumped_at: datetime | None = None) -> None:
        """After a jump: forward → the catchup rule for what was skipped, then plan from now.

        A backward jump re-plans from `jumped_at` (the earliest the new wall time can have
        started, before the daemon noticed; default now): fires since then, on the new time,
        are due at once instead of lost. Fires that already ran are refused by the
        (job, clock, scheduled_time) uniqueness, so nothing runs twice."""
        plan_from = now if forward or jumped_at is None else min(jumped_at, now)
        jobs = self.jobs()
        for scheduled in self.scheduler.get_jobs():
            job = jobs.get(scheduled.kwargs["job"])
            clock = job.clock(scheduled.kwargs["clock"]) if job else None
            if job is None or clock is None:
                continue
            effective = self.book.effective(job.name, clock)
            if forward:
                since = self.firing.last_fires.get((job.name, clock.name), self.started_wall)
                self.firing.catch_up(job, effective, now, since=since)
            first = scheduled.trigger.first_after(plan_from)
            if first is None:
                self.scheduler.remove_job(scheduled.id)
            else:
                self.scheduler.modify_job(scheduled.id, next_run_time=first)

    def apply(self, jobs: Mapping[str, Job], now: datetime) -> tuple[int, int, int]:
        """Bring the plan to a reloaded config; (added, removed, changed) clocks.

        A clock whose fingerprint is unchanged keeps its APScheduler job and next fire. A
        clock the reload adds (even one that existed before under its name, its old last
        fire still stored) or that it enables again starts fresh: no catch-up for the time
        it did not exist or was disabled."""
        from scheduler.scheduling.triggers import ClockTrigger

        old_keys = set(self.fingerprints)
        new_clocks = {
            (job.name, clock.name): (job, clock) for job in jobs.values() for clock in job.clocks
        }
        added = removed = changed = 0
        for key in old_keys - set(new_clocks):
            self.fingerprints.pop(key, None)
            if self.scheduler.get_job(job_id(*key)) is not None:
                self.scheduler.remove_job(job_id(*key))
            removed += 1
        for key, (job, clock) in new_clocks.items():
            fingerprint = clock_fingerprint(job, clock)
            if key not in old_keys:
                self.plan(job, clock, now, catch_up=False, fresh=True)
                added += 1
            elif self.fingerprints[key] != fingerprint:
                changed += 1
                self.fingerprints[key] = fingerprint
                scheduled_id = job_id(*key)
                exists = self.scheduler.get_job(scheduled_id) is not None
                if not (job.enabled and clock.enabled):
                    if exists:
                        self.scheduler.remove_job(scheduled_id)
                    continue
                effective = self.book.effective(job.name, clock)
                trigger = ClockTrigger(effective, on_gap=self.gap_handler(*key))
                first = trigger.first_after(now)
                if first is None:
                    if exists:
                        self.scheduler.remove_job(scheduled_id)
                elif exists:
                    self.scheduler.modify_job(scheduled_id, trigger=trigger, next_run_time=first)
                else:  # enabled again (or given fires again): nothing before now is due
                    self.plan(job, clock, now, catch_up=False, fresh=True)
        return added, removed, changed
