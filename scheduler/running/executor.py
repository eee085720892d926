"""Run policy: when a run starts, how often it is attempted, and what comes after it.

Everything happens on the event loop thread. `submit` queues a run whose row exists (state
`pending`); it starts when the `RunQueue` lets it (a slot of `max_concurrent_runs`, FIFO; its
job's `max_active_runs`; its clock's `overlap`). Each attempt is done by the job's `RunBackend`;
state changes and log lines are written behind (`RunWriteBehind`).

- `overlap = "skip"`: a clock's run is `skipped` while one of its runs is active (`RunQueue`).
- `retries` (`retries.py`) re-run the same row after `retry_delay`; a run recorded `crashed`
  whose process is known to be gone comes back through `resubmit` as its next attempt.
- Hooks run after the last attempt and before the final state is written, so a log follower
  sees their lines; they never change the state.
- `cancel`: a pending run becomes `cancelled` at once; a running one is killed, then
  `cancelled`. `shutdown(grace)`: pending runs are cancelled; running ones get `grace`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from scheduler.models import RunState
from scheduler.running import environment, hooks, retries
from scheduler.running.backend import Outcome, RunBackend, Started
from scheduler.running.local.backend import LocalBackend
from scheduler.running.local.process import LogLimiter
from scheduler.running.run import Run
from scheduler.running.runqueue import RunQueue
from scheduler.running.writebehind import RunWriteBehind
from scheduler.timesource import SYSTEM_TIME, TimeSource

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import DaemonSettings, Job
    from scheduler.storage.records import LogLine, RunRecord
    from scheduler.storage.writer import StoreWriter

log = logging.getLogger("clockd.executor")


class Executor:
    """Runs runs (module docstring). `environ`: the daemon's, secrets resolve from it;
    `hidden_env()`: what runs must not inherit; `backend_for(job)`: each job's backend
    (`running/backends.py`; None or no `backend_for`: the local one)."""

    def __init__(
        self,
        writer: StoreWriter,
        settings: DaemonSettings,
        *,
        api_url: str | None,
        child_token: str | None,
        on_event: Callable[[str, RunRecord], None] | None = None,
        echo: Callable[[LogLine], None] | None = None,
        environ: Mapping[str, str] | None = None,
        hidden_env: Callable[[], frozenset[str]] = frozenset,
        backend_for: Callable[[Job], RunBackend | None] | None = None,
        time_source: TimeSource = SYSTEM_TIME,
        kill_grace: timedelta = timedelta(seconds=5),
        hook_timeout: timedelta = timedelta(seconds=60),
    ) -> None:
        self.writer = writer
        self.settings = settings
        self.on_event = on_event
        self.time_source = time_source
        self.kill_grace = kill_grace
        self.environment = environment.DaemonEnvironment(environ, hidden_env)
        self.local = LocalBackend(self.environment, kill_grace=kill_grace)
        self._backend_for = backend_for
        self.writes = RunWriteBehind(
            writer, emit=self._emit, echo=echo, is_starting=lambda: self._start_handle is not None
        )
        self._hooks = partial(
            hooks.after_run,
            environment=self.environment,
            timezone=settings.timezone,
            timeout=hook_timeout,
            time_source=time_source,
        )
        self._first_attempt = partial(
            Run.first_attempt,
            default_timezone=settings.timezone,
            api_url=api_url,
            child_token=child_token,
        )
        self._queue = RunQueue(settings.max_concurrent_runs)
        self._closed = False
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._start_handle: asyncio.Handle | None = None
        # The fencing gate (spec 8): while it says no, no run starts (the daemon could not
        # tell the others it is alive; `resume_starting()` once it can).
        self.may_start: Callable[[], bool] = lambda: True

    # --- public ----------------------------------------------------------------------------

    def submit(
        self,
        run_id: int,
        job: Job,
        resolved: ResolvedParameters,
        record: RunRecord,
        *,
        attempt: int = 1,
        note: str | None = None,
    ) -> None:
        """Queue a run whose row exists in state `pending` (`record`: that row). What this
        changes in it (a name, `skipped`) is written behind; `live_record` answers meanwhile.
        `attempt`: the one it starts with (`resubmit`); `note`: a clockd line for its log."""
        sink = self.writes.sink(record)
        limiter = LogLimiter(self.settings.max_log_bytes, sink, time_source=self.time_source)
        run = Run(record, job, resolved, self.backend_for(job), sink, limiter, first_number=attempt)
        if note is not None:
            run.log.clockd(note)
        name = run.rendered_name(self.settings.timezone)
        if name is not None:
            self.writes.change(record, name=name)
        if self._closed:
            return self._finish_unstarted(run, RunState.cancelled, "the daemon is stopping")
        conflict = self._queue.overlap_conflict(run, attempt)
        if conflict is not None:
            return self._finish_unstarted(run, RunState.skipped, conflict)
        self._queue.add(run)
        self._dispatch()

    def resubmit(
        self,
        record: RunRecord,
        job: Job,
        resolved: ResolvedParameters,
        **fields: Any,
    ) -> int | None:
        """Queue again, as its next attempt, a run recorded `crashed` whose processes are
        known to be gone (spec 3; `retries.reopen_crashed`); the number of that attempt, or
        None when `job` has no retry left. It starts `retry_delay` after it gets a slot."""
        reopened = retries.reopen_crashed(record, job, self.writes, **fields)
        if reopened is None:
            return None
        number, note = reopened
        self.submit(record.id, job, resolved, record, attempt=number, note=note)
        log.info("run resubmitted job=%s run_id=%s attempt=%d", job.name, record.id, number)
        return number

    def fail_before_start(self, record: RunRecord, job: Job, error: str) -> None:
        """A run recorded `failed` before it could start (its parameters failed at fire time):
        its `on_failure` hooks still run, in the background; the row is not changed."""
        if not job.on_failure:
            return
        from clocks.parameters import ResolvedParameters

        resolved = ResolvedParameters(values=dict(record.parameters), secrets=frozenset())
        outcome = Outcome(RunState.failed, error=error)
        work = self._hooks(job, record, resolved, outcome, log=self.writes.sink(record))
        task = asyncio.get_running_loop().create_task(work, name=f"clockd-hooks-{record.id}")
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)
        task.add_done_callback(lambda _: self.writes.flush())

    async def cancel(self, run_id: int) -> bool:
        """Cancel a run; waits until its state is recorded. False when there is nothing to do."""
        run = self._queue.active.get(run_id)
        if run is None:  # a row no executor holds is the service's to cancel
            return False
        if not run.running:
            self._queue.pending.remove(run)
            self._finish_unstarted(run, RunState.cancelled, "cancelled")
            self._dispatch()
        else:
            run.request_cancel("cancelled")
            if run.task is not None:
                await asyncio.wait({run.task}, timeout=self.kill_grace.total_seconds() + 10)
        self.write_pending()
        return True

    def backend_for(self, job: Job) -> RunBackend:
        """The backend that runs `job`'s attempts."""
        if self._backend_for is None:
            return self.local
        return self._backend_for(job) or self.local

    def live_record(self, run_id: int) -> RunRecord | None:
        """A run this executor holds (pending, running, ended but unstored): newer than stored."""
        run = self._queue.active.get(run_id)
        return run.record if run is not None else self.writes.unwritten(run_id)

    def active_runs(self, job: str, clock: str | None = None) -> int:
        """Pending and running runs of a job (and clock) in this executor."""
        return self._queue.count(job, clock)

    def pending_count(self) -> int:
        return len(self._queue.pending)

    def running_count(self) -> int:
        return self._queue.running + self._queue.remote_running

    def write_pending(self) -> None:
        """Store queued log lines and state changes now (before reading a run back)."""
        self.writes.write_pending()

    async def wait_idle(self) -> None:
        """Until no run is pending or running (nor a hook of an unstarted run) and every log
        line is stored."""
        await self._queue.idle.wait()
        if self._hook_tasks:
            await asyncio.wait(set(self._hook_tasks))
        self.write_pending()
        await self.writer.drained()

    async def shutdown(self, grace: timedelta) -> None:
        """Stop: pending runs are cancelled; running runs get `grace`, then are killed."""
        self._closed = True
        self.writes.at_once = True  # there may be no later loop pass to write changes
        while self._queue.pending:
            run = self._queue.pending.popleft()
            self._finish_unstarted(run, RunState.cancelled, "the daemon stopped before it started")
        tasks = {run.task for run in self._queue.active.values() if run.task is not None}
        if tasks:
            _, left = await asyncio.wait(tasks, timeout=max(grace.total_seconds(), 0))
            if left:
                reason = f"the daemon stopped; killed after the shutdown grace of {grace}"
                for run in list(self._queue.active.values()):
                    run.request_cancel(reason)
                await asyncio.wait(left, timeout=self.kill_grace.total_seconds() + 10)
        self.write_pending()

    # --- scheduling ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start what the queue allows, one run per loop pass (`_start_next`).

        Spawning one run per pass lets the loop read the pipes and exits of the runs already
        started in between; 1,000 spawns in one pass cost about a third more in all, as every
        later spawn copies the open descriptors of all earlier ones (benchmarks/daemon.py)."""
        if self._start_handle is None and self._queue.pending and not self._closed:
            self._start_handle = asyncio.get_running_loop().call_soon(self._start_next)

    def resume_starting(self) -> None:
        """The fencing gate opened again: start what waited."""
        self._dispatch()

    def _start_next(self) -> None:
        self._start_handle = None
        run = None if self._closed or not self.may_start() else self._queue.take_next()
        if run is not None:  # else the rest wait for a slot: a run's end dispatches again
            loop = asyncio.get_running_loop()
            # The task spawns in its first step, on the next pass, with the next `_start_next`.
            run.task = loop.create_task(self._execute(run), name=f"clockd-run-{run.id}")
            if self._queue.pending:
                self._start_handle = loop.call_soon(self._start_next)
        if self._start_handle is None:  # starting is over for now: write what waited
            self.writes.starting_stopped()

    # --- one run ---------------------------------------------------------------------------

    async def _execute(self, run: Run) -> None:
        record = run.record
        try:
            on_started = partial(self._started, run)
            outcome = await retries.attempt_until_done(
                run, self._first_attempt, on_started, self.writes
            )
            run.log.finish()  # the log's tail, after its marker when it was capped
            ended_at = self.time_source.now()
            await self._hooks(run.job, record, run.resolved, outcome, log=run.sink)
            self.writes.finish(record, ended_at=ended_at, **outcome.run_fields())
            args = (run.job.name, record.clock or "-", run.id, outcome.state.value)
            log.info("run finished job=%s clock=%s run_id=%s state=%s", *args)
        except Exception as error:  # a bug here must not leave a run "running" forever
            log.exception("run failed inside clockd run_id=%s", run.id)
            run.log.finish()
            now, text = self.time_source.now(), f"internal clockd error: {error!r}"
            self.writes.finish(record, state=RunState.failed, ended_at=now, error=text)
        finally:  # its slot is free: `_dispatch` starts the next run
            self._queue.drop(run)
            self._dispatch()

    def _started(self, run: Run, started: Started | None = None) -> None:
        """An attempt's process exists (`RunWriteBehind.start`)."""
        record = run.record
        if self.writes.start(record, started, self.time_source.now()):
            self._emit("started", record)
            when = record.scheduled_time.isoformat()
            message = "run started job=%s clock=%s trigger=%s scheduled_time=%s run_id=%s"
            log.info(message, run.job.name, record.clock or "-", record.trigger, when, run.id)

    def _finish_unstarted(self, run: Run, state: RunState, error: str) -> None:
        self._queue.drop(run)
        self.writes.finish(run.record, state=state, ended_at=self.time_source.now(), error=error)
        log.info("run %s job=%s run_id=%s: %s", state.value, run.job.name, run.id, error)

    def _emit(self, event: str, record: RunRecord) -> None:
        try:
            if self.on_event is not None:
                self.on_event(event, record)
        except Exception:
            log.exception("on_event callback failed event=%s run_id=%s", event, record.id)
