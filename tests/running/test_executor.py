"""The executor with real processes and a real SQLite file: slots, overlap, timeout, retries,
cancel, hooks, secrets, Python targets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clocks.parameters import ParameterSet, ResolvedParameters
from scheduler.models import DaemonSettings, Job
from scheduler.running.executor import Executor
from scheduler.storage.sqlite.store import LogLine, NewRun, RunRecord, Store
from scheduler.storage.writer import StoreWriter
from tests.conftest import ROOT
from tests.helpers import pid_alive
from tests.helpers import wait_until_async as wait_until

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PY = sys.executable


def py(code: str) -> tuple[str, ...]:
    return (PY, "-c", code)


class Harness:
    """A store on a temp file, an executor on it, and helpers to make runs."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        max_concurrent_runs: int = 16,
        environ: Mapping[str, str] | None = None,
        max_log_bytes: int = 1 << 20,
        hidden_env: frozenset[str] = frozenset(),
    ) -> None:
        self.tmp_path = tmp_path
        self.settings = DaemonSettings(
            database=str(tmp_path / "clockd.db"),
            max_concurrent_runs=max_concurrent_runs,
            max_log_bytes=max_log_bytes,
        )
        self.store = Store.open(self.settings.database)
        self.events: list[tuple[str, int, str]] = []
        self.echoed: list[LogLine] = []
        self.environ = environ
        self.hidden_env = hidden_env
        self._fire_time = T0

    def start(self) -> None:
        """Inside the test's event loop: the store writer and the executor."""
        environ, hidden_env = self.environ, self.hidden_env
        self.writer = StoreWriter(self.store, loop=asyncio.get_running_loop())
        self.writer.start()
        self.executor = Executor(
            self.writer,
            self.settings,
            api_url="http://127.0.0.1:9",
            child_token="child-token",
            on_event=lambda event, record: self.events.append((event, record.id, record.state)),
            echo=self.echoed.append,
            # The runner's own CLOCKD_* (CLOCKD_REQUIRE_BROWSER in CI) are not the run's.
            environ={
                **{k: v for k, v in os.environ.items() if not k.startswith("CLOCKD_")},
                **(environ or {}),
            },
            hidden_env=lambda: hidden_env,
            kill_grace=timedelta(seconds=1),
        )

    def job(
        self,
        name: str = "job",
        *,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> Job:
        fields.setdefault("workdir", self.tmp_path)
        return Job(name=name, parameters=ParameterSet.from_declarations(parameters or {}), **fields)

    def submit(
        self,
        job: Job,
        values: Mapping[str, Any] | None = None,
        *,
        clock: str | None = None,
        trigger: str = "manual",
        secrets: frozenset[str] = frozenset(),
        scheduled_time: datetime | None = None,
    ) -> int:
        resolved = ResolvedParameters(values=dict(values or {}), secrets=secrets)
        if scheduled_time is None:
            self._fire_time += timedelta(minutes=1)
            scheduled_time = self._fire_time
        run_id = self.store.create_run(
            NewRun(
                job=job.name,
                clock=clock,
                trigger=trigger,
                scheduled_time=scheduled_time,
                parameters=resolved.masked(),
                secret_refs={name: resolved.values[name] for name in secrets},
            )
        )
        record = self.store.get_run(run_id)
        assert record is not None
        self.executor.submit(run_id, job, resolved, record)
        return run_id

    def run(self, run_id: int) -> RunRecord:
        """The run as a reader sees it (Service.get_run): the executor's record while it
        holds the run, else the stored row."""
        record = self.executor.live_record(run_id) or self.store.get_run(run_id)
        assert record is not None
        return record

    def state(self, run_id: int) -> str:
        return self.run(run_id).state

    def log(self, run_id: int, stream: str | None = None) -> list[str]:
        return [
            line.text
            for line in self.store.read_log(run_id)
            if stream is None or line.stream == stream
        ]


def scenario(tmp_path: Path, body: Callable[[Harness], Awaitable[None]], **options: Any) -> Harness:
    harness = Harness(tmp_path, **options)

    async def main() -> None:
        harness.start()
        try:
            await asyncio.wait_for(body(harness), 60)
        finally:
            await harness.executor.shutdown(timedelta(0))
            harness.executor.write_pending()
            await asyncio.to_thread(harness.writer.close, 10)

    try:
        asyncio.run(main())
    finally:
        harness.store.close()
    return harness


# --- commands, environment, logs -----------------------------------------------------------


def test_a_command_gets_rendered_argv_and_the_run_environment(tmp_path: Path) -> None:
    code = (
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith(('CLOCKD_', 'NOTIFY', 'WATCHDOG', 'JOB_'))}\n"
        "print(json.dumps({'argv': sys.argv[1:], 'env': env}))\n"
    )

    async def body(h: Harness) -> None:
        job = h.job(
            "report",
            parameters={
                "x": {"type": "integer"},
                "day": {"type": "date"},
                "tags": {"type": "array"},
            },
            command=(
                *py(code),
                "--x",
                "{{ x }}",
                "--day={{ day }}",
                "{{ scheduled_time.format('YYYYMMDD') }}",
                "$(touch pwned)",
            ),
            env={"JOB_LEVEL": "debug"},
        )
        run_id = h.submit(
            job, {"x": 9, "day": "2026-02-28", "tags": ["a", "b"]}, clock="nightly", trigger="clock"
        )
        await h.executor.wait_idle()
        assert h.state(run_id) == "succeeded", h.log(run_id)
        seen = json.loads(h.log(run_id, "stdout")[0])
        assert seen["argv"] == ["--x", "9", "--day=2026-02-28", "20260301", "$(touch pwned)"]
        env = seen["env"]
        assert json.loads(env.pop("CLOCKD_PARAMETERS")) == {
            "x": 9,
            "day": "2026-02-28",
            "tags": ["a", "b"],
        }
        assert env == {
            "CLOCKD_PARAM_X": "9",
            "CLOCKD_PARAM_DAY": "2026-02-28",
            "CLOCKD_PARAM_TAGS": '["a", "b"]',
            "CLOCKD_RUN_ID": str(run_id),
            "CLOCKD_JOB": "report",
            "CLOCKD_CLOCK": "nightly",
            "CLOCKD_SCHEDULED_TIME": h.run(run_id).scheduled_time.isoformat(),
            "CLOCKD_API_URL": "http://127.0.0.1:9",
            "CLOCKD_TOKEN": "child-token",
            "JOB_LEVEL": "debug",
        }
        assert not (h.tmp_path / "pwned").exists()
        record = h.run(run_id)
        assert (record.exit_code, record.attempt, record.error) == (0, 1, None)
        assert record.started_at is not None
        assert record.ended_at >= record.started_at
        assert ("started", run_id, "running") in h.events
        assert ("finished", run_id, "succeeded") in h.events
        assert [line.text for line in h.echoed] == h.log(run_id)

    scenario(
        tmp_path,
        body,
        environ={"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "CLOCKD_RUN_ID": "stale"},
    )


def test_a_finished_event_comes_once_the_final_state_is_stored(tmp_path: Path) -> None:
    stored_at_event: list[tuple[int, str, bool]] = []
    ids: list[int] = []

    async def body(h: Harness) -> None:
        def on_event(event: str, record: RunRecord) -> None:
            if event == "finished":  # what a log follower woken by the event reads
                stored = h.run(record.id)
                stored_at_event.append((record.id, stored.state, stored.ended_at is not None))

        h.executor.on_event = on_event
        job = h.job(command=("true",))
        ids.extend(h.submit(job) for _ in range(12))
        await h.executor.wait_idle()

    scenario(tmp_path, body, max_concurrent_runs=3)
    assert sorted(stored_at_event) == [(run_id, "succeeded", True) for run_id in ids]


def test_state_changes_of_runs_starting_together_share_transactions(tmp_path: Path) -> None:
    count = 150
    writes: list[str] = []

    async def body(h: Harness) -> None:
        job = h.job(command=("true",))
        records = []
        for _ in range(count):
            run_id = h.store.create_run(
                NewRun(job="job", clock=None, trigger="api", scheduled_time=T0, parameters={})
            )
            records.append(run_id)
        h.store._conn.set_trace_callback(writes.append)
        stored = {run_id: h.store.get_run(run_id) for run_id in records}
        for run_id in records:  # as Firing hands over an instant's runs: no read in between
            h.executor.submit(run_id, job, ResolvedParameters(values={}), stored[run_id])
        await h.executor.wait_idle()
        h.store._conn.set_trace_callback(None)
        assert {h.state(run_id) for run_id in records} == {"succeeded"}

    scenario(tmp_path, body, max_concurrent_runs=count)
    updates = sum(1 for sql in writes if sql.startswith("UPDATE runs"))
    commits, inside = 0, False
    for sql in writes:
        if sql == "BEGIN IMMEDIATE":
            inside = True
        elif sql == "COMMIT":
            inside, commits = False, commits + 1
        elif sql.startswith("UPDATE runs") and not inside:
            commits += 1  # autocommit
    # running, then the final state, for every run: one statement when both wait for the
    # same write (a short run), two otherwise
    assert count <= updates <= 2 * count, updates
    # one commit per change would be 300; batched while runs wait to start it is about a dozen
    # here (a commit per 50 ms of starting), and stays under one per run on a machine 10x slower
    assert commits < count, commits


def test_a_failing_command_records_its_exit_code_and_stderr(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        run_id = h.submit(
            h.job(command=py("import sys; print('bad', file=sys.stderr); sys.exit(3)"))
        )
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.exit_code, record.error) == ("failed", 3, "exit code 3")
        assert h.log(run_id, "stderr") == ["bad"]

    scenario(tmp_path, body)


def test_a_missing_program_fails_the_run_with_a_phrased_error(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        run_id = h.submit(h.job(command=(str(tmp_path / "missing-program"),)))
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert record.state == "failed"
        assert (
            record.error
            == f"cannot start '{tmp_path / 'missing-program'}': No such file or directory"
        )

    scenario(tmp_path, body)


def test_a_nul_character_in_a_value_fails_the_run_with_a_phrased_error(tmp_path: Path) -> None:
    """JSON strings may hold U+0000 and pass the schema; no exec can take one."""

    async def body(h: Harness) -> None:
        job = h.job(
            command=("echo", "{{ text }}"),
            parameters={"text": {"type": "string"}},
        )
        in_argv = h.submit(job, {"text": "a\x00b"})
        only_env = h.submit(h.job("quiet", command=("true",)), {"text": "a\x00b"})
        await h.executor.wait_idle()
        for run_id, program in ((in_argv, "echo"), (only_env, "true")):
            record = h.run(run_id)
            assert record.state == "failed"
            assert record.error == (
                f"cannot start '{program}': an argument or environment value contains a NUL "
                "character"
            )

    scenario(tmp_path, body)


def test_the_log_cap_keeps_the_first_and_last_lines_with_a_mark(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        # 5000 lines of 50 bytes through a 1000-byte cap: 10 lines of head, 10 of tail.
        run_id = h.submit(h.job(command=py("for i in range(5000): print(f'{i:049d}')")))
        await h.executor.wait_idle()
        assert h.state(run_id) == "succeeded"
        lines = h.log(run_id)
        assert lines[:10] == [f"{i:049d}" for i in range(10)]
        assert lines[10] == f"[clockd: … {5000 * 50 - 1000} bytes dropped …]"
        assert lines[11:] == [f"{i:049d}" for i in range(4990, 5000)]

    scenario(tmp_path, body, max_log_bytes=1000)


# --- timeout, retries, cancel ------------------------------------------------------------------


def test_a_timeout_kills_the_whole_group_and_records_timed_out(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("sh", "-c", "sleep 60 & echo $!; wait"), timeout=timedelta(seconds=1))
        run_id = h.submit(job)
        await wait_until(lambda: h.log(run_id, "stdout"), 10, "the grandchild's pid")
        grandchild = int(h.log(run_id, "stdout")[0])
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.error) == ("timed_out", "timed out after 1s")
        assert record.exit_code == -15
        await wait_until(lambda: not pid_alive(grandchild), 5, "the grandchild to be gone")
        assert "[clockd: timed out after 1s; killing the run]" in h.log(run_id, "clockd")
        assert (record.ended_at - record.started_at).total_seconds() < 10

    scenario(tmp_path, body)


def test_retries_rerun_the_same_row_and_count_attempts(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    code = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n)); print('attempt', n)\n"
        "sys.exit(0 if n == 3 else 1)\n"
    )

    async def body(h: Harness) -> None:
        job = h.job(command=py(code), retries=3, retry_delay=timedelta(milliseconds=100))
        run_id = h.submit(job)
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.attempt, record.exit_code) == ("succeeded", 3, 0)
        assert h.log(run_id, "stdout") == ["attempt 1", "attempt 2", "attempt 3"]
        clockd = h.log(run_id, "clockd")
        assert "[clockd: attempt 1 of 4]" in clockd
        assert "[clockd: attempt 2 of 4]" in clockd
        assert "[clockd: attempt 3 of 4]" in clockd
        assert any(
            line.startswith("[clockd: attempt 1 of 4 failed: exit code 1; retrying")
            for line in clockd
        )
        assert len(h.store.list_runs()) == 1

    scenario(tmp_path, body)


