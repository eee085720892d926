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
    "open_configured_store",
    "open_store",
]

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(database: str | Path) -> bool:
    """Whether `database` names a database server rather than a SQLite file."""
    return str(database).startswith(URL_SCHEMES)


def open_store(
    database: str | Path,
    *,
    readonly: bool = False,
    wait: bool = True,
    password: str | None = None,
    daemon_timeout: float | None = None,
    base_dir: str | None = None,
    **options: Any,
) -> RunStore:
    """A connection to the store at `database`: a SQLite file path, or a PostgreSQL URL.

    Creates and migrates the schema unless `readonly`. `wait=False` asks for a connection
    that never waits for another writer's lock, where the store can give one (SQLite: its
    `blocking` is then False, and the daemon uses it on its loop). StoreOpenError (one line,
    with the sysexits code of spec 7) when it cannot be opened; StoreUnavailable when a
    database server cannot be reached now (worth waiting for).

    PostgreSQL only: `password` is a secret reference (`file:PATH`, `env:NAME`; relative
    paths from `base_dir`), `daemon_timeout` (seconds) bounds how long a silent network cut
    goes unnoticed."""
    if is_url(database):
        from scheduler.storage.postgres.store import PostgresStore

        return PostgresStore.open(
            str(database),
            readonly=readonly,
            password=password,
            daemon_timeout=daemon_timeout,
            base_dir=base_dir,
            **options,
        )
    from scheduler.storage.sqlite.store import SQLiteStore

    store = SQLiteStore.open(database, readonly=readonly, **options)
    if not wait:
        store.never_wait()
    return store


def open_configured_store(settings: Any, **options: Any) -> RunStore:
    """`open_store` for a config's `[daemon]` settings (database, its password reference,
    `daemon_timeout`)."""
    timeout = getattr(settings, "daemon_timeout", None)
    return open_store(
        settings.database,
        password=getattr(settings, "database_password", None),
        daemon_timeout=timeout.total_seconds() if timeout is not None else None,
        **options,
    )
