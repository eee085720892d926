"""Where the run history lives: the store seam (`base.RunStore`), its implementations, and
the threads that keep store calls off the daemon's event loop (`writer`, `reader`).

    store = open_store("/var/lib/clockd/clockd.db")          # SQLite, the default
    store = open_store("postgresql://clockd@db/clockd")       # several daemons (section 8)

A new store goes in its own folder beside `sqlite/` and passes
`tests/storage/test_store_contract.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scheduler.storage.base import (
    JOB_WIDE,
    LogBatch,
    RunStore,
    StoreError,
    StoreOpenError,
    StoreUnavailable,
)
from scheduler.storage.records import ClockState, LogLine, NewRun, RunRecord

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "JOB_WIDE",
    "ClockState",
    "LogBatch",
    "LogLine",
    "NewRun",
    "RunRecord",
    "RunStore",
    "StoreError",
    "StoreOpenError",
    "StoreUnavailable",
    "is_url",
    "open_store",
]

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(database: str | Path) -> bool:
    """Whether `database` names a database server rather than a SQLite file."""
    return str(database).startswith(URL_SCHEMES)


def open_store(
    database: str | Path, *, readonly: bool = False, wait: bool = True, **options: Any
) -> RunStore:
    """A connection to the store at `database`: a SQLite file path, or a PostgreSQL URL.

    Creates and migrates the schema unless `readonly`. `wait=False` asks for a connection
    that never waits for another writer's lock, where the store can give one (SQLite: its
    `blocking` is then False, and the daemon uses it on its loop). StoreOpenError (one line,
    with the sysexits code of spec 7) when it cannot be opened."""
    if is_url(database):
        raise StoreOpenError(
            f"{database}: PostgreSQL is not supported by this clockd yet", sysexit=78
        )
    from scheduler.storage.sqlite.store import SQLiteStore

    store = SQLiteStore.open(database, readonly=readonly, **options)
    if not wait:
        store.never_wait()
    return store