def test_retries_that_all_fail_leave_the_last_error(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=py("raise SystemExit(2)"), retries=1, retry_delay=timedelta(0))
        run_id = h.submit(job)
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.attempt, record.error) == ("failed", 2, "exit code 2")

    scenario(tmp_path, body)


def test_cancel_kills_a_running_run_and_cancels_a_pending_one_at_once(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("sh", "-c", "sleep 60 & echo $!; wait"))
        running = h.submit(job)
        pending = h.submit(job)  # one slot: waits
        await wait_until(lambda: h.log(running, "stdout"), 10, "the run to start")
        grandchild = int(h.log(running, "stdout")[0])
        assert h.state(pending) == "pending"
        assert await h.executor.cancel(pending)
        assert h.state(pending) == "cancelled"
        started = time.monotonic()
        assert await h.executor.cancel(running)
        assert time.monotonic() - started < 5
        record = h.run(running)
        assert (record.state, record.error) == ("cancelled", "cancelled")
        await wait_until(lambda: not pid_alive(grandchild), 5, "the grandchild to be gone")
        assert not await h.executor.cancel(running)  # already final
        assert h.executor.running_count() == 0

    scenario(tmp_path, body, max_concurrent_runs=1)


def test_cancel_during_the_retry_delay_stops_retrying(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=py("raise SystemExit(1)"), retries=5, retry_delay=timedelta(seconds=30))
        run_id = h.submit(job)
        await wait_until(
            lambda: any("retrying" in t for t in h.log(run_id, "clockd")), 10, "the first retry"
        )
        assert await h.executor.cancel(run_id)
        record = h.run(run_id)
        assert (record.state, record.attempt) == ("cancelled", 1)

    scenario(tmp_path, body)


