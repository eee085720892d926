"""The executor's policies with a scripted backend (no processes) and a real SQLite file:
retries, overlap, slots, max_active_runs, cancel, shutdown, and what an attempt is given."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clocks.parameters import ParameterSet, ResolvedParameters
from scheduler.models import DaemonSettings, Job, RunState
from scheduler.running.executor import Executor
from scheduler.storage.sqlite.store import NewRun, RunRecord, Store
from scheduler.storage.writer import StoreWriter
from tests.helpers import wait_until_async as wait_until
from tests.running.fake_backend import FakeBackend, Step

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class World:
    """A store on a temp file and an executor whose every job goes to `backend`."""

    def __init__(
        self,
        tmp_path: Path,
        backend: FakeBackend,
        remote: FakeBackend | None = None,
        **settings: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.backend = backend
        self.store = Store.open(tmp_path / "clockd.db")
        self.events: list[tuple[str, int, str]] = []
        # Built inside the test's event loop (play): the writer answers on that loop.
        self.writer = StoreWriter(self.store, loop=asyncio.get_running_loop())
        self.writer.start()
        self.executor = Executor(
            self.writer,
            DaemonSettings(database=str(tmp_path / "clockd.db"), **settings),
            api_url="http://127.0.0.1:9",
            child_token="child-token",
            on_event=lambda event, record: self.events.append((event, record.id, record.state)),
            environ={},
            # Jobs of another executor than "local" go to `remote` (spec 9), when given.
            backend_for=lambda job: remote if remote and job.executor != "local" else backend,
        )
        self._minute = 0

    def job(self, name: str = "job", **fields: Any) -> Job:
        parameters = ParameterSet.from_declarations(fields.pop("parameters", {}))
        fields.setdefault("command", ("work",))
        return Job(name=name, parameters=parameters, workdir=self.tmp_path, **fields)

    def submit(
        self,
        job: Job,
        values: Mapping[str, Any] | None = None,
        *,
        clock: str | None = None,
        trigger: str = "manual",
        secrets: frozenset[str] = frozenset(),
    ) -> int:
        resolved = ResolvedParameters(values=dict(values or {}), secrets=secrets)
        self._minute += 1
        run_id = self.store.create_run(
            NewRun(
                job=job.name,
                clock=clock,
                trigger=trigger,
                scheduled_time=T0 + timedelta(minutes=self._minute),
                parameters=resolved.masked(),
            )
        )
        stored = self.store.get_run(run_id)
        assert stored is not None
        self.executor.submit(run_id, job, resolved, stored)
        return run_id

    def run(self, run_id: int) -> RunRecord:
        """As a reader sees it: the executor's record while it holds the run, else the row."""
        record = self.executor.live_record(run_id) or self.store.get_run(run_id)
        assert record is not None
        return record

    def states(self, *run_ids: int) -> list[str]:
        return [self.run(run_id).state for run_id in run_ids]

    def log(self, run_id: int, stream: str) -> list[str]:
        return [line.text for line in self.store.read_log(run_id) if line.stream == stream]


def play(
    tmp_path: Path,
    backend: FakeBackend,
    body: Callable[[World], Awaitable[None]],
    remote: FakeBackend | None = None,
    **settings: Any,
) -> World:
    async def main() -> World:
        world = World(tmp_path, backend, remote, **settings)
        try:
            await asyncio.wait_for(body(world), 30)
        finally:
            await world.executor.shutdown(timedelta(0))
            world.executor.write_pending()
            await asyncio.to_thread(world.writer.close, 10)
            world.store.close()
        return world

    return asyncio.run(main())


def held(attempt: Any) -> Step:
    return Step(hold=True)


# --- retries -----------------------------------------------------------------------------------


def test_retries_count_attempts_until_one_succeeds(tmp_path: Path) -> None:
    backend = FakeBackend(
        {
            "job": [
                Step(RunState.failed, error="exit code 1", exit_code=1),
                Step(RunState.timed_out, error="timed out after 1s", exit_code=-15),
                Step(lines=[("stdout", "third time lucky")]),
            ]
        }
    )

    async def body(w: World) -> None:
        run_id = w.submit(w.job(retries=3, retry_delay=timedelta(0)))
        await w.executor.wait_idle()
        record = w.run(run_id)
        assert (record.state, record.attempt, record.exit_code, record.error) == (
            "succeeded",
            3,
            0,
            None,
        )
        assert [a.number for a in w.backend.attempts] == [1, 2, 3]
        assert w.log(run_id, "stdout") == ["third time lucky"]
        assert w.log(run_id, "clockd") == [
            "[clockd: attempt 1 of 4]",
            "[clockd: attempt 1 of 4 failed: exit code 1; retrying in 0s]",
            "[clockd: attempt 2 of 4]",
            "[clockd: attempt 2 of 4 timed_out: timed out after 1s; retrying in 0s]",
            "[clockd: attempt 3 of 4]",
        ]
        # started once: the run became running with its first process
        assert [e for e in w.events if e[0] == "started"] == [("started", run_id, "running")]

    play(tmp_path, backend, body)


