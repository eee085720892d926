"""What a run's row records of its process, and a crashed run retried as its next attempt
(spec 3, 7), with real processes and a real SQLite file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler.daemon.recovery import resolved_of, retry_crashed
from scheduler.models import Config, Identity, Job, process_start
from scheduler.storage.records import NewRun
from tests.helpers import wait_until_async as wait_until
from tests.running.test_executor import Harness, py, scenario

STARTED = datetime(2026, 3, 1, 8, 0, 1, tzinfo=UTC)
CRASHED_AT = datetime(2026, 3, 1, 8, 5, tzinfo=UTC)


def test_a_running_run_records_its_process_group_leader_and_its_start_time(
    tmp_path: Path,
) -> None:
    async def body(h: Harness) -> None:
        release = tmp_path / "release"
        job = h.job(
            command=py(
                "import os, pathlib, time\n"
                f"pathlib.Path({str(tmp_path / 'pid')!r}).write_text(str(os.getpid()))\n"
                f"while not os.path.exists({str(release)!r}): time.sleep(0.02)\n"
            ),
            retries=1,
        )
        run_id = h.submit(job)
        await wait_until(lambda: (tmp_path / "pid").exists(), 10, "the run's pid")
        pid = int((tmp_path / "pid").read_text())
        h.executor.write_pending()
        await h.writer.drained()
        row = h.store.get_run(run_id)
        assert row is not None
        assert (row.state, row.pid, row.pid_start) == ("running", pid, process_start(pid))
        assert os.getpgid(pid) == pid  # the group the pid names
        release.touch()
        await h.executor.wait_idle()
        assert h.state(run_id) == "succeeded"

    scenario(tmp_path, body)


def crashed_run(
    h: Harness, command: tuple[str, ...], *, retries: int, secret: bool
) -> tuple[int, Job]:
    """A row as a restart leaves it: attempt 1 ran, then its daemon died and it was crashed."""
    job = h.job(
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
    h.store.update_runs(
        [(run_id, {"state": "running", "started_at": STARTED, "attempt": 1, "pid": 1})]
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
        assert row.pid not in (None, 1)
        assert h.log(run_id) == [
            "[clockd: attempt 1 of 2 crashed: the daemon stopped while this run was running; "
            "retrying on host-b as attempt 2 in 1s]",
            "[clockd: attempt 2 of 2]",
            "x 9 terc3s",
        ]

    scenario(tmp_path, body, environ={"RESUME_KEY": "s3cret"})


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