# --- slots and overlap ---------------------------------------------------------------------------


def test_max_concurrent_runs_keeps_further_runs_pending_in_fifo_order(tmp_path: Path) -> None:
    order = tmp_path / "order"

    async def body(h: Harness) -> None:
        jobs = [
            h.job(f"j{i}", command=("sh", "-c", f"echo {i} >> {order}; sleep 0.3"))
            for i in range(4)
        ]
        ids = [h.submit(job) for job in jobs]
        # runs start one per loop pass, up to the two slots
        await wait_until(
            lambda: (h.executor.running_count(), h.executor.pending_count()) == (2, 2),
            5,
            "two slots taken",
        )
        # "running" is recorded once each process exists
        expected = ["running", "running", "pending", "pending"]
        await wait_until(lambda: [h.state(i) for i in ids] == expected, 5, "two running")
        await h.executor.wait_idle()
        assert [h.state(i) for i in ids] == ["succeeded"] * 4
        assert sorted(order.read_text().split()) == ["0", "1", "2", "3"]
        starts = [h.run(i).started_at for i in ids]
        ends = [h.run(i).ended_at for i in ids]
        assert starts == sorted(starts)  # FIFO: started in the order submitted
        assert starts[2] >= min(ends[:2])
        assert starts[3] >= sorted(ends[:3])[1]  # never more than two at once

    scenario(tmp_path, body, max_concurrent_runs=2)