def test_a_timeout_reported_by_the_backend_is_retried_and_the_last_one_recorded(
    tmp_path: Path,
) -> None:
    backend = FakeBackend(held)  # every attempt runs past its timeout

    async def body(w: World) -> None:
        job = w.job(timeout=timedelta(milliseconds=50), retries=1, retry_delay=timedelta(0))
        run_id = w.submit(job)
        await w.executor.wait_idle()
        record = w.run(run_id)
        assert (record.state, record.attempt, record.exit_code, record.error) == (
            "timed_out",
            2,
            -15,
            "timed out after 0.05s",
        )
        assert [a.timeout for a in w.backend.attempts] == [timedelta(milliseconds=50)] * 2

    play(tmp_path, backend, body)


def test_a_failure_the_backend_marks_final_is_not_retried(tmp_path: Path) -> None:
    backend = FakeBackend(
        lambda attempt: Step(RunState.failed, error="secret 'env:K': not set", retryable=False)
    )

    async def body(w: World) -> None:
        run_id = w.submit(w.job(retries=5, retry_delay=timedelta(0)))
        await w.executor.wait_idle()
        assert [a.number for a in w.backend.attempts] == [1]
        assert (w.run(run_id).state, w.run(run_id).error) == ("failed", "secret 'env:K': not set")

    play(tmp_path, backend, body)


def test_a_run_that_never_started_goes_from_pending_to_failed(tmp_path: Path) -> None:
    backend = FakeBackend(lambda attempt: Step(RunState.failed, error="cannot start", starts=False))

    async def body(w: World) -> None:
        run_id = w.submit(w.job())
        await w.executor.wait_idle()
        record = w.run(run_id)
        assert (record.state, record.started_at, record.attempt) == ("failed", None, 0)
        assert record.ended_at is not None
        assert [event for event, _, _ in w.events] == ["finished"]

    play(tmp_path, backend, body)


def test_cancel_during_the_retry_delay_stops_retrying(tmp_path: Path) -> None:
    backend = FakeBackend(lambda attempt: Step(RunState.failed, error="exit code 1"))

    async def body(w: World) -> None:
        run_id = w.submit(w.job(retries=5, retry_delay=timedelta(seconds=30)))
        await wait_until(lambda: len(w.backend.attempts) == 1, 5, "the first attempt")
        assert await w.executor.cancel(run_id)
        record = w.run(run_id)
        assert (record.state, record.error, record.attempt) == ("cancelled", "cancelled", 1)
        assert len(w.backend.attempts) == 1

    play(tmp_path, backend, body)


# --- slots, overlap, max_active_runs -----------------------------------------------------------


def test_slots_start_runs_in_fifo_order_and_never_more_than_the_limit(tmp_path: Path) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        ids = [w.submit(w.job(f"j{i}")) for i in range(4)]
        await wait_until(lambda: len(backend.started) == 2, 5, "two runs started")
        assert backend.started == ids[:2]
        assert (w.executor.running_count(), w.executor.pending_count()) == (2, 2)
        assert w.states(*ids) == ["running", "running", "pending", "pending"]
        backend.release(ids[1])
        await wait_until(lambda: len(backend.started) == 3, 5, "the third run started")
        assert backend.started == [ids[0], ids[1], ids[2]]
        assert backend.running == {ids[0], ids[2]}
        backend.release(ids[0])
        await wait_until(lambda: len(backend.started) == 4, 5, "the fourth run started")
        backend.release(ids[2])
        backend.release(ids[3])
        await w.executor.wait_idle()
        assert backend.started == ids
        assert w.states(*ids) == ["succeeded"] * 4

    play(tmp_path, backend, body, max_concurrent_runs=2)


def test_max_active_runs_holds_back_one_job_and_lets_others_pass(tmp_path: Path) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        limited = w.job("limited", max_active_runs=1)
        first, second = w.submit(limited), w.submit(limited)
        other = w.submit(w.job("free"))
        await wait_until(lambda: len(backend.started) == 2, 5, "two runs started")
        assert backend.started == [first, other]
        assert w.executor.active_runs("limited") == 2
        backend.release(first)
        await wait_until(lambda: second in backend.running, 5, "the second run of 'limited'")
        backend.release(second)
        backend.release(other)
        await w.executor.wait_idle()

    play(tmp_path, backend, body)


