"""The store contract of history retention (`RunStore.prune_runs`, `run_clocks`), on SQLite
and on PostgreSQL (a fresh database on the session's real server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.storage import open_store
from scheduler.storage.base import RunStore
from scheduler.storage.pruning import LOG_LINES_A_STEP, RUNS_A_STEP, PruneRule, PruneStep
from tests.storage.fires import T0, fire

OLD = T0 - timedelta(days=100)
CUTOFF = T0 - timedelta(days=90)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "sqlite":
        database = str(tmp_path / "clockd.db")
    else:
        database = request.getfixturevalue("postgres_url")
    opened = open_store(database)
    yield opened
    opened.close()


def _run(store: RunStore, clock: str | None = "a", *, state: str = "succeeded", **extra) -> int:  # type: ignore[no-untyped-def]
    run_id = store.create_run(fire(clock, trigger="manual", **extra))  # type: ignore[arg-type]
    if state != "pending":
        store.update_run(run_id, state=state, ended_at=extra.get("created_at", T0))  # type: ignore[attr-defined]
    return run_id


def _prune_all(store: RunStore, rule: PruneRule) -> int:
    total = 0
    for _ in range(100):
        step = store.prune_runs(rule)
        total += step.runs
        if not step.more:
            return total
    raise AssertionError("pruning never ended")


def test_pruning_by_age_deletes_old_finished_runs_and_their_logs_only(store: RunStore) -> None:
    old = _run(store, created_at=OLD)
    old_running = _run(store, state="running", created_at=OLD)
    old_pending = _run(store, state="pending", created_at=OLD)
    old_parent = _run(store, created_at=OLD)
    child = _run(store, "b", created_at=T0, parent_id=old_parent)
    recent = _run(store, created_at=T0 - timedelta(days=1))
    store.append_logs({old: [(OLD, "stdout", "old line")], recent: [(T0, "stdout", "kept")]})

    step = store.prune_runs(PruneRule(created_before=CUTOFF))

    assert step == PruneStep(runs=1, log_lines=1, more=False)
    assert store.get_run(old) is None
    assert store.read_log(old) == []
    left = {run.id for run in store.list_runs(limit=None)}
    assert left == {old_running, old_pending, old_parent, child, recent}
    assert [line.text for line in store.read_log(recent)] == ["kept"]


def test_a_parent_goes_once_its_children_are_gone(store: RunStore) -> None:
    parent = _run(store, created_at=OLD)
    child = _run(store, "b", created_at=OLD, parent_id=parent)
    assert _prune_all(store, PruneRule(created_before=CUTOFF)) == 2
    assert store.get_run(parent) is None
    assert store.get_run(child) is None


def test_a_run_ended_after_the_cutoff_is_kept(store: RunStore) -> None:
    long_run = store.create_run(fire("a", trigger="manual", created_at=OLD))
    store.update_run(long_run, state="succeeded", ended_at=T0)
    assert store.prune_runs(PruneRule(created_before=CUTOFF)).runs == 0
    assert store.get_run(long_run) is not None


def test_pruning_by_count_keeps_the_latest_runs_of_each_clock(store: RunStore) -> None:
    a1 = _run(store, "a")
    a2_pending = _run(store, "a", state="pending")
    a3 = _run(store, "a")
    manual = [_run(store, None) for _ in range(3)]
    b1 = _run(store, "b")
    a4, a5 = _run(store, "a", state="failed"), _run(store, "a")
    other_job = _run(store, "a", job="other")

    assert _prune_all(store, PruneRule(job="report", clock="a", keep=2)) == 2
    left = {run.id for run in store.list_runs(limit=None)}
    assert {a1, a3}.isdisjoint(left)
    assert {a2_pending, a4, a5, b1, other_job, *manual} <= left

    assert _prune_all(store, PruneRule(job="report", clock=None, keep=1)) == 2
    assert [run.id for run in store.list_runs(job="report", limit=None) if run.clock is None] == [
        manual[-1]
    ]


def test_steps_are_small_and_say_when_more_is_left(store: RunStore) -> None:
    times = [T0 + timedelta(minutes=i) for i in range(RUNS_A_STEP + 20)]
    ids = store.claim_fires([fire("a", at, created_at=OLD) for at in times])
    store.update_runs([(run_id, {"state": "succeeded"}) for run_id in ids])  # type: ignore[misc]
    rule = PruneRule(created_before=CUTOFF)
    first = store.prune_runs(rule)
    assert (first.runs, first.more) == (RUNS_A_STEP, True)
    second = store.prune_runs(rule)
    assert (second.runs, second.more) == (20, False)
    assert store.list_runs(limit=None) == []


def test_a_long_log_is_deleted_over_several_steps_before_its_run(store: RunStore) -> None:
    run_id = _run(store, created_at=OLD)
    lines = [(OLD, "stdout", f"line {i}") for i in range(LOG_LINES_A_STEP + 10)]
    store.append_logs({run_id: lines})
    rule = PruneRule(created_before=CUTOFF)
    first = store.prune_runs(rule)
    assert first == PruneStep(runs=0, log_lines=LOG_LINES_A_STEP, more=True)
    assert store.get_run(run_id) is not None
    assert store.prune_runs(rule) == PruneStep(runs=1, log_lines=10, more=False)
    assert store.read_log(run_id) == []


def test_run_clocks_names_each_clock_once_and_none_for_runs_without(store: RunStore) -> None:
    assert store.run_clocks("report") == []
    for clock in ("b", "a", "b", None, "c"):
        _run(store, clock)
    _run(store, "z", job="other")
    assert store.run_clocks("report") == [None, "a", "b", "c"]


def test_on_postgresql_one_daemon_prunes_at_a_time(postgres_url: str) -> None:
    import psycopg

    from scheduler.storage.postgres.store import PRUNE_LOCK

    store = open_store(postgres_url)
    try:
        old = _run(store, created_at=OLD)
        with psycopg.connect(postgres_url, autocommit=True) as other:
            with other.transaction():  # another daemon in the middle of a step
                other.execute("SELECT pg_advisory_xact_lock(%s)", (PRUNE_LOCK,))
                assert store.prune_runs(PruneRule(created_before=CUTOFF)) == PruneStep()
                assert store.get_run(old) is not None
        assert store.prune_runs(PruneRule(created_before=CUTOFF)).runs == 1
    finally:
        store.close()