def test_max_active_runs_limits_one_job_but_not_others(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        limited = h.job("limited", command=("sleep", "0.3"), max_active_runs=1)
        free = h.job("free", command=("sleep", "0.3"))
        a, b = h.submit(limited), h.submit(limited)
        c = h.submit(free)
        expected = ["running", "pending", "running"]
        await wait_until(lambda: [h.state(i) for i in (a, b, c)] == expected, 5, "a, c running")
        assert h.executor.active_runs("limited") == 2
        await h.executor.wait_idle()
        assert h.run(b).started_at >= h.run(a).ended_at

    scenario(tmp_path, body)


def test_overlap_skip_records_the_fire_as_skipped(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("sleep", "0.5"), overlap="skip")
        first = h.submit(job, clock="fast", trigger="clock")
        second = h.submit(job, clock="fast", trigger="clock")
        other_clock = h.submit(job, clock="slow", trigger="clock")
        record = h.run(second)
        assert (record.state, record.error) == ("skipped", f"previous run {first} still active")
        assert record.ended_at is not None
        assert record.started_at is None
        await wait_until(
            lambda: ("finished", second, "skipped") in h.events, 5, "the skipped run's event"
        )
        await h.executor.wait_idle()
        assert h.state(first) == h.state(other_clock) == "succeeded"

    scenario(tmp_path, body)


def test_overlap_queue_waits_for_the_previous_run_of_that_clock(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("sleep", "0.3"), overlap="queue")
        first = h.submit(job, clock="fast", trigger="clock")
        second = h.submit(job, clock="fast", trigger="clock")
        other = h.submit(job, clock="slow", trigger="clock")
        expected = ["running", "pending", "running"]
        await wait_until(
            lambda: [h.state(i) for i in (first, second, other)] == expected,
            5,
            "first, other running",
        )
        await h.executor.wait_idle()
        assert h.state(second) == "succeeded"
        assert h.run(second).started_at >= h.run(first).ended_at

    scenario(tmp_path, body)


def test_overlap_allow_runs_the_same_clock_concurrently(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("sleep", "0.3"))
        ids = [h.submit(job, clock="fast", trigger="clock") for _ in range(2)]
        await wait_until(
            lambda: [h.state(i) for i in ids] == ["running", "running"], 5, "both running"
        )
        await h.executor.wait_idle()

    scenario(tmp_path, body)


# --- run_name, hooks ---------------------------------------------------------------------------


def test_run_name_is_rendered_with_masked_parameters(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"x": {"type": "integer"}, "key": {"type": "string", "secret": True}},
            command=("true",),
            run_name="report-{{ x }}-{{ key }}-{{ scheduled_time.format('YYYYMMDD') }}",
        )
        run_id = h.submit(
            job,
            {"x": 9, "key": "env:KEY"},
            secrets=frozenset({"key"}),
            scheduled_time=datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
        )
        assert h.run(run_id).name == "report-9-***-20260301"
        await h.executor.wait_idle()

    scenario(tmp_path, body, environ={"KEY": "hunter2"})