def test_overlap_skip_records_a_clock_fire_as_skipped_but_a_user_run_waits(
    tmp_path: Path,
) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        job = w.job(overlap="skip")
        first = w.submit(job, clock="fast", trigger="clock")
        skipped = w.submit(job, clock="fast", trigger="catchup")
        asked = w.submit(job, clock="fast", trigger="api")
        other_clock = w.submit(job, clock="slow", trigger="clock")
        await wait_until(lambda: len(backend.started) == 2, 5, "two runs started")
        record = w.run(skipped)
        assert (record.state, record.error) == ("skipped", f"previous run {first} still active")
        assert (record.started_at, record.attempt) == (None, 0)
        assert ("finished", skipped, "skipped") in w.events
        assert backend.started == [first, other_clock]
        assert w.states(asked) == ["pending"]
        backend.release(first)
        await wait_until(lambda: asked in backend.running, 5, "the user's run to start")
        backend.release(asked)
        backend.release(other_clock)
        await w.executor.wait_idle()
        assert skipped not in [a.run_id for a in backend.attempts]

    play(tmp_path, backend, body)


def test_overlap_queue_waits_for_the_previous_run_of_the_same_clock(tmp_path: Path) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        job = w.job(overlap="queue")
        first = w.submit(job, clock="fast", trigger="clock")
        second = w.submit(job, clock="fast", trigger="clock")
        other = w.submit(job, clock="slow", trigger="clock")
        await wait_until(lambda: len(backend.started) == 2, 5, "two runs started")
        assert backend.started == [first, other]
        backend.release(first)
        await wait_until(lambda: second in backend.running, 5, "the queued run to start")
        backend.release(second)
        backend.release(other)
        await w.executor.wait_idle()
        assert w.states(first, second, other) == ["succeeded"] * 3

    play(tmp_path, backend, body)


# --- cancel, shutdown --------------------------------------------------------------------------


def test_cancel_of_a_pending_run_never_reaches_the_backend(tmp_path: Path) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        running = w.submit(w.job())
        pending = w.submit(w.job())
        await wait_until(lambda: backend.started == [running], 5, "the first run started")
        assert await w.executor.cancel(pending)
        record = w.run(pending)
        assert (record.state, record.error, record.started_at) == ("cancelled", "cancelled", None)
        assert w.executor.pending_count() == 0
        backend.release(running)
        await w.executor.wait_idle()
        assert [a.run_id for a in backend.attempts] == [running]

    play(tmp_path, backend, body, max_concurrent_runs=1)


def test_cancel_of_a_running_run_reaches_the_backend_with_the_reason(tmp_path: Path) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        run_id = w.submit(w.job(on_failure=("never-run",)))
        await wait_until(lambda: run_id in backend.running, 5, "the run started")
        assert await w.executor.cancel(run_id)
        record = w.run(run_id)
        assert (record.state, record.error, record.exit_code) == ("cancelled", "cancelled", -15)
        assert w.log(run_id, "clockd") == []  # no hook after a cancel
        assert not await w.executor.cancel(run_id)  # already final
        assert w.executor.running_count() == 0

    play(tmp_path, backend, body)


def test_shutdown_cancels_pending_runs_and_stops_running_ones_after_the_grace(
    tmp_path: Path,
) -> None:
    backend = FakeBackend(held)

    async def body(w: World) -> None:
        running = w.submit(w.job())
        pending = w.submit(w.job())
        await wait_until(lambda: run_started(backend, running), 5, "the run started")
        await w.executor.shutdown(timedelta(milliseconds=10))
        assert w.run(pending).error == "the daemon stopped before it started"
        assert w.run(running).error == (
            "the daemon stopped; killed after the shutdown grace of 0:00:00.010000"
        )
        assert w.states(running, pending) == ["cancelled", "cancelled"]
        late = w.submit(w.job())
        assert (w.run(late).state, w.run(late).error) == ("cancelled", "the daemon is stopping")

    play(tmp_path, backend, body, max_concurrent_runs=1)


def run_started(backend: FakeBackend, run_id: int) -> bool:
    return run_id in backend.running


# --- what an attempt is given ------------------------------------------------------------------


