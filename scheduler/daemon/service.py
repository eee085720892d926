"""`Service`: the façade the HTTP API, the CLI's local `run` and the daemon use.

It knows the config, the store and the executor; it does not know HTTP or APScheduler.
The daemon gives it `next_fire` (the scheduler's planned times) and `on_pause` (apply a
pause at once); without them it computes next fires from the clocks itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from scheduler.errors import NotFound, UserError
from scheduler.scheduling.firing import ClockBook, secret_refs
from scheduler.timesource import SYSTEM_TIME, TimeSource, whole_second

if TYPE_CHECKING:
    from clocks.base import Clock
    from scheduler.models import Config, Job
    from scheduler.running.executor import Executor
    from scheduler.scheduling.firing import Firing
    from scheduler.storage.sqlite.store import RunRecord, Store

log = logging.getLogger("clockd.service")

# A backfill larger than this is refused: it is almost always a typo in the range.
MAX_BACKFILL_FIRES = 10_000


class Service:
    def __init__(
        self,
        config: Config,
        store: Store,
        executor: Executor,
        *,
        book: ClockBook | None = None,
        firing: Firing | None = None,
        time_source: TimeSource = SYSTEM_TIME,
        child_token: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.executor = executor
        self.book = book or ClockBook(store, time_source)
        self.firing = firing
        self.time_source = time_source
        # The token a run's process uses to start child runs (the API accepts it as a bearer).
        self.child_token = child_token
        self.started_at = time_source.now()
        self._started_monotonic = time.monotonic()
        # Set by the daemon: the scheduler's next planned fire of (job, clock).
        self.next_fire: Callable[[str, str], datetime | None] | None = None
        self.on_pause: Callable[[str, str | None, bool], None] | None = None
        # Called with ("started" | "finished", RunRecord) for every executor event (the daemon
        # forwards its Executor's on_event here): e.g. the API's live views.
        self.event_listeners: list[Callable[[str, RunRecord], None]] = []

    # -- lookups -----------------------------------------------------------------------------

    def _job(self, name: str) -> Job:
        job = self.config.jobs.get(name)
        if job is None:
            raise NotFound(f"unknown job '{name}'")
        return job

    def _clock(self, job: Job, name: str) -> Clock:
        clock = job.clock(name)
        if clock is None:
            known = ", ".join(c.name for c in job.clocks) or "none"
            raise NotFound(f"job '{job.name}' has no clock '{name}' (clocks: {known})")
        return clock

    def _next_fire(self, job: Job, clock: Clock, now: datetime) -> datetime | None:
        if not (job.enabled and clock.enabled):
            return None
        if self.next_fire is not None:
            return self.next_fire(job.name, clock.name)
        try:
            return self.book.effective(job.name, clock).next_fire(now)
        except Exception:  # a clock that cannot say (unanchored without a store) shows no time
            return None

    # -- read --------------------------------------------------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        return [self._describe(job) for job in self.config.jobs.values()]

    def job(self, name: str) -> dict[str, Any]:
        return self._describe(self._job(name))

    def _describe(self, job: Job) -> dict[str, Any]:
        now = self.time_source.now()
        job_paused = self.store.is_paused(job.name, None)
        clocks = []
        for clock in job.clocks:
            next_fire = self._next_fire(job, clock, now)
            clocks.append(
                {
                    "name": clock.name,
                    "kind": clock.kind,
                    "describe": clock.describe(),
                    "timezone": clock.timezone,
                    "parameters": dict(clock.parameter_defaults),
                    "next_fire": next_fire.isoformat() if next_fire else None,
                    "paused": job_paused or self.store.is_paused(job.name, clock.name),
                    "enabled": clock.enabled,
                    "catchup": clock.catchup,
                }
            )
        return {
            "name": job.name,
            "description": job.description,
            "enabled": job.enabled,
            "paused": job_paused,
            "clocks": clocks,
            "parameters_schema": job.parameters.json_schema(),
        }

    def status(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "started_at": self.started_at.isoformat(),
            "uptime_seconds": round(time.monotonic() - self._started_monotonic, 3),
            "jobs": len(self.config.jobs),
            "clocks": self.config.clock_count,
            "running": self.executor.running_count(),
            "pending": self.executor.pending_count(),
        }

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        job: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        clock: str | None = None,
        parent_id: int | None = None,
        trigger: str = "api",
    ) -> RunRecord:
        """A run now. Trigger-time `parameters` are the highest layer, data (never rendered);
        `clock` lends its defaults and its time zone. Raises NotFound or ParameterError
        (nothing is recorded then)."""
        from clocks.resolution import Resolver
        from scheduler.storage.sqlite.store import NewRun

        job_obj = self._job(job)
        clock_obj = self._clock(job_obj, clock) if clock is not None else None
        now = whole_second(self.time_source.now())
        given = dict(parameters or {})
        if clock_obj is not None:
            resolver = Resolver.for_clock(job_obj.name, job_obj.parameters, clock_obj)
        else:
            resolver = Resolver(
                job_obj.name, job_obj.parameters, timezone=self.config.daemon.timezone
            )
        resolved = resolver.resolve(now, given=given)
        run_id = self.store.create_run(
            NewRun(
                job=job_obj.name,
                clock=clock,
                trigger=trigger,
                scheduled_time=now,
                parameters=resolved.masked(),
                secret_refs=secret_refs(resolved),
                parent_id=parent_id,
                created_at=now,
                lateness=0.0,
            )
        )
        if resolver.uses_run_id:
            resolved = resolver.resolve(now, run_id=run_id, given=given)
            self.store.update_run(
                run_id, parameters=resolved.masked(), secret_refs=secret_refs(resolved)
            )
        log.info("run created job=%s clock=%s trigger=%s run_id=%s", job, clock, trigger, run_id)
        self.executor.submit(run_id, job_obj, resolved)
        self.executor.write_pending()
        record = self.store.get_run(run_id)
        assert record is not None
        return record

    async def cancel(self, run_id: int) -> RunRecord:
        if self.store.get_run(run_id) is None:
            raise NotFound(f"unknown run {run_id}")
        await self.executor.cancel(run_id)
        record = self.store.get_run(run_id)
        assert record is not None
        return record

    # -- pause -------------------------------------------------------------------------------

    def pause(self, job: str, clock: str | None) -> None:
        self._set_paused(job, clock, True)

    def resume(self, job: str, clock: str | None) -> None:
        self._set_paused(job, clock, False)

    def _set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        job_obj = self._job(job)
        if clock is not None:
            self._clock(job_obj, clock)
        self.store.set_paused(job, clock, paused)
        self.book.set_paused(job, clock, paused)
        if self.on_pause is not None:
            self.on_pause(job, clock, paused)
        log.info("%s job=%s clock=%s", "paused" if paused else "resumed", job, clock)

    # -- backfill ----------------------------------------------------------------------------

    def backfill(
        self, job: str, clock: str, start: datetime, end: datetime, *, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        """One run per fire of `clock` in [start, end], trigger "backfill", each with its own
        scheduled_time (so dynamic values are computed for that time). Fires that already have
        a run are listed with run_id None and not run again."""
        from clocks.parameters import ParameterError
        from clocks.resolution import Resolver

        job_obj = self._job(job)
        clock_obj = self.book.effective(job, self._clock(job_obj, clock))
        resolver = Resolver.for_clock(job_obj.name, job_obj.parameters, clock_obj)
        if end < start:
            raise UserError(
                f"backfill range is reversed: {start.isoformat()} is after {end.isoformat()}"
            )
        times: list[datetime] = []
        for moment in clock_obj.fires(start - timedelta(seconds=1), end):
            times.append(moment)
            if len(times) > MAX_BACKFILL_FIRES:
                raise UserError(
                    f"backfill of more than {MAX_BACKFILL_FIRES} fires refused; narrow the range"
                )
        entries: list[dict[str, Any]] = []
        todo: list[datetime] = []
        for moment in times:
            try:
                values: dict[str, Any] | None = resolver.resolve(moment).masked()
            except ParameterError as problem:
                values = None
                error = str(problem)
            entry: dict[str, Any] = {
                "time": moment.isoformat(),
                "clock": clock,
                "parameters": values,
                "run_id": None,
            }
            if values is None:
                entry["error"] = error
            entries.append(entry)
            if not dry_run and not self.store.has_fire(job, clock, moment):
                todo.append(moment)
        if dry_run or not todo:
            return entries
        if self.firing is None:
            raise UserError("backfill needs the daemon's firing path")
        result = self.firing.backfill(job, clock, todo)
        created = set(result.created) | set(result.failed)
        for run_id in created:
            record = self.store.get_run(run_id)
            if record is None:
                continue
            for entry in entries:
                if entry["time"] == record.scheduled_time.isoformat():
                    entry["run_id"] = run_id
        return entries