def test_hooks_get_the_run_and_a_failing_hook_leaves_the_state(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        hook_out = tmp_path / "hook.json"
        job = h.job(
            parameters={"x": {"type": "integer"}, "key": {"type": "string", "secret": True}},
            command=py("raise SystemExit(4)"),
            run_name="r-{{ x }}",
            on_failure=(
                *py("import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"),
                str(hook_out),
                "{{ job }}",
                "{{ clock }}",
                "{{ run_id }}",
                "{{ name }}",
                "{{ state }}",
                "{{ error }}",
                "{{ parameters.x }}",
                "{{ parameters.key }}",
                "{{ scheduled_time.to_date_string() }}",
            ),
        )
        failing = h.submit(
            job,
            {"x": 3, "key": "env:KEY"},
            clock="c",
            trigger="clock",
            secrets=frozenset({"key"}),
            scheduled_time=datetime(2026, 3, 1, 9, tzinfo=UTC),
        )
        ok_job = h.job(
            "ok", command=("true",), on_success=py("import sys; print('hook says hi'); sys.exit(9)")
        )
        succeeding = h.submit(ok_job)
        await h.executor.wait_idle()
        assert json.loads(hook_out.read_text()) == [
            "job",
            "c",
            str(failing),
            "r-3",
            "failed",
            "exit code 4",
            "3",
            "***",
            "2026-03-01",
        ]
        assert h.state(failing) == "failed"
        assert h.state(succeeding) == "succeeded"
        assert h.log(succeeding, "clockd") == [
            "on_success: hook says hi",
            "[clockd: on_success: hook failed: exit code 9]",
        ]

    scenario(tmp_path, body, environ={"KEY": "hunter2"})


def test_a_run_that_failed_before_starting_still_fires_on_failure(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        hook_out = tmp_path / "hook.json"
        job = h.job(
            command=("true",),
            on_failure=(
                *py("import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"),
                str(hook_out),
                "{{ run_id }}",
                "{{ state }}",
                "{{ error }}",
            ),
        )
        reason = "parameters: dynamic value '{{ nope }}' does not render"
        run_id = h.store.create_run(
            NewRun(
                job=job.name,
                clock="c",
                trigger="clock",
                scheduled_time=datetime(2026, 3, 1, 9, tzinfo=UTC),
                parameters={},
                state="failed",
                error=reason,
            )
        )
        h.executor.fail_before_start(h.run(run_id), job, reason)
        await h.executor.wait_idle()
        assert json.loads(hook_out.read_text()) == [str(run_id), "failed", reason]
        assert (h.state(run_id), h.run(run_id).started_at) == ("failed", None)

    scenario(tmp_path, body)


def test_a_hook_that_cannot_start_is_logged(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("false",), on_failure=(str(tmp_path / "nope"), "{{ error }}"))
        run_id = h.submit(job)
        await h.executor.wait_idle()
        assert h.state(run_id) == "failed"
        assert h.log(run_id, "clockd") == [
            f"[clockd: on_failure: hook could not start '{tmp_path / 'nope'}': No such file or directory]"
        ]

    scenario(tmp_path, body)


# --- secrets -----------------------------------------------------------------------------------


SECRET = "s3cr3t-VALUE-4f9a1c"


def test_a_secret_reaches_the_process_env_but_never_the_database(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        f"print('match' if os.environ['CLOCKD_PARAM_API_KEY'] == {SECRET!r} else 'no match')\n"
        f"print('json has it' if {SECRET!r} in os.environ['CLOCKD_PARAMETERS'] else 'missing')\n"
        "print('argv:', sys.argv[1:])\n"
    )

    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"api_key": {"type": "string", "secret": True}},
            command=(*py(code), "--key={{ api_key }}"),
            run_name="n-{{ api_key }}",
            on_success=(*py("import sys; print(sys.argv[1:])"), "{{ parameters.api_key }}"),
        )
        run_id = h.submit(job, {"api_key": "env:API_KEY"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        assert h.state(run_id) == "succeeded"
        assert h.log(run_id, "stdout") == ["match", "json has it", "argv: ['--key=***']"]
        assert h.log(run_id, "clockd") == ["on_success: ['***']"]
        record = h.run(run_id)
        assert record.parameters == {"api_key": "***"}
        assert record.secret_refs == {"api_key": "env:API_KEY"}
        assert record.name == "n-***"
        # While the store is open the recent writes live in the WAL file: grep it too.
        open_files = [p for p in tmp_path.iterdir() if p.name.startswith("clockd.db")]
        assert any(p.name.endswith("-wal") for p in open_files)
        for path in open_files:
            content = path.read_bytes()
            assert SECRET.encode() not in content, f"secret found in {path.name}"
        wal = (tmp_path / "clockd.db-wal").read_bytes()
        assert b"env:API_KEY" in wal + (tmp_path / "clockd.db").read_bytes()  # the grep can see

    harness = scenario(tmp_path, body, environ={"API_KEY": SECRET})
    files = [p for p in tmp_path.iterdir() if p.name.startswith("clockd.db")]
    assert files, "no database files"
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"secret found in {path.name}"
    assert all(SECRET not in line.text for line in harness.echoed)


def test_a_secret_that_cannot_be_resolved_fails_the_run_and_fires_on_failure(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "on_failure_ran"

    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"api_key": {"type": "string", "secret": True}},
            command=("touch", str(tmp_path / "must-not-run")),
            on_failure=("sh", "-c", f'echo "$1" > {marker}', "hook", "{{ error }}"),
        )
        run_id = h.submit(job, {"api_key": "env:ABSENT_KEY_XYZ"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert record.state == "failed"
        assert record.error == (
            "secret 'env:ABSENT_KEY_XYZ': secret parameter 'api_key': environment variable "
            "'ABSENT_KEY_XYZ' is not set in the daemon's environment"
        )
        assert not (tmp_path / "must-not-run").exists()
        assert marker.read_text().strip() == record.error

    scenario(tmp_path, body)


def test_a_secret_that_cannot_be_resolved_is_not_retried(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"api_key": {"type": "string", "secret": True}},
            command=("touch", str(tmp_path / "must-not-run")),
            retries=2,
            retry_delay=timedelta(0),
        )
        run_id = h.submit(job, {"api_key": "env:ABSENT_KEY_XYZ"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.attempt, record.started_at) == ("failed", 0, None)
        assert record.error is not None
        assert record.error.startswith("secret 'env:ABSENT_KEY_XYZ': ")
        # the attempt was announced, then ended before a process existed: no retry
        assert h.log(run_id, "clockd") == ["[clockd: attempt 1 of 3]"]
        assert not (tmp_path / "must-not-run").exists()

    scenario(tmp_path, body)


# --- Python targets ------------------------------------------------------------------------------


def test_a_python_target_gets_a_date_and_its_result_is_stored(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={
                "day": {"type": "date"},
                "moment": {"type": "datetime"},
                "count": {"type": "integer"},
            },
            target="tests.targets:describe",
            workdir=ROOT,
        )
        run_id = h.submit(
            job, {"day": "2026-02-28", "moment": "2026-03-01T10:00:00+01:00", "count": 2}
        )
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert record.state == "succeeded", h.log(run_id)
        assert record.result == {
            "day_type": "date",
            "day": "2026-02-28",
            "next_day": "2026-03-01",
            "moment_utc": "2026-03-01T09:00:00+00:00",
            "moment_aware": True,
            "count": 2,
        }
        assert h.log(run_id, "stdout") == ["describe day=2026-02-28 count=2"]

    scenario(tmp_path, body)


def test_a_result_over_the_cap_is_replaced_by_a_marker_never_stored_whole(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"size": {"type": "integer"}},
            target="tests.targets:big_result",
            workdir=ROOT,
        )
        small = h.submit(job, {"size": 1000})
        big = h.submit(job, {"size": 3 << 20})
        await h.executor.wait_idle()
        assert h.run(small).result == {"blob": "x" * 1000}
        record = h.run(big)
        assert record.state == "succeeded", h.log(big)
        assert record.result is not None
        assert set(record.result) == {"clockd"}
        assert record.result["clockd"].startswith("result not stored: 3145740 bytes of JSON")
        assert any("over the 1048576-byte cap" in line for line in h.log(big))

    scenario(tmp_path, body)


def test_a_python_target_that_raises_fails_with_its_traceback_in_the_log(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"message": {"type": "string"}}, target="tests.targets:boom", workdir=ROOT
        )
        run_id = h.submit(job, {"message": "no data"})
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.error, record.result) == ("failed", "exit code 1", None)
        assert h.log(run_id, "stderr")[-1] == "RuntimeError: no data"
        assert h.log(run_id, "stdout") == ["about to fail"]

    scenario(tmp_path, body)


