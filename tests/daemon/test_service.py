"""`Service`, the façade of the API and UI, on a real SQLite file, its writer and readers, and
a real executor: what readers see, cancels of rows no executor holds, requests while the
store refuses writes."""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.config import load_config
from scheduler.daemon.service import Service
from scheduler.running.executor import Executor
from scheduler.storage import StoreUnavailable
from scheduler.storage.reader import StoreReader
from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import SQLiteStore
from scheduler.storage.writer import StoreWriter
from scheduler.timesource import FixedTime

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CONFIG = """
[daemon]
database = "clockd.db"
listen = ""

[jobs.sleepy]
command = ["sleep", "30"]

[jobs.quick]
command = ["true"]
"""


def scenario(tmp_path: Path, body: Any, *, busy_timeout: float = 2.0) -> Any:
    path = tmp_path / "clockd.toml"
    path.write_text(textwrap.dedent(CONFIG))
    config = load_config(path, now=T0)
    store = SQLiteStore.open(config.daemon.database, busy_timeout=busy_timeout)
    database = config.daemon.database

    async def main() -> Any:
        writer = StoreWriter(store, loop=asyncio.get_running_loop(), max_backoff=0.1)
        writer.start()
        reader = StoreReader(lambda: SQLiteStore.open(database, readonly=True))
        executor = Executor(writer, config.daemon, api_url=None, child_token=None)
        service = Service(config, writer, reader, executor, time_source=FixedTime(T0))
        try:
            return await asyncio.wait_for(body(service, store), 30)
        finally:
            await executor.shutdown(timedelta(0))
            executor.write_pending()
            await asyncio.to_thread(writer.close, 5)
            reader.close()

    try:
        return asyncio.run(main())
    finally:
        store.close()


def test_a_reader_sees_the_executors_newer_state_before_it_is_stored(tmp_path: Path) -> None:
    async def body(service: Service, store: SQLiteStore) -> Any:
        record = await service.create_run("sleepy")
        for _ in range(200):
            if (await service.get_run(record.id)).state == "running":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.02)
        seen = (await service.get_run(record.id)).state  # type: ignore[union-attr]
        listed = [r.state for r in await service.list_runs(state="running")]
        await service.cancel(record.id)
        final = await service.get_run(record.id)
        return seen, listed, final.state  # type: ignore[union-attr]

    seen, listed, final = scenario(tmp_path, body)
    assert seen == "running"
    assert listed == ["running"]
    assert final == "cancelled"


def test_cancel_of_a_pending_row_left_by_an_earlier_daemon(tmp_path: Path) -> None:
    async def body(service: Service, store: SQLiteStore) -> Any:
        orphan = store.create_run(
            NewRun(job="quick", clock=None, trigger="manual", scheduled_time=T0, parameters={})
        )
        finished: list[int] = []
        service.events.subscribe(lambda kind, record: finished.append(record.id))
        cancelled = await service.cancel(orphan)
        return cancelled.state, store.get_run(orphan).state, finished  # type: ignore[union-attr]

    returned, stored, finished = scenario(tmp_path, body)
    assert returned == stored == "cancelled"
    assert finished  # followers of its log are told it ended


def test_a_run_requested_while_the_store_is_locked_is_refused_and_never_created_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scheduler.daemon.service.WRITE_TIMEOUT", 0.5)

    async def body(service: Service, store: SQLiteStore) -> Any:
        locker = sqlite3.connect(store.path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable):
                await service.create_run("quick")
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await service.writer.drained()
        return store.list_runs()

    assert scenario(tmp_path, body, busy_timeout=0.1) == []
