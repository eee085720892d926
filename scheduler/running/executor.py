"""Run execution: slots, overlap, retries, timeout, cancel, hooks and state transitions.

Everything happens on the event loop thread: `submit` queues a run whose row already exists
(state `pending`), and a run starts when a global slot (`max_concurrent_runs`, FIFO), its
job (`max_active_runs`) and its clock (`overlap`) allow it.

Policies, as implemented:
- `overlap` applies to runs that carry a clock, per (job, clock). `skip` records a run fired
  by the clock (trigger clock or catchup) as `skipped` when a run of that clock is pending or
  running; runs the user asked for (manual, api, backfill, child) with a clock wait instead,
  as with `queue`. `queue` starts a run of the clock only when no run of it is running.
- `timeout` kills the process group (SIGTERM, then SIGKILL after `kill_grace`) → `timed_out`.
  One process's start, wait and kill is `scheduler/attempts.py`; retries stay here.
- `retries` re-run the same row after `retry_delay` when an attempt failed or timed out; the
  `attempt` column counts starts and each retry leaves a clockd line in the log.
- `on_success` runs after `succeeded`; `on_failure` after `failed` or `timed_out` (not after
  `cancelled` or `skipped`). Hooks run after the process ended and before the final state is
  written, so a log follower sees their lines; they never change the state.
- A secret that cannot be resolved makes the run `failed` with the reason; `on_failure` fires.
- `cancel`: a pending run becomes `cancelled` at once; a running one is killed, then `cancelled`.
- `shutdown(grace)`: pending runs become `cancelled`; running runs get `grace`, then are
  killed and marked `cancelled`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from scheduler.models import RunState, Trigger
from scheduler.running import hooks
from scheduler.running.local.attempts import Outcome, Run, run_attempt
from scheduler.running.local.process import LogLimiter
from scheduler.running.secrets import SecretError
from scheduler.storage.sqlite.store import LogLine, RunRecord

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import DaemonSettings, Job
    from scheduler.storage.writer import StoreWriter

log = logging.getLogger("clockd.executor")

FLUSH_INTERVAL = 0.1  # seconds between log writes to the store
FLUSH_LINES = 100  # or sooner, when this many lines wait
# While runs are being started (one per loop pass, slots free), state changes (running,
# final states) wait until starting stops, at most this long: starting runs comes first, and
# a burst's changes go in a few transactions instead of one commit per run. Otherwise they
# are written at the end of the loop pass that made them.
STATE_WRITE_DELAY = 0.5
_SKIPPING_TRIGGERS = frozenset({Trigger.clock.value, Trigger.catchup.value})


def _now() -> datetime:
    return datetime.now(UTC)


class Executor:
    """Runs runs. See the module docstring for the policies."""

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
        kill_grace: timedelta = timedelta(seconds=5),
        hook_timeout: timedelta = timedelta(seconds=60),
    ) -> None:
        self.writer = writer
        self.settings = settings
        self.api_url = api_url
        self.child_token = child_token
        self.on_event = on_event
        self.echo = echo
        self.environ = os.environ if environ is None else environ
        self.kill_grace = kill_grace
        self.hook_timeout = hook_timeout
        self._pending: deque[Run] = deque()
        self._active: dict[int, Run] = {}  # pending and running, by run id
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._log_buffer: list[tuple[int, datetime, str, str]] = []
        self._running = 0
        self._hook_tasks: set[asyncio.Task[None]] = set()
        # State changes not yet written (in order), and the runs whose "finished" event waits
        # for that write: a reader woken by the event must find the final state stored.
        self._writes: list[tuple[int, dict[str, Any]]] = []
        self._finished: list[Run] = []
        # Runs that ended and whose final state is not stored yet: readers get this record.
        self._unwritten: dict[int, RunRecord] = {}
        self._write_handle: asyncio.Handle | None = None
        self._start_handle: asyncio.Handle | None = None
        self._base_env: dict[str, tuple[Job, dict[str, str]]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None

    # --- public ----------------------------------------------------------------------------

    def submit(
        self,
        run_id: int,
        job: Job,
        resolved: ResolvedParameters,
        record: RunRecord,
    ) -> None:
        """Queue a run whose row exists in state `pending`. Call on the event loop thread.

        `record` is that row. What this changes in it (a run name, `skipped`) is written
        behind; `live_record` answers with it meanwhile."""
        run = Run(record=record, job=job, resolved=resolved)
        run.log = LogLimiter(self.settings.max_log_bytes, self._sink(run))
        self._name_run(run)
        if self._closed:
            self._finish_unstarted(run, RunState.cancelled, "the daemon is stopping")
            return
        key = run.clock_key
        if key is not None and job.overlap == "skip" and record.trigger in _SKIPPING_TRIGGERS:
            previous = next((r for r in self._active.values() if r.clock_key == key), None)
            if previous is not None:
                self._finish_unstarted(
                    run, RunState.skipped, f"previous run {previous.id} still active"
                )
                return
        self._active[run_id] = run
        self._pending.append(run)
        self._idle.clear()
        self._dispatch()

    def fail_before_start(self, record: RunRecord, job: Job, error: str) -> None:
        """A run recorded `failed` before it could start (its parameters failed at fire time):
        its `on_failure` hooks still run, in the background; the row is not changed."""
        if not job.on_failure:
            return
        from clocks.parameters import ResolvedParameters

        run = Run(
            record=record,
            job=job,
            resolved=ResolvedParameters(values=dict(record.parameters), secrets=frozenset()),
        )
        run.log = LogLimiter(self.settings.max_log_bytes, self._sink(run))
        task = asyncio.get_running_loop().create_task(
            self._hooks(run, Outcome(RunState.failed, error=error)), name=f"clockd-hooks-{run.id}"
        )
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)
        task.add_done_callback(lambda _: self._flush())

    async def cancel(self, run_id: int) -> bool:
        """Cancel a run; waits until its state is recorded. False when there is nothing to do."""
        run = self._active.get(run_id)
        if run is None:
            return False
        if not run.running:
            self._pending.remove(run)
            self._finish_unstarted(run, RunState.cancelled, "cancelled")
            self._dispatch()
        else:
            self._request_cancel(run, "cancelled")
            if run.task is not None:
                await asyncio.wait({run.task}, timeout=self.kill_grace.total_seconds() + 10)
        self.write_pending()
        return True

    def live_record(self, run_id: int) -> RunRecord | None:
        """The record of a run this executor holds (pending, running, or ended and not yet
        stored): newer than the store's row."""
        run = self._active.get(run_id)
        if run is not None:
            return run.record
        return self._unwritten.get(run_id)

    def active_runs(self, job: str, clock: str | None = None) -> int:
        """Pending and running runs of a job (and clock) in this executor."""
        return sum(
            1
            for run in self._active.values()
            if run.record.job == job and (clock is None or run.record.clock == clock)
        )

    def pending_count(self) -> int:
        return len(self._pending)

    def running_count(self) -> int:
        return self._running

    async def wait_idle(self) -> None:
        """Until no run is pending or running (nor a hook of an unstarted run) and every log
        line is stored."""
        await self._idle.wait()
        if self._hook_tasks:
            await asyncio.wait(set(self._hook_tasks))
        self.write_pending()
        await self.writer.drained()

    async def shutdown(self, grace: timedelta) -> None:
        """Stop: pending runs are cancelled; running runs get `grace`, then are killed."""
        self._closed = True
        while self._pending:
            run = self._pending.popleft()
            self._finish_unstarted(run, RunState.cancelled, "the daemon stopped before it started")
        tasks = {run.task for run in self._active.values() if run.task is not None}
        if tasks:
            _, left = await asyncio.wait(tasks, timeout=max(grace.total_seconds(), 0))
            if left:
                reason = f"the daemon stopped; killed after the shutdown grace of {grace}"
                for run in list(self._active.values()):
                    self._request_cancel(run, reason)
                await asyncio.wait(left, timeout=self.kill_grace.total_seconds() + 10)
        self.write_pending()

    # --- scheduling ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start what the slots allow, one run per loop pass (`_start_next`).

        Spawning one run per pass lets the loop read the pipes and exits of the runs already
        started in between; 1,000 spawns in one pass cost about a third more in all, as every
        later spawn copies the open descriptors of all earlier ones (benchmarks/daemon.py)."""
        if self._start_handle is None and self._pending and not self._closed:
            self._start_handle = asyncio.get_running_loop().call_soon(self._start_next)

    def _start_next(self) -> None:
        self._start_handle = None
        self._start_one()
        if self._start_handle is None and self._write_handle is not None:
            # Starting is over for now (nothing left, or no free slot): write what waited.
            self._write_handle.cancel()
            self._write_handle = asyncio.get_running_loop().call_soon(self.write_pending)

    def _start_one(self) -> None:
        limit = self.settings.max_concurrent_runs
        if self._closed or (limit > 0 and self.running_count() >= limit):
            return
        run = next((run for run in self._pending if self._may_start(run)), None)
        if run is None:
            return  # the rest wait for a slot: `_release` dispatches again
        self._pending.remove(run)
        run.running = True
        self._running += 1
        loop = asyncio.get_running_loop()
        # The task spawns in its first step, on the next pass, with the next `_start_next`.
        run.task = loop.create_task(self._execute(run), name=f"clockd-run-{run.id}")
        if self._pending:
            self._start_handle = loop.call_soon(self._start_next)

    def _may_start(self, run: Run) -> bool:
        job = run.job
        key = run.clock_key
        if job.max_active_runs <= 0 and (key is None or job.overlap == "allow"):
            return True  # the common case, without a look at every active run
        running = [r for r in self._active.values() if r.running]
        if job.max_active_runs > 0:
            if sum(1 for r in running if r.record.job == job.name) >= job.max_active_runs:
                return False
        if key is not None and job.overlap != "allow":
            if any(r.clock_key == key for r in running):
                return False
        return True

    def _release(self, run: Run) -> None:
        self._active.pop(run.id, None)
        if run.running:
            run.running = False
            self._running -= 1
        if not self._active:
            self._idle.set()
        if not self._closed:
            self._dispatch()

    # --- one run ---------------------------------------------------------------------------

    async def _execute(self, run: Run) -> None:
        try:
            await self._run(run)
        except Exception as error:  # a bug here must not leave a run "running" forever
            log.exception("run failed inside clockd run_id=%s", run.id)
            self._finish(
                run,
                state=RunState.failed,
                ended_at=_now(),
                error=f"internal clockd error: {error!r}",
            )
        finally:
            self._release(run)

    async def _run(self, run: Run) -> None:
        job, record = run.job, run.record
        # The run becomes `running` when its process exists (`_started_process`), so that
        # started_at is the real start; a run that fails before (a missing secret) goes from
        # pending straight to failed.
        outcome = await self._attempts(run)
        ended_at = _now()
        await self._hooks(run, outcome)
        self._finish(
            run,
            state=outcome.state,
            ended_at=ended_at,
            exit_code=outcome.exit_code,
            error=outcome.error,
            result=outcome.result,
        )
        log.info(
            "run finished job=%s clock=%s run_id=%s state=%s",
            job.name,
            record.clock,
            run.id,
            outcome.state.value,
        )

    async def _attempts(self, run: Run) -> Outcome:
        from clocks.templates import TemplateError

        job = run.job
        try:
            values = hooks.resolve_secrets(run.resolved, self.environ, base_dir=job.workdir)
        except SecretError as error:
            return Outcome(RunState.failed, error=str(error))
        env = hooks.run_env(
            environ=self.environ,
            base=self._job_env(job),
            job=job,
            record=run.record,
            values=values,
            api_url=self.api_url,
            child_token=self.child_token,
        )
        try:
            argv = self._argv(run)
        except TemplateError as error:
            return Outcome(RunState.failed, error=str(error))
        attempts = 1 + max(job.retries, 0)
        outcome = Outcome(RunState.failed, error="not started")
        for attempt in range(1, attempts + 1):
            if run.cancel_reason is not None:  # cancelled between its start and its spawn
                return Outcome(RunState.cancelled, error=run.cancel_reason)
            if attempt > 1:
                self._update(run, attempt=attempt)
            if attempts > 1:
                run.log.clockd(f"[clockd: attempt {attempt} of {attempts}]")
            outcome = await run_attempt(
                run, argv, env, values, on_started=self._started_process, kill_grace=self.kill_grace
            )
            if outcome.state not in (RunState.failed, RunState.timed_out) or attempt == attempts:
                break
            delay = job.retry_delay.total_seconds()
            run.log.clockd(
                f"[clockd: attempt {attempt} of {attempts} {outcome.state.value}: "
                f"{outcome.error}; retrying in {job.retry_delay}]"
            )
            await asyncio.wait({run.cancelled}, timeout=delay)
            if run.cancel_reason is not None:
                return Outcome(RunState.cancelled, error=run.cancel_reason)
        return outcome

    def _job_env(self, job: Job) -> dict[str, str]:
        """The daemon's environment with the job's `env`, built once per job (not per run)."""
        cached = self._base_env.get(job.name)
        if cached is None or cached[0] is not job:  # a reload brings new Job objects
            cached = (job, hooks.base_env(self.environ, job))
            self._base_env[job.name] = cached
        return cached[1]

    def _argv(self, run: Run) -> list[str]:
        job = run.job
        if job.target is not None:
            return [job.python or sys.executable, "-m", "scheduler.pyrunner"]
        assert job.command is not None, f"job {job.name} has neither command nor target"
        if not any("{{" in item or "{%" in item for item in job.command):
            return list(job.command)  # nothing to render: no template context to build
        context = hooks.template_context(run.record, run.resolved.masked(), self._timezone(run))
        return hooks.render_argv("command", job.command, context)

    def _request_cancel(self, run: Run, reason: str) -> None:
        if run.cancel_reason is None:
            run.cancel_reason = reason
        if not run.cancelled.done():
            run.cancelled.set_result(None)

    # --- hooks, names, events, logs ----------------------------------------------------------

    async def _hooks(self, run: Run, outcome: Outcome) -> None:
        job = run.job
        if outcome.state == RunState.succeeded:
            kind, templates = "on_success", job.on_success
        elif outcome.state in (RunState.failed, RunState.timed_out):
            kind, templates = "on_failure", job.on_failure
        else:
            return
        if not templates:
            return
        record = run.record
        masked = run.resolved.masked()
        try:
            context = hooks.template_context(
                record,
                masked,
                self._timezone(run),
                for_hook=True,
                state=outcome.state.value,
                error=outcome.error,
                exit_code=outcome.exit_code,
            )
        except Exception as error:  # around each hook: nothing a hook does changes the run
            run.log.clockd(f"[clockd: {kind}: hook not run: {error}]")
            return
        env = hooks.base_env(self.environ, job)
        env.update(
            {
                "CLOCKD_RUN_ID": str(record.id),
                "CLOCKD_JOB": record.job,
                "CLOCKD_CLOCK": record.clock or "",
                "CLOCKD_SCHEDULED_TIME": record.scheduled_time.isoformat(),
                "CLOCKD_PARAMETERS": json.dumps(masked, ensure_ascii=False),
                "CLOCKD_STATE": outcome.state.value,
            }
        )
        try:
            await hooks.run_hook(
                kind,
                templates,
                context=context,
                env=env,
                cwd=job.workdir,
                log=self._sink(run),
                timeout=self.hook_timeout,
            )
        except Exception as error:
            run.log.clockd(f"[clockd: {kind}: hook failed inside clockd: {error!r}]")

    def _name_run(self, run: Run) -> None:
        if run.record.name is not None or not run.job.run_name:
            return
        from clocks.templates import TemplateError, render

        try:
            context = hooks.template_context(run.record, run.resolved.masked(), self._timezone(run))
            name = render(run.job.run_name, context)
        except TemplateError as error:
            run.log.clockd(f"[clockd: run_name: {error}]")
            return
        self._update(run, name=name)

    def _timezone(self, run: Run) -> str:
        clock = run.job.clock(run.record.clock) if run.record.clock else None
        return clock.timezone if clock is not None else self.settings.timezone

    def _finish_unstarted(self, run: Run, state: RunState, error: str) -> None:
        self._active.pop(run.id, None)
        self._finish(run, state=state, ended_at=_now(), error=error)
        log.info("run %s job=%s run_id=%s: %s", state.value, run.job.name, run.id, error)
        if not self._active:
            self._idle.set()

    def _started_process(self, run: Run) -> None:
        """The first process of `run` exists: record it (written with other state changes)."""
        self._update(
            run, state=RunState.running, started_at=_now(), attempt=max(run.record.attempt, 1)
        )
        self._emit("started", run)
        record = run.record
        log.info(
            "run started job=%s clock=%s trigger=%s scheduled_time=%s run_id=%s",
            run.job.name,
            record.clock,
            record.trigger,
            record.scheduled_time.isoformat(),
            run.id,
        )

    def _update(self, run: Run, **fields: Any) -> None:
        """Set fields of `run` in its in-memory record (events read that) at once, and in the
        store with the next `write_pending`."""
        for name, value in fields.items():
            setattr(run.record, name, value.value if isinstance(value, RunState) else value)
        self._writes.append((run.id, fields))
        if self._closed:  # stopping: there may be no later loop pass to write it
            self.write_pending()
        elif self._write_handle is None:
            loop = asyncio.get_running_loop()
            if self._start_handle is not None:  # runs are being started, one per loop pass
                self._write_handle = loop.call_later(STATE_WRITE_DELAY, self.write_pending)
            else:
                self._write_handle = loop.call_soon(self.write_pending)

    def _finish(self, run: Run, **fields: Any) -> None:
        """The run's final state: written like any change, "finished" sent once it is stored."""
        self._update(run, **fields)
        self._finished.append(run)
        self._unwritten[run.id] = run.record

    def write_pending(self) -> None:
        """Store queued log lines, then queued state changes in one transaction, then send the
        "finished" events they complete. In-process readers call this before reading a run."""
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = None
        self._flush()  # a run's last lines are stored before its final state
        writes, self._writes = self._writes, []
        finished, self._finished = self._finished, []
        if not writes and not finished:
            return

        def written(result: object, error: BaseException | None) -> None:
            if error is not None:  # not transient (those are retried): a bug, said loudly
                log.error("cannot record run states count=%d", len(writes), exc_info=error)
            self._written(finished)

        # Even with no change left to write, "finished" waits for the writes queued before
        # (the writer keeps their order), which may hold these runs' final states.
        self.writer.submit(lambda store: store.update_runs(writes), "run states", written)

    def _written(self, finished: list[Run]) -> None:
        """The final states of `finished` are stored: readers may read them from the store."""
        for run in finished:
            self._unwritten.pop(run.id, None)
            self._emit("finished", run)

    def _emit(self, event: str, run: Run) -> None:
        self._emit_record(event, run.record)

    def _emit_record(self, event: str, record: RunRecord) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, record)
        except Exception:
            log.exception("on_event callback failed event=%s run_id=%s", event, record.id)

    def _sink(self, run: Run) -> Callable[[datetime, str, str], None]:
        run_id = run.id

        def sink(moment: datetime, stream: str, text: str) -> None:
            run.seq += 1
            self._log_buffer.append((run_id, moment, stream, text))
            if self.echo is not None:
                try:
                    self.echo(LogLine(seq=run.seq, time=moment, stream=stream, text=text))
                except Exception:
                    log.exception("echo callback failed run_id=%s", run_id)
            if len(self._log_buffer) >= FLUSH_LINES:
                self._flush()
            elif self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_later(
                    FLUSH_INTERVAL, self._flush
                )

        return sink

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._log_buffer:
            return
        lines, self._log_buffer = self._log_buffer, []
        by_run: dict[int, list[tuple[datetime, str, str]]] = {}
        for run_id, moment, stream, text in lines:
            by_run.setdefault(run_id, []).append((moment, stream, text))

        def stored(result: object, error: BaseException | None) -> None:
            if error is not None:
                log.error("cannot store log lines runs=%d", len(by_run), exc_info=error)
                return
            for run_id in by_run:
                record = self.live_record(run_id)
                if record is not None:  # wakes log followers (SSE) now, not at their next poll
                    self._emit_record("log", record)

        self.writer.submit(lambda store: store.append_logs(by_run), "log lines", stored)
