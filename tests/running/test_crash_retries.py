"""A crashed run retried as its next attempt (spec 3, 7, 8), with real processes and a real
SQLite file: what a restart does with its own leftovers and a survivor with a dead daemon's
runs (`scheduler.daemon.crashes.retry_crashed`, the contract of `Service.retry_crashed`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.daemon.crashes import resolved_of, retry_crashed
from scheduler.models import Config, Identity, Job
from scheduler.storage.records import NewRun
from tests.helpers import wait_until_async as wait_until
from tests.running.test_executor import Harness, py, scenario

STARTED = datetime(2026, 3, 1, 8, 0, 1, tzinfo=UTC)
CRASHED_AT = datetime(2026, 3, 1, 8, 5, tzinfo=UTC)


def crashed_run(
    h: Harness,
    command: tuple[str, ...],
    *,
    retries: int,
    secret: bool,
    attempt: int = 1,
    name: str = "job",
) -> tuple[int, Job]:
    """A row as a dead daemon leaves it: attempt `attempt` ran (0: never recorded as started),
    then its daemon died and it was crashed."""
    job = h.job(
        name,
        command=command,
        retries=retries,
        retry_delay=timedelta(seconds=1),
        parameters={"x": {"type": "integer"}, "key": {"type": "string", "secret": True}},
    )
    run_id = h.store.create_run(
        NewRun(
            job=job.name,
            clock="nightly",
            trigger="clock",
            scheduled_time=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
            parameters={"x": 9, "key": "***"},
            secret_refs={"key": "env:RESUME_KEY"} if secret else {},
            owner="daemon:host-a:dead0instance",
            daemon="host-a",
        )
    )
    if attempt:
        h.store.update_runs(
            [(run_id, {"state": "running", "started_at": STARTED, "attempt": attempt})]
        )
    assert h.store.mark_crashed(CRASHED_AT, [run_id]) == [run_id]
    return run_id, job


def test_a_crashed_run_is_retried_as_its_next_attempt_on_the_same_row(tmp_path: Path) -> None:
    # the secret's value is masked in the log: the run prints it reversed
    command = py(
        "import os; print('x', os.environ['CLOCKD_PARAM_X'], os.environ['CLOCKD_PARAM_KEY'][::-1])"
    )
    identity = Identity(name="host-b", owner="daemon:host-b:new0instance")

    async def body(h: Harness) -> None:
        run_id, job = crashed_run(h, command, retries=1, secret=True)
        record = h.store.get_run(run_id)
        assert record is not None
        assert record.state == "crashed"
        config = Config(path=tmp_path, daemon=h.settings, jobs={job.name: job})
        assert retry_crashed([record], config, h.executor, identity) == [run_id]
        assert h.state(run_id) == "pending"  # at once, for readers: back in line
        await h.executor.wait_idle()
        row = h.run(run_id)
        assert (row.state, row.attempt, row.error, row.ended_at is not None) == (
            "succeeded",
            2,
            None,
            True,
        )
        assert row.started_at == STARTED  # the run's first start stays
        assert (row.owner, row.daemon) == (identity.owner, "host-b")
        assert h.log(run_id) == [
            "[clockd: attempt 1 of 2 crashed: the daemon stopped while this run was running; "
            "retrying on host-b as attempt 2 in 1s]",
            "[clockd: attempt 2 of 2]",
            "x 9 terc3s",
        ]

    scenario(tmp_path, body, environ={"RESUME_KEY": "s3cret"})


def test_a_run_crashed_before_its_start_was_stored_counts_that_attempt_as_used(
    tmp_path: Path,
) -> None:
    # Left `pending` (attempt 0): its start may have happened without being stored, so a job
    # without retries does not run it again, and one with a retry runs it as attempt 2.
    async def body(h: Harness) -> None:
        none_left, no_retries = crashed_run(
            h, ("true",), retries=0, secret=False, attempt=0, name="none"
        )
        one_left, one_retry = crashed_run(
            h, ("true",), retries=1, secret=False, attempt=0, name="one"
        )
        config = Config(
            path=tmp_path,
            daemon=h.settings,
            jobs={no_retries.name: no_retries, one_retry.name: one_retry},
        )
        records = [h.store.get_run(none_left), h.store.get_run(one_left)]
        assert retry_crashed(records, config, h.executor, None) == [one_left]  # type: ignore[arg-type]
        await h.executor.wait_idle()
        assert (h.run(none_left).state, h.run(none_left).attempt) == ("crashed", 0)
        assert (h.run(one_left).state, h.run(one_left).attempt) == ("succeeded", 2)
        assert h.run(one_left).started_at is not None

    scenario(tmp_path, body)


def test_a_resumed_clock_run_is_never_skipped_by_overlap(tmp_path: Path) -> None:
    # overlap = "skip" skips a new fire while its clock has a run active; a crashed run that
    # comes back ran already, so it waits for its turn instead.
    async def body(h: Harness) -> None:
        run_id, job = crashed_run(h, py("import time; time.sleep(0.3)"), retries=1, secret=False)
        job = replace(job, overlap="skip")
        active = h.submit(job, {"x": 1}, clock="nightly", trigger="clock")
        await wait_until(lambda: h.state(active) == "running", 10, "the clock's run running")
        config = Config(path=tmp_path, daemon=h.settings, jobs={job.name: job})
        record = h.store.get_run(run_id)
        assert record is not None
        assert retry_crashed([record], config, h.executor, None) == [run_id]
        assert retry_crashed([record], config, h.executor, None) == []  # not crashed any more
        await h.executor.wait_idle()
        assert (h.state(active), h.state(run_id)) == ("succeeded", "succeeded")
        assert h.run(run_id).started_at is not None

    scenario(tmp_path, body)


def test_a_crashed_run_without_retries_left_stays_crashed(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        run_id, job = crashed_run(h, ("true",), retries=0, secret=False)
        record = h.store.get_run(run_id)
        assert record is not None
        config = Config(path=tmp_path, daemon=h.settings, jobs={job.name: job})
        assert retry_crashed([record], config, h.executor, None) == []
        # a job no longer in the config is not retried either
        assert (
            retry_crashed(
                [record], Config(path=tmp_path, daemon=h.settings, jobs={}), h.executor, None
            )
            == []
        )
        await h.executor.wait_idle()
        row = h.store.get_run(run_id)
        assert row is not None
        assert (row.state, row.attempt, row.ended_at) == ("crashed", 1, CRASHED_AT)
        assert h.log(run_id) == []

    scenario(tmp_path, body)


def test_a_stored_run_gives_back_its_values_with_secret_references() -> None:
    record = NewRun(
        job="j",
        clock=None,
        trigger="api",
        scheduled_time=STARTED,
        parameters={"x": 1, "key": "***", "tags": ["a"]},
        secret_refs={"key": "file:/etc/key"},
    ).to_record(3)
    resolved = resolved_of(record)
    assert resolved.values == {"x": 1, "key": "file:/etc/key", "tags": ["a"]}
    assert resolved.secrets == frozenset({"key"})
    assert resolved.masked() == record.parameters
