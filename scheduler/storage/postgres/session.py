"""One PostgreSQL connection that comes back by itself (`Session`), for `PostgresStore`.

The connection is made at the first call (and after a failure): it connects through
`ConnectOptions`, then migrates the schema (or, read-only, checks it). Calls are serialized
by a lock (a store is used by one thread at a time, the cluster link's own by its thread,
but `close` may come from another). A transient failure drops the connection and raises
`StoreUnavailable`; the next call connects again, so the writer's retries and the readers
reconnect by themselves.

    session = Session(ConnectOptions.from_url(url))
    count = session.call(lambda conn: conn.execute("SELECT count(*) FROM runs").fetchone())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, TypeVar

from scheduler.storage.base import StoreOpenError, StoreUnavailable
from scheduler.storage.postgres import schema
from scheduler.storage.postgres.connection import (
    ConnectFailed,
    ConnectOptions,
    describe,
    is_transient,
)

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")


class Session:
    def __init__(self, options: ConnectOptions, *, readonly: bool = False) -> None:
        self.options = options
        self.location = options.location
        self.readonly = readonly
        self._conn: psycopg.Connection | None = None
        self._lock = threading.RLock()

    def connection(self) -> psycopg.Connection:
        """The live connection, connecting (and migrating) first if there is none.
        StoreOpenError for what no retry mends, StoreUnavailable while the server is away."""
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        self._conn = None
        try:
            conn = self.options.connect(readonly=self.readonly)
        except ConnectFailed as error:
            if error.permanent is not None:
                raise StoreOpenError(str(error), sysexit=error.permanent) from None
            raise StoreUnavailable(str(error)) from None
        try:
            if self.readonly:
                schema.check_current(conn, self.location)
            else:
                schema.migrate(conn, self.location)
        except BaseException:
            with suppress(Exception):
                conn.close()
            raise
        self._conn = conn
        return conn

    def call(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """`fn(connection)`; a transient failure drops the connection and raises
        StoreUnavailable (the writer retries; the next call reconnects)."""
        import psycopg

        with self._lock:
            try:
                return fn(self.connection())
            except psycopg.Error as error:
                if not is_transient(error):
                    raise
                self.drop()
                raise StoreUnavailable(f"{self.location}: {describe(error)}") from error

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """For use inside `call`: one transaction on the current connection."""
        conn = self.connection()
        with conn.transaction():
            yield conn

    def drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self.drop()

    def reset(self) -> None:
        """After a failed call: roll back what is open, or drop a broken connection."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            if conn.closed or conn.broken:
                self.drop()
                return
            try:
                if conn.info.transaction_status != 0:  # not idle: roll back what is open
                    conn.rollback()
            except Exception:
                self.drop()
