"""`Service`: the façade the HTTP API, the web UI and the CLI's local `run` use.

It knows the config, the executor and the way to the store (a writer thread for writes,
reader threads for reads: no store call runs on the event loop); it does not know HTTP
or APScheduler. The daemon gives it `next_fire` (the scheduler's planned times),
`on_pause` (apply a pause at once) and `health_checks`; without them it computes next
fires from the clocks itself.

What the API and UI read goes through here: `get_run`, `list_runs`, `read_log`. A run the
executor holds (its state changes are written behind, in batches) is answered from the
executor's own record, so a reader never sees a state older than the daemon's.

Why this module is long: it is the one façade every reader and writer outside the daemon's
loop goes through, one method an operation of spec 5.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.errors import ConfigRefused, Conflict, NotFound, UserError
from scheduler.models import RunState
from scheduler.running.events import RunEvents
from scheduler.scheduling.clockbook import ClockBook
from scheduler.scheduling.firing import Due, secret_refs
from scheduler.timesource import SYSTEM_TIME, TimeSource, whole_second

if TYPE_CHECKING:
    from clocks.base import Clock
    from clocks.parameters import ParameterProblem
    from scheduler.models import Config, Identity, Job
    from scheduler.running.executor import Executor
    from scheduler.scheduling.firing import Firing
    from scheduler.storage.base import RunStore
    from scheduler.storage.reader import StoreReader
    from scheduler.storage.records import LogLine, RunRecord
    from scheduler.storage.writer import StoreWriter

log = logging.getLogger("clockd.service")

# How long a request waits for its write (a run's row, a pause) while the store cannot be
# written, before it is answered 503 and the write is withdrawn (it will not happen later).
WRITE_TIMEOUT = 10.0
# How long a cancel passed to another daemon is waited for before the answer (its state then).
CANCEL_WAIT = 10.0


class Service:
    def __init__(
        self,
        config: Config,
        writer: StoreWriter,
        reader: StoreReader,
        executor: Executor,
        *,
        book: ClockBook | None = None,
        firing: Firing | None = None,
        events: RunEvents | None = None,
        time_source: TimeSource = SYSTEM_TIME,
        child_token: str | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.writer = writer
        self.reader = reader
        self.executor = executor
        self.book = book or ClockBook(time_source)
        self.firing = firing
        self.events = events or RunEvents()
        self.time_source = time_source
        # The token a run's process uses to start child runs (the API accepts it as a bearer).
        self.child_token = child_token
        self.started_at = time_source.now()
        self._started_monotonic = time_source.monotonic()
        # Set by the daemon: the scheduler's next planned fire of (job, clock).
        self.next_fire: Callable[[str, str], datetime | None] | None = None
        self.on_pause: Callable[[str, str | None, bool], None] | None = None
        # Set by the daemon: re-read the config; the problems of a refused one ([]: done).
        self.on_reload: Callable[[], list[str]] | None = None
        # Set by the daemon: [{"check": name, "ok": bool, "detail": text}, ...] for /healthz.
        self.health_checks: Callable[[], list[dict[str, Any]]] | None = None
        # Set by the daemon: this daemon among those sharing its database (daemon/cluster.py).
        self.cluster: Any = None
        self.pruner: Any = None  # daemon/pruner.py, for the metrics (runs pruned)

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

    # -- jobs --------------------------------------------------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        return [self._describe(job) for job in self.config.jobs.values()]

    def job(self, name: str) -> dict[str, Any]:
        """One job as `_describe` gives it, each clock with its `next_fires` (spec 2.5)."""
        from scheduler.daemon.overview import add_next_fates

        job = self._job(name)
        return add_next_fates(self._describe(job), job, self.book, self.time_source.now())

    def _describe(self, job: Job) -> dict[str, Any]:
        from scheduler.daemon.overview import describe_job

        now = self.time_source.now()
        return describe_job(job, self.book, lambda job, clock: self._next_fire(job, clock, now))

    async def jobs_overview(self, name: str | None = None) -> list[dict[str, Any]]:
        """`jobs()` (or the one job `name`) with each clock's `last_fire` and `last_run`
        (`overview.add_last_runs`), as `GET /api/v1/jobs` and `clockd jobs` show them."""
        from scheduler.daemon.overview import (
            add_last_runs,
            clock_keys,
            fires_only,
            read_last_runs,
        )

        described = self.jobs() if name is None else [self.job(name)]
        keys = clock_keys(described)
        last_runs = await self.reader.call(lambda store: read_last_runs(store, keys))
        for key, record in last_runs.items():
            last_runs[key] = self.executor.live_record(record.id) or record
        if self.firing is not None:
            last_fires = self.firing.last_fires
        else:
            states = await self.reader.call(lambda store: store.clock_states())
            last_fires = {key: s.last_fire for key, s in states.items() if s.last_fire}
        add_last_runs(described, last_runs, fires_only(self.config.jobs, self.book, last_fires))
        return described

    def reload(self) -> dict[str, Any]:
        """Re-read the config (`POST /api/v1/reload`): its counts, or ConfigRefused with every
        problem (the old schedule keeps running)."""
        if self.on_reload is None:
            raise UserError("this process has no config to reload")
        problems = self.on_reload()
        if problems:
            raise ConfigRefused(problems)
        return {
            "status": "reloaded",
            "jobs": len(self.config.jobs),
            "clocks": self.config.clock_count,
        }

    def status(self) -> dict[str, Any]:
        """/healthz: "ok", or "failing" with the checks that fail."""
        checks = self.health_checks() if self.health_checks is not None else []
        failing = [check for check in checks if not check["ok"]]
        return {
            "status": "failing" if failing else "ok",
            "checks": checks,
            "started_at": self.started_at.isoformat(),
            "uptime_seconds": round(self.time_source.monotonic() - self._started_monotonic, 3),
            "jobs": len(self.config.jobs),
            "clocks": self.config.clock_count,
            "running": self.executor.running_count(),
            "pending": self.executor.pending_count(),
        }

    # -- reading runs ------------------------------------------------------------------------

    async def get_run(self, run_id: int) -> RunRecord | None:
        live = self.executor.live_record(run_id)
        if live is not None:
            return live
        return await self.reader.call(lambda store: store.get_run(run_id))

    def holds(self, run_id: int) -> bool:
        """Whether the executor still holds the run: it has not ended, or its final state
        (and so all of its log) is not stored yet."""
        return self.executor.live_record(run_id) is not None

    async def list_runs(
        self,
        *,
        job: str | None = None,
        clock: str | None = None,
        state: str | Iterable[str] | None = None,
        parent_id: int | None = None,
        limit: int | None = 100,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[RunRecord]:
        """Newest first. A run the executor holds shows its newest state (which may not
        match a `state` filter any more: it is left out then)."""
        states = None if state is None else {state} if isinstance(state, str) else set(state)

        def read(store: RunStore) -> list[RunRecord]:
            return store.list_runs(
                job=job,
                clock=clock,
                state=states,
                parent_id=parent_id,
                limit=limit,
                before_id=before_id,
                after_id=after_id,
            )

        records = await self.reader.call(read)
        shown = []
        for record in records:
            live = self.executor.live_record(record.id)
            if live is not None:
                record = live
            if states is None or record.state in states:
                shown.append(record)
        return shown

    async def read_log(
        self, run_id: int, *, after_seq: int = 0, limit: int | None = None
    ) -> list[LogLine]:
        return await self.reader.call(
            lambda store: store.read_log(run_id, after_seq=after_seq, limit=limit)
        )

    # -- runs --------------------------------------------------------------------------------

    async def create_run(
        self,
        job: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        clock: str | None = None,
        parent_id: int | None = None,
        trigger: str = "api",
        refused: Sequence[ParameterProblem] = (),
    ) -> RunRecord:
        """A run now. Trigger-time `parameters` are the highest layer, data (never rendered);
        `clock` lends its defaults and its time zone. Raises NotFound, ParameterError or
        StoreUnavailable (nothing is recorded then).

        `refused`: problems the caller found already (a `-p` text that is not of its type):
        the run is refused with them and every other problem of the values (spec 2.2)."""
        from clocks.parameters import ParameterError
        from clocks.resolution import Resolver
        from scheduler.storage.records import NewRun

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
        try:
            resolved = resolver.resolve(now, given=given)
        except ParameterError as error:
            if not refused:
                raise
            bad = {problem.name for problem in refused}
            others = [p for p in error.problems if p.name not in bad]
            raise ParameterError([*refused, *others]) from None
        if refused:
            raise ParameterError(list(refused))
        new_run = NewRun(
            job=job_obj.name,
            clock=clock,
            trigger=trigger,
            scheduled_time=now,
            parameters=resolved.masked(),
            secret_refs=secret_refs(resolved),
            parent_id=parent_id,
            created_at=now,
            lateness=0.0,
            daemon=self.identity.name if self.identity else None,
            owner=self.identity.owner if self.identity else None,
            # (a daemon's run only: `clockd run` runs in its own terminal, whatever holds the job)
            keep_together=(job_obj.max_active_runs > 0 or job_obj.overlap != "allow")
            and self.identity is not None
            and self.identity.owner.startswith("daemon:"),
        )
        run_id = await self.writer.call(
            lambda store: store.create_run(new_run), "create run", timeout=WRITE_TIMEOUT
        )
        if resolver.uses_run_id:
            resolved = resolver.resolve(now, run_id=run_id, given=given)
            new_run.parameters, new_run.secret_refs = resolved.masked(), secret_refs(resolved)
            changes = {"parameters": new_run.parameters, "secret_refs": new_run.secret_refs}
            self.writer.submit(lambda store: store.update_runs([(run_id, changes)]), "run values")
        log.info(
            "run created job=%s clock=%s trigger=%s run_id=%s", job, clock or "-", trigger, run_id
        )
        record = new_run.to_record(run_id)
        if self.identity is not None and new_run.owner != self.identity.owner:
            log.info("run given to daemon %s, which holds this job's runs", new_run.daemon)
            return record  # another daemon holds this job's active runs: it adopts it
        self.executor.submit(run_id, job_obj, resolved, record)
        return self.executor.live_record(run_id) or record

    def retry_crashed(self, records: Iterable[RunRecord]) -> list[int]:
        """Runs recorded `crashed` whose processes are known to be gone run again, each as
        its next attempt, when their job has retries left (spec 3); the ids queued: a start's
        own leftovers, and a dead peer's runs a survivor took over (spec 8). See
        `scheduler.daemon.recovery.retry_crashed` for what it expects."""
        from scheduler.daemon.recovery import retry_crashed

        return retry_crashed(records, self.config, self.executor, self.identity)

    async def cancel(self, run_id: int) -> RunRecord:
        """Cancel a run; returns it as it is afterwards. NotFound for an unknown run,
        Conflict for one that has ended already (nothing to cancel)."""
        live = self.executor.live_record(run_id)
        if live is not None and live.is_final:
            live = None  # ended; its final state is on its way to the store
        if live is None:
            ended = await self.get_run(run_id)
            if ended is not None and ended.is_final:
                raise Conflict(f"run {run_id} has already ended ({ended.state}): nothing to cancel")
        if live is not None:
            await self.executor.cancel(run_id)
        else:
            record = await self.get_run(run_id)
            if record is None:
                raise NotFound(f"unknown run {run_id}")
            if not record.is_final and await self._cancel_elsewhere(run_id):
                pass  # another live daemon holds it: it cancels it and records that
            elif record.state == RunState.pending:
                # Pending in the store but not here (left by an earlier daemon): cancel the row.
                changes = {
                    "state": RunState.cancelled.value,
                    "ended_at": self.time_source.now(),
                    "error": "cancelled",
                }
                await self.writer.call(
                    lambda store: store.update_runs([(run_id, changes)]),
                    "cancel run",
                    timeout=WRITE_TIMEOUT,
                )
                record.state, record.error = RunState.cancelled.value, "cancelled"
                record.ended_at = changes["ended_at"]  # type: ignore[assignment]
                self.events.publish("finished", record)
        record = await self.get_run(run_id)
        if record is None:
            raise NotFound(f"unknown run {run_id}")
        return record

    async def _cancel_elsewhere(self, run_id: int) -> bool:
        """Pass a cancel to the daemon that holds the run (spec 8), and wait (a few seconds at
        most) until its state is final; False when no other live daemon holds it."""
        if self.cluster is None or not await self.cluster.cancel_elsewhere(run_id):
            return False
        deadline = self.time_source.monotonic() + CANCEL_WAIT
        while self.time_source.monotonic() < deadline:
            record = await self.reader.call(lambda store: store.get_run(run_id))
            if record is None or record.is_final:
                break
            await asyncio.sleep(0.05)
        return True

    async def daemons(self) -> list[dict[str, Any]]:
        """The daemons sharing the database (spec 8): this one alone with SQLite."""
        if self.cluster is None:
            return []
        return await self.reader.call(self.cluster.daemons)

    # -- pause -------------------------------------------------------------------------------

    async def pause(self, job: str, clock: str | None) -> None:
        await self._set_paused(job, clock, True)

    async def resume(self, job: str, clock: str | None) -> None:
        await self._set_paused(job, clock, False)

    async def _set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        job_obj = self._job(job)
        if clock is not None:
            self._clock(job_obj, clock)
        await self.writer.call(
            lambda store: store.set_paused(job, clock, paused), "pause", timeout=WRITE_TIMEOUT
        )
        self.book.set_paused(job, clock, paused)
        if self.on_pause is not None:
            self.on_pause(job, clock, paused)
        log.info("%s job=%s clock=%s", "paused" if paused else "resumed", job, clock or "*")

    # -- backfill ----------------------------------------------------------------------------

    async def backfill(
        self,
        job: str,
        clock: str,
        start: datetime,
        end: datetime,
        *,
        dry_run: bool = False,
        given: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One run per fire of `clock` in [start, end], trigger "backfill", each with its own
        scheduled_time (so dynamic values are computed for that time) and the values `given`
        for all of them. Fires that already have a run are listed with run_id None and not
        run again. UserError past `MAX_BACKFILL_FIRES`; ParameterError for bad `given`."""
        import asyncio

        from scheduler.scheduling.backfill import backfill_times, plan_entries

        job_obj = self._job(job)
        clock_obj = self.book.effective(job, self._clock(job_obj, clock))
        # Counting a large range takes a while: off the loop (clocks are pure).
        times = await asyncio.to_thread(backfill_times, clock_obj, start, end)
        entries = plan_entries(job_obj, clock_obj, times, given)
        if dry_run or not times:
            return entries

        def already_run(store: RunStore) -> set[datetime]:
            return {moment for moment in times if store.has_fire(job, clock, moment)}

        done = await self.reader.call(already_run)
        todo = [moment for moment in times if moment not in done]
        if not todo:
            return entries
        if self.firing is None:
            raise UserError("backfill needs the daemon's firing path")
        result = await self.firing.claim([Due(job, clock, todo, "backfill", dict(given or {}))])
        by_time = {moment.isoformat(): run_id for (_, _, moment), run_id in result.run_ids.items()}
        for entry in entries:
            entry["run_id"] = by_time.get(entry["time"])
        return entries
