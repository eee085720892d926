"""`StoreWriter` against a real SQLite file that another connection locks (spec 7: a write
that fails is kept and retried, in order, until written; the loop never waits for it) —
both ways it can run: on a thread of its own (a store whose calls can wait), and on the
loop (a store that never waits: SQLite with `never_wait()`)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scheduler.storage import StoreUnavailable
from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import SQLiteStore
from scheduler.storage.writer import StoreWriter

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def new_run(job: str = "job") -> NewRun:
    return NewRun(job=job, clock=None, trigger="manual", scheduled_time=T0, parameters={})


class Locker:
    """Another process's view: a second connection that can hold the write lock."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=0.1)

    def lock(self) -> None:
        self.conn.execute("BEGIN EXCLUSIVE")

    def unlock(self) -> None:
        self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(params=["thread", "loop"])
def where(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_store(tmp_path: Path, where: str) -> SQLiteStore:
    store = SQLiteStore.open(tmp_path / "clockd.db", busy_timeout=0.05)
    if where == "loop":
        store.never_wait()
    return store


def run(tmp_path: Path, body: Any, where: str = "thread") -> Any:
    store = open_store(tmp_path, where)
    locker = Locker(tmp_path / "clockd.db")

    async def main() -> Any:
        writer = StoreWriter(store, max_backoff=0.1)
        assert writer.on_loop == (where == "loop")
        writer.start()
        try:
            return await body(writer, store, locker)
        finally:
            await asyncio.to_thread(writer.close, 5)

    try:
        return asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        locker.close()
        store.close()


def test_writes_happen_in_order_and_answer_on_the_loop(tmp_path: Path, where: str) -> None:
    async def body(writer: StoreWriter, store: SQLiteStore, locker: Locker) -> Any:
        loop = asyncio.get_running_loop()
        answers: list[tuple[Any, bool]] = []
        for name in ("a", "b", "c"):
            writer.submit(
                lambda s, name=name: s.create_run(new_run(name)),
                "create",
                lambda result, error: answers.append((result, asyncio.get_running_loop() is loop)),
            )
        await writer.drained()
        return answers, [r.job for r in store.list_runs(limit=None)]

    answers, jobs = run(tmp_path, body, where)
    assert answers == [(1, True), (2, True), (3, True)]
    assert jobs == ["c", "b", "a"]


def test_a_locked_database_keeps_the_writes_and_writes_them_in_order_once_free(
    tmp_path: Path, where: str
) -> None:
    async def body(writer: StoreWriter, store: SQLiteStore, locker: Locker) -> Any:
        locker.lock()
        done: list[str] = []
        for name in ("first", "second", "third"):
            writer.submit(
                lambda s, name=name: s.create_run(new_run(name)),
                name,
                lambda result, error, name=name: done.append(name),
            )
        # the loop is not blocked while the writer waits: it keeps running
        ticks = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            ticks += 1
        failing = (writer.health.ok, writer.health.failed_attempts, writer.backlog(), list(done))
        locker.unlock()
        await writer.drained()
        return ticks, failing, done, [r.job for r in store.list_runs(limit=None)]

    ticks, failing, done, jobs = run(tmp_path, body, where)
    assert ticks > 10
    ok, attempts, backlog, done_while_locked = failing
    assert not ok
    assert attempts >= 2  # retried, with backoff
    assert backlog == 3
    assert done_while_locked == []
    assert done == ["first", "second", "third"]
    assert jobs == ["third", "second", "first"]


def test_health_says_why_and_recovers(tmp_path: Path, where: str) -> None:
    async def body(writer: StoreWriter, store: SQLiteStore, locker: Locker) -> Any:
        locker.lock()
        writer.submit(lambda s: s.create_run(new_run()), "create")
        while writer.health.ok:
            await asyncio.sleep(0.01)
        during = (writer.health.last_error, writer.health.failing_since is not None)
        locker.unlock()
        await writer.drained()
        return during, writer.health.ok, writer.health.recoveries

    (error, since), ok, recoveries = run(tmp_path, body, where)
    assert "locked" in error
    assert since
    assert ok
    assert recoveries == 1


def test_a_permanent_error_is_answered_and_the_next_write_goes_on(
    tmp_path: Path, where: str
) -> None:
    async def body(writer: StoreWriter, store: SQLiteStore, locker: Locker) -> Any:
        def broken(s: SQLiteStore) -> None:
            s.update_runs([(1, {"no_such_column": 1})])

        with pytest.raises(TypeError, match="unknown run fields"):
            await writer.call(broken, "broken")
        return await writer.call(lambda s: s.create_run(new_run()), "create")

    assert run(tmp_path, body, where) == 1


def test_a_request_that_cannot_wait_withdraws_its_write_and_it_never_happens(
    tmp_path: Path, where: str
) -> None:
    async def body(writer: StoreWriter, store: SQLiteStore, locker: Locker) -> Any:
        locker.lock()
        with pytest.raises(StoreUnavailable, match="did not accept the write within"):
            await writer.call(lambda s: s.create_run(new_run("withdrawn")), "create", timeout=0.3)
        locker.unlock()
        await writer.call(lambda s: s.create_run(new_run("later")), "create")
        return [r.job for r in store.list_runs(limit=None)]

    assert run(tmp_path, body, where) == ["later"]


def test_close_gives_up_on_writes_that_keep_failing_and_counts_them(
    tmp_path: Path, where: str
) -> None:
    store = open_store(tmp_path, where)
    locker = Locker(tmp_path / "clockd.db")

    async def main() -> int:
        writer = StoreWriter(store, max_backoff=0.05)
        writer.start()
        locker.lock()
        writer.submit(lambda s: s.create_run(new_run()), "create")
        writer.submit(lambda s: s.create_run(new_run()), "create")
        return await asyncio.to_thread(writer.close, 0.3)

    try:
        assert asyncio.run(main()) == 2
        locker.unlock()
        assert store.list_runs() == []
    finally:
        locker.close()
        store.close()