# --- shutdown ------------------------------------------------------------------------------------


def test_shutdown_cancels_pending_runs_and_kills_running_ones_after_the_grace(
    tmp_path: Path,
) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=("sleep", "60"))
        quick = h.job("quick", command=py("import time; time.sleep(0.2)"))
        slow_id = h.submit(job)
        quick_id = h.submit(quick)
        pending_id = h.submit(job)
        await wait_until(lambda: h.state(quick_id) == "running", 10, "quick to run")
        started = time.monotonic()
        await h.executor.shutdown(timedelta(seconds=1))
        assert time.monotonic() - started < 8
        assert h.state(quick_id) == "succeeded"  # finished within the grace
        slow = h.run(slow_id)
        assert slow.state == "cancelled"
        assert slow.error.startswith("the daemon stopped; killed after the shutdown grace")
        assert h.state(pending_id) == "cancelled"
        late = h.store.create_run(
            NewRun(job="job", clock=None, trigger="manual", scheduled_time=T0, parameters={})
        )
        h.executor.submit(late, job, ResolvedParameters(values={}), h.store.get_run(late))
        assert h.state(late) == "cancelled"

    scenario(tmp_path, body, max_concurrent_runs=2)


@pytest.mark.parametrize("count", [50])
def test_many_short_runs_store_every_line(tmp_path: Path, count: int) -> None:
    async def body(h: Harness) -> None:
        job = h.job(command=py("for i in range(300): print(i)"))
        ids = [h.submit(job) for _ in range(count)]
        await h.executor.wait_idle()
        for run_id in ids:
            assert h.log(run_id, "stdout") == [str(i) for i in range(300)]
            seqs = [line.seq for line in h.store.read_log(run_id)]
            assert seqs == list(range(1, 301))

    scenario(tmp_path, body, max_concurrent_runs=8)


def test_a_parameter_called_name_wins_in_argv_and_the_run_name_wins_in_hooks(
    tmp_path: Path,
) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"name": {"type": "string"}},
            command=("echo", "hello {{ name }}"),
            run_name="greet-{{ name }}",
            on_success=("echo", "run {{ name }} for {{ parameters.name }}"),
        )
        run_id = h.submit(job, {"name": "Ada"})
        await h.executor.wait_idle()
        assert h.run(run_id).name == "greet-Ada"
        assert h.log(run_id, "stdout") == ["hello Ada"]
        assert h.log(run_id, "clockd") == ["on_success: run greet-Ada for Ada"]

    scenario(tmp_path, body)


def test_a_missing_workdir_fails_the_run_with_a_phrased_error(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        run_id = h.submit(h.job(command=("true",), workdir=tmp_path / "gone"))
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert (record.state, record.error) == (
            "failed",
            f"workdir '{tmp_path / 'gone'}' is not a directory",
        )

    scenario(tmp_path, body)
