"""The history pruner: its rules from the config, passes through the real StoreWriter on a
real SQLite file, and a live daemon pruning at start-up (metrics count it)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from scheduler.daemon.pruner import Pruner
from scheduler.models import Job
from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import SQLiteStore
from scheduler.storage.writer import StoreWriter
from scheduler.timesource import FixedTime
from tests.helpers import DaemonProcess, wait_until

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _job(name: str, keep_runs: int | None) -> Job:
    from clocks.parameters import ParameterSet

    return Job(name=name, parameters=ParameterSet(), command=("true",), keep_runs=keep_runs)


def _runs(
    store: SQLiteStore, job: str, clock: str | None, count: int, created: datetime, **extra
) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(count):
        run = NewRun(
            job=job,
            clock=clock,
            trigger="manual",
            scheduled_time=created,
            parameters={},
            created_at=created,
            **extra,
        )
        run_id = store.create_run(run)
        store.update_run(run_id, state="succeeded", ended_at=created)
        ids.append(run_id)
    return ids


def test_a_pass_applies_the_age_rule_and_each_jobs_latest_n_per_clock(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "clockd.db")
    old = _runs(store, "kept", "a", 3, NOW - timedelta(days=40))
    recent_a = _runs(store, "counted", "a", 5, NOW - timedelta(days=1))
    recent_manual = _runs(store, "counted", None, 4, NOW - timedelta(days=1))
    untouched = _runs(store, "kept", "a", 5, NOW - timedelta(days=1))
    jobs = {"counted": _job("counted", 2), "kept": _job("kept", None)}

    async def one_pass() -> tuple[int, int]:
        store.never_wait()
        writer = StoreWriter(store, loop=asyncio.get_running_loop())
        writer.start()
        pruner = Pruner(writer, lambda: jobs, timedelta(days=30), FixedTime(NOW), pause=0)
        deleted = await pruner.prune_once()
        again = await pruner.prune_once()
        writer.close(5)
        assert pruner.pruned == deleted
        return deleted, again

    deleted, again = asyncio.run(one_pass())
    assert (deleted, again) == (3 + 3 + 2, 0)
    left = {run.id for run in store.list_runs(limit=None)}
    assert left == {*recent_a[-2:], *recent_manual[-2:], *untouched}
    assert not left & set(old)
    store.close()


def test_without_rules_nothing_is_deleted(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "clockd.db")
    ids = _runs(store, "job", "a", 3, NOW - timedelta(days=4000))

    async def one_pass() -> int:
        writer = StoreWriter(store, loop=asyncio.get_running_loop())
        writer.start()
        deleted = await Pruner(writer, lambda: {}, None, FixedTime(NOW)).prune_once()
        writer.close(5)
        return deleted

    assert asyncio.run(one_pass()) == 0
    assert [run.id for run in store.list_runs(limit=None)] == ids[::-1]
    store.close()


CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
keep_runs_for = "30d"

[jobs.report]
command = ["true"]
keep_runs = 3
"""


def test_a_daemon_prunes_at_start_up_and_counts_it_in_metrics(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, CONFIG)
    real_now = datetime.now(UTC)
    with SQLiteStore.open(daemon.database) as store:
        _runs(store, "report", None, 50, real_now - timedelta(days=60))
        store.append_logs({1: [(real_now, "stdout", "an old line")]})
        kept = _runs(store, "report", None, 5, real_now - timedelta(days=1))
        pending = store.create_run(
            NewRun(
                job="report",
                clock=None,
                trigger="manual",
                scheduled_time=real_now,
                parameters={},
                created_at=real_now - timedelta(days=90),
            )
        )
    with daemon:
        url = f"http://127.0.0.1:{daemon.port}"

        def left() -> set[int] | None:
            with SQLiteStore.open(daemon.database, readonly=True) as reader:
                ids = {run.id for run in reader.list_runs(limit=None)}
            return ids if len(ids) <= 3 else None

        # Age: the 50 old finished runs go. Count: the 3 newest by id stay (the pending run,
        # created long ago but newest, is one of them and is never pruned anyway).
        remaining = wait_until(left, 20, "the start-up pass")
        assert remaining == {kept[-2], kept[-1], pending}
        with SQLiteStore.open(daemon.database, readonly=True) as reader:
            assert reader.read_log(1) == []
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "clockd_runs_pruned_total 53.0" in metrics


def test_steps_shrink_when_slow_and_grow_when_quick_within_bounds() -> None:
    from scheduler.daemon import pruner as module
    from scheduler.storage.pruning import RUNS_A_STEP

    pruner = Pruner(None, lambda: {}, None, FixedTime(NOW))  # type: ignore[arg-type]
    assert pruner.limit == module.FIRST_LIMIT
    pruner._adapt(module.STEP_TARGET * 3)
    assert pruner.limit == module.FIRST_LIMIT // 2
    for _ in range(10):
        pruner._adapt(1.0)
    assert pruner.limit == module.MIN_LIMIT
    pruner._adapt(module.STEP_TARGET * 0.75)  # near the target: unchanged
    assert pruner.limit == module.MIN_LIMIT
    for _ in range(10):
        pruner._adapt(0.0)
    assert pruner.limit == RUNS_A_STEP


def test_no_step_starts_just_before_the_schedulers_next_pass(tmp_path: Path) -> None:
    from scheduler.daemon import pruner as module

    store = SQLiteStore.open(tmp_path / "clockd.db")
    _runs(store, "job", "a", 3, NOW - timedelta(days=40))
    step_times: list[float] = []
    prune = store.prune_runs

    def timed(rule, limit=module.RUNS_A_STEP):  # type: ignore[no-untyped-def]
        step_times.append(time.monotonic())  # the loop's clock
        return prune(rule, limit)

    store.prune_runs = timed  # type: ignore[method-assign]

    async def one_pass() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        due = loop.time() + module.FIRE_GUARD / 2  # a pass comes before a step could end
        writer = StoreWriter(store, loop=loop)
        writer.start()
        pruner = Pruner(
            writer, lambda: {}, timedelta(days=30), FixedTime(NOW), next_pass=lambda: due
        )
        deleted = await pruner.prune_once()
        writer.close(5)
        return due, deleted

    due, deleted = asyncio.run(one_pass())
    assert deleted == 3
    assert step_times
    assert step_times[0] >= due + module.AFTER_FIRE
    store.close()