def test_an_attempt_carries_secret_references_unresolved_and_the_rendered_command(
    tmp_path: Path,
) -> None:
    backend = FakeBackend()

    async def body(w: World) -> None:
        job = w.job(
            "report",
            parameters={"x": {"type": "integer"}, "key": {"type": "string", "secret": True}},
            command=("report", "--x={{ x }}", "--key={{ key }}", "{{ clock }}"),
            env={"JOB_LEVEL": "debug"},
            timeout=timedelta(minutes=10),
        )
        values = {"x": 9, "key": "env:REPORT_KEY"}
        run_id = w.submit(job, values, clock="nightly", secrets=frozenset({"key"}))
        await w.executor.wait_idle()
        (attempt,) = backend.attempts
        assert (attempt.run_id, attempt.number, attempt.job, attempt.clock) == (
            run_id,
            1,
            "report",
            "nightly",
        )
        assert attempt.scheduled_time == w.run(run_id).scheduled_time
        assert list(attempt.command or []) == ["report", "--x=9", "--key=***", "nightly"]
        assert dict(attempt.parameters) == {"x": 9, "key": "env:REPORT_KEY"}
        assert attempt.secrets == frozenset({"key"})
        assert (attempt.target, attempt.python, dict(attempt.types)) == (None, None, {})
        assert dict(attempt.env) == {"JOB_LEVEL": "debug"}
        assert (attempt.workdir, attempt.timeout) == (tmp_path, timedelta(minutes=10))
        assert (attempt.api_url, attempt.child_token) == ("http://127.0.0.1:9", "child-token")

    play(tmp_path, backend, body)


def test_an_attempt_of_a_python_target_carries_the_parameter_types(tmp_path: Path) -> None:
    backend = FakeBackend(lambda attempt: Step(result={"rows": 3}))

    async def body(w: World) -> None:
        job = Job(
            name="py",
            parameters=ParameterSet.from_declarations(
                {"day": {"type": "date"}, "n": {"type": "integer"}}
            ),
            target="pkg.mod:build",
            python="/opt/venv/bin/python",
            workdir=tmp_path,
        )
        run_id = w.submit(job, {"day": "2026-03-01", "n": 2})
        await w.executor.wait_idle()
        (attempt,) = backend.attempts
        assert (attempt.command, attempt.target, attempt.python) == (
            None,
            "pkg.mod:build",
            "/opt/venv/bin/python",
        )
        assert dict(attempt.types) == {"day": "date", "n": "integer"}
        assert w.run(run_id).result == {"rows": 3}

    play(tmp_path, backend, body)


def test_a_command_that_does_not_render_fails_the_run_without_an_attempt(tmp_path: Path) -> None:
    backend = FakeBackend()

    async def body(w: World) -> None:
        run_id = w.submit(w.job(command=("echo", "{{ nope }}")))
        await w.executor.wait_idle()
        record = w.run(run_id)
        assert record.state == "failed"
        assert record.error is not None
        assert record.error.startswith("command[1]: ")
        assert backend.attempts == []

    play(tmp_path, backend, body)


def test_each_job_gets_the_backend_that_backend_for_picks(tmp_path: Path) -> None:
    remote = FakeBackend(lambda attempt: Step(lines=[("stdout", "on the cluster")]))
    local = FakeBackend(lambda attempt: Step(lines=[("stdout", "here")]))
    world_backend = FakeBackend()  # unused: the picker below decides

    async def body(w: World) -> None:
        w.executor.backend_for = lambda job: remote if job.name == "big" else local
        big, small = w.submit(w.job("big")), w.submit(w.job("small"))
        await w.executor.wait_idle()
        assert [a.run_id for a in remote.attempts] == [big]
        assert [a.run_id for a in local.attempts] == [small]
        assert (w.log(big, "stdout"), w.log(small, "stdout")) == (["on the cluster"], ["here"])

    play(tmp_path, world_backend, body)
    assert world_backend.attempts == []


def test_log_lines_of_a_run_are_stored_before_its_finished_event(tmp_path: Path) -> None:
    lines = [("stdout", f"line {i}") for i in range(250)] + [("stderr", "done")]
    backend = FakeBackend(lambda attempt: Step(lines=lines))
    seen_at_finish: list[int] = []

    async def body(w: World) -> None:
        def on_event(event: str, record: RunRecord) -> None:
            if event == "finished":
                seen_at_finish.append(len(w.store.read_log(record.id)))

        w.executor.on_event = on_event
        run_id = w.submit(w.job())
        await w.executor.wait_idle()
        assert w.log(run_id, "stdout") == [f"line {i}" for i in range(250)]
        assert [line.seq for line in w.store.read_log(run_id)] == list(range(1, 252))

    play(tmp_path, backend, body)
    assert seen_at_finish == [251]
