"""`StoreReader`: the daemon's reads (API, UI, log followers, pause flags).

A store whose calls can block (a database server far away) is read on a few threads, each
with its own connection, so that a slow query never stalls a fire. A store whose calls never
wait (SQLite in WAL mode, opened with `never_wait()`: readers do not wait for writers) is
read on the loop itself, through one read-only connection; a read that meets a lock anyway
(rare: WAL recovery) is retried a few times, then fails as StoreUnavailable.

    reader = StoreReader(lambda: open_store(path, readonly=True))
    record = await reader.call(lambda store: store.get_run(7))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from scheduler.storage.base import StoreUnavailable

if TYPE_CHECKING:
    from scheduler.storage.base import RunStore

T = TypeVar("T")

READ_THREADS = 2
LOOP_READ_RETRIES = (0.01, 0.05, 0.2, 0.5)  # seconds between tries of a read on the loop


class StoreReader:
    """`connect()` opens one connection; `on_loop`: read on the loop (a store that never
    waits) instead of on `threads` threads."""

    def __init__(
        self,
        connect: Callable[[], RunStore],
        *,
        on_loop: bool = False,
        threads: int = READ_THREADS,
    ) -> None:
        self.connect = connect
        self.on_loop = on_loop
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clockd-reader")
        self._local = threading.local()
        self._stores: list[RunStore] = []
        self._lock = threading.Lock()
        self._loop_store: RunStore | None = None

    async def call(self, fn: Callable[[RunStore], T]) -> T:
        """`fn(store)`, on the loop or on a reader thread."""
        if self.on_loop:
            if self._loop_store is None:
                self._loop_store = self._connect()
            return await self._read_on_loop(self._loop_store, fn)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._read, fn)

    def _connect(self) -> RunStore:
        store = self.connect()
        with self._lock:
            self._stores.append(store)
        return store

    async def _read_on_loop(self, store: RunStore, fn: Callable[[RunStore], T]) -> T:
        for delay in (*LOOP_READ_RETRIES, None):
            try:
                return fn(store)
            except Exception as error:
                if not store.is_transient(error):
                    raise
                store.reset()
                if delay is None:
                    raise StoreUnavailable(store.describe_error(error)) from error
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _read(self, fn: Callable[[RunStore], T]) -> T:
        store: RunStore | None = getattr(self._local, "store", None)
        if store is None:
            store = self._connect()
            self._local.store = store
        try:
            return fn(store)
        except Exception as error:
            if store.is_transient(error):
                store.reset()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()
