"""`StoreReader`: the daemon's reads (API, UI, log followers), off the event loop.

A few threads, each with its own read-only connection, so that a slow query, a busy disk
or a database server far away never stalls a fire. SQLite's WAL lets them read while the
writer (or another process) holds the write lock.

    reader = StoreReader(lambda: open_store(path, readonly=True))
    record = await reader.call(lambda store: store.get_run(7))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from scheduler.storage.base import RunStore

T = TypeVar("T")

READ_THREADS = 2


class StoreReader:
    def __init__(self, connect: Callable[[], RunStore], *, threads: int = READ_THREADS) -> None:
        self.connect = connect
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clockd-reader")
        self._local = threading.local()
        self._stores: list[RunStore] = []
        self._lock = threading.Lock()

    async def call(self, fn: Callable[[RunStore], T]) -> T:
        """`fn(store)` on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._read, fn)

    def _read(self, fn: Callable[[RunStore], T]) -> T:
        store: RunStore | None = getattr(self._local, "store", None)
        if store is None:
            store = self.connect()
            self._local.store = store
            with self._lock:
                self._stores.append(store)
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
