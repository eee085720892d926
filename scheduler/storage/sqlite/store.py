"""The run history in one SQLite file: the embedded default store (`SQLiteStore`).

One daemon (or `clockd run`) writes; any number of readers (CLI, API threads) share the file:
WAL journal, `synchronous=NORMAL`. Writes that read first (claims, log sequence numbers) run
in `BEGIN IMMEDIATE`, so they wait for the write lock instead of failing on a lock upgrade.
Everything SQLite-specific stays in this folder: PRAGMAs, the lock file beside the database
that keeps a second daemon off it, the `-wal` stat behind `changes_marker`, the 999-variable
chunking of multi-row INSERTs, and the sqlite-utils migrations (`schema.py`).

    store = SQLiteStore.open(Path("clockd.db"))
    ids = store.claim_fires([NewRun(job="report", clock="nightly", trigger="clock", ...)])
    # ids[i] is None when that fire already has a run

Why this module is long: it is the SQLite implementation of the whole `RunStore` protocol
(claims, runs, logs, pauses, anchors), one method a store operation; the schema and its
migrations are in `schema.py`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from scheduler.storage.base import (
    JOB_WIDE,
    LogBatch,
    StoreError,
    StoreOpenError,
    StoreUnavailable,
)
from scheduler.storage.pruning import RUNS_A_STEP, PruneRule, PruneStep, prune_step, run_clocks
from scheduler.storage.records import ClockState, LogLine, NewRun, RunRecord, utc_now
from scheduler.storage.sqlite.columns import (
    RUN_COLUMNS,
    column_value,
    json_text,
    millis_text,
    parse_time,
    run_record,
    seconds_text,
)
from scheduler.storage.sqlite.schema import FIRE_TRIGGER_SQL, schema_migrations

_RUN_COLUMN_SET = frozenset(RUN_COLUMNS)

# sysexits codes of spec 7 for a database that cannot be opened.
EX_NOINPUT, EX_CANTCREAT, EX_IOERR, EX_NOPERM = 66, 73, 74, 77

# Rows per multi-row INSERT of `claim_fires`: 14 values a row stay under SQLite's oldest
# limit of 999 variables a statement.
_CLAIM_ROWS = 64


# A new run's columns, in the order of `SQLiteStore._insert_values`.
_INSERT_INTO = (
    "INSERT INTO runs (job, clock, name, trigger, state, parameters, secret_refs, "
    "scheduled_time, created_at, error, lateness, parent_id, daemon, owner)"
)
_ROW_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@lru_cache(maxsize=_CLAIM_ROWS)
def _claim_sql(rows: int) -> str:
    values = ", ".join([_ROW_VALUES] * rows)
    return (
        f"{_INSERT_INTO} VALUES {values} "
        "ON CONFLICT DO NOTHING RETURNING id, job, clock, trigger, scheduled_time"
    )


@lru_cache(maxsize=64)
def _update_sql(columns: tuple[str, ...]) -> str:
    return f"UPDATE runs SET {', '.join(f'{column} = ?' for column in columns)} WHERE id = ?"


__all__ = ["JOB_WIDE", "ClockState", "LogLine", "NewRun", "RunRecord", "SQLiteStore", "Store"]

# Errors that come and go: another writer holds the lock, the disk is full, the file system
# hiccups. Anything else (a missing table, a constraint) is a bug or a permanent refusal.
_TRANSIENT_WORDS = (
    "locked",
    "busy",
    "full",
    "disk i/o",
    "unable to open",
    "readonly",
    "read-only",
    "cannot commit",
    "cannot start a transaction",
    "interrupted",
    "out of memory",
)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, StoreUnavailable):
        return True
    if isinstance(error, sqlite3.OperationalError | OSError):
        text = str(error).lower()
        return isinstance(error, OSError) or any(word in text for word in _TRANSIENT_WORDS)
    return False


def _open_error(path: Path, error: BaseException) -> StoreOpenError:
    """A database that cannot be opened, as one line and the exit code spec 7 gives it."""
    text = str(getattr(error, "strerror", None) or error)
    lowered = text.lower()
    number = error.errno if isinstance(error, OSError) else None
    if (
        isinstance(error, PermissionError)
        or number == errno.EROFS
        or "readonly" in lowered
        or "permission" in lowered
    ):
        return StoreOpenError(
            f"{path}: permission denied: clockd cannot write the database or its folder ({text})",
            sysexit=EX_NOPERM,
        )
    if "full" in lowered or number in (errno.ENOSPC, errno.EDQUOT):
        return StoreOpenError(f"{path}: the disk is full ({text})", sysexit=EX_IOERR)
    if "disk i/o" in lowered or number in (errno.EIO, errno.EFBIG):
        return StoreOpenError(f"{path}: I/O error ({text})", sysexit=EX_IOERR)
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreOpenError(
            f"{path}: not a usable clockd database, the file is corrupt or of another kind "
            f"({text})",
            sysexit=EX_NOINPUT,
        )
    if "unable to open" in lowered or number in (errno.ENOENT, errno.ENOTDIR, errno.EEXIST):
        return StoreOpenError(
            f"{path}: the database cannot be created ({text})", sysexit=EX_CANTCREAT
        )
    return StoreOpenError(f"{path}: cannot open the database ({text})", sysexit=EX_NOINPUT)


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching `prefix` literally, then anything."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _check_writable(path: Path) -> None:
    """OSError with the real errno when the file cannot be created or written (SQLite says
    only "unable to open database file", which cannot tell a permission from a full disk)."""
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.close(fd)


class SQLiteStore:
    """The run history and clock state in one SQLite file. One connection; safe to share
    between threads (one lock), though the daemon gives each thread its own."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.location = str(path)
        self.readonly = readonly
        self._daemon_lock: IO[str] | None = None
        # Whether a call may wait (for another writer's lock): until `never_wait()`.
        self.blocking = True

    @classmethod
    def open(
        cls, path: Path | str, *, readonly: bool = False, busy_timeout: float = 10.0
    ) -> SQLiteStore:
        """Open (and create or migrate, unless `readonly`) the database at `path`.

        A readonly store works while the daemon writes: it is a normal WAL connection that
        waits on locks and refuses writes (`PRAGMA query_only`). StoreOpenError (with the
        spec 7 exit code) when the file cannot be opened, created or is not a database."""
        from sqlite_utils import Database

        path = Path(path)
        if readonly and not path.exists():
            raise StoreOpenError(f"{path}: database does not exist yet: no run has been recorded")
        try:
            if not readonly:
                path.parent.mkdir(parents=True, exist_ok=True)
                _check_writable(path)
            # isolation_level=None: no implicit transactions; we BEGIN where it matters.
            conn = sqlite3.connect(
                path, timeout=busy_timeout, check_same_thread=False, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        except (OSError, sqlite3.Error) as error:
            raise _open_error(path, error) from None
        try:
            if readonly:
                conn.execute("PRAGMA query_only=1")
                migrations = schema_migrations()
                if migrations.pending(Database(conn)):
                    raise StoreOpenError(
                        f"{path}: database schema is older than this clockd; "
                        "start `clockd serve` once to upgrade it"
                    )
            else:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                schema_migrations().apply(Database(conn))
        except (OSError, sqlite3.Error) as error:
            conn.close()
            raise _open_error(path, error) from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, readonly=readonly)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._daemon_lock is not None:
                self._daemon_lock.close()
                self._daemon_lock = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the store as a whole --------------------------------------------------------------

    def lock_for_daemon(self) -> None:
        """Keep any other `clockd serve` off this file while this store is open (a lock
        file beside it: two daemons would fire every clock twice). StoreError if taken."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock_path, "w")  # held until close()
        except OSError as error:
            raise _open_error(lock_path, error) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreError(
                f"another clockd serve is using the database {self.path} (lock {lock_path})"
            ) from None
        self._daemon_lock = handle

    def never_wait(self) -> None:
        """From now on a call never waits for a lock: a locked file fails at once (a
        transient error the caller retries later), so the daemon may call this store on its
        event loop. Reads in WAL mode never wait for writers anyway."""
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout=0")
        self.blocking = False

    def changes_marker(self) -> object:
        """The database files' modification times and sizes: unchanged while nobody writes."""
        marker = []
        for candidate in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                stat = os.stat(candidate)
            except OSError:
                continue
            marker.append((stat.st_mtime_ns, stat.st_size))
        return tuple(marker)

    def is_transient(self, error: BaseException) -> bool:
        return _is_transient(error)

    def describe_error(self, error: BaseException) -> str:
        return f"{self.path}: {error}"

    def reset(self) -> None:
        with self._lock:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock up front (waits up to busy_timeout)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back by itself (a full disk): never mask the error.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # --- runs ------------------------------------------------------------------------------

    @staticmethod
    def _insert_values(run: NewRun, now_text: str) -> tuple[Any, ...]:
        return (
            run.job,
            run.clock,
            run.name,
            str(run.trigger),
            str(run.state),
            json_text(run.parameters),
            json_text(run.secret_refs),
            seconds_text(run.scheduled_time),
            now_text if run.created_at is None else millis_text(run.created_at),
            run.error,
            run.lateness,
            run.parent_id,
            run.daemon,
            run.owner,
        )

    _INSERT = f"{_INSERT_INTO} VALUES {_ROW_VALUES}"

    def claim_fires(
        self,
        runs: Sequence[NewRun],
        last_fires: Mapping[tuple[str, str], datetime] | None = None,
    ) -> list[int | None]:
        """Insert many runs in ONE transaction; None where the fire already has a run.

        `last_fires` ({(job, clock): time}) go in the same transaction, so a clock's last fire
        never moves past a fire that was not claimed. Rows go in multi-row INSERTs (about
        half the cost of one statement per row); RETURNING names each inserted row's fire,
        since SQLite does not promise its order."""
        now_text = millis_text(utc_now())
        ids: list[int | None] = []
        with self._write() as conn:
            for start in range(0, len(runs), _CLAIM_ROWS):
                ids.extend(self._claim_rows(conn, runs[start : start + _CLAIM_ROWS], now_text))
            if last_fires:
                self._upsert_times(conn, "last_fire", last_fires)
        return ids

    def _claim_rows(
        self, conn: sqlite3.Connection, runs: Sequence[NewRun], now_text: str
    ) -> list[int | None]:
        rows = [self._insert_values(run, now_text) for run in runs]
        keys = [(row[0], row[1], row[3], row[7]) for row in rows]  # job, clock, trigger, time
        if len(set(keys)) < len(keys):  # the same fire twice: only one statement per row
            sql = self._INSERT + " ON CONFLICT DO NOTHING RETURNING id"
            found = [conn.execute(sql, row).fetchone() for row in rows]
            return [None if row is None else row[0] for row in found]
        inserted = {
            (job, clock, trigger, scheduled): run_id
            for run_id, job, clock, trigger, scheduled in conn.execute(
                _claim_sql(len(rows)), [value for row in rows for value in row]
            )
        }
        return [inserted.get(key) for key in keys]

    def create_run(self, run: NewRun) -> int:
        """Insert one run; a fire that already has a run raises sqlite3.IntegrityError."""
        with self._write() as conn:
            row = conn.execute(
                self._INSERT + " RETURNING id", self._insert_values(run, millis_text(utc_now()))
            )
            run_id: int = row.fetchone()[0]
        return run_id

    def get_run(self, run_id: int) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return run_record(rows[0]) if rows else None

    def list_runs(
        self,
        *,
        job: str | None = None,
        clock: str | None = None,
        state: str | Iterable[str] | None = None,
        parent_id: int | None = None,
        limit: int | None = 100,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[RunRecord]:
        """Runs newest first (by id). `state` may be one state or several."""
        where: list[str] = []
        params: list[Any] = []
        if job is not None:
            where.append("job = ?")
            params.append(job)
        if clock is not None:
            where.append("clock = ?")
            params.append(clock)
        if state is not None:
            states = [state] if isinstance(state, str) else [str(s) for s in state]
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if parent_id is not None:
            where.append("parent_id = ?")
            params.append(parent_id)
        for bound, sign in ((before_id, "<"), (after_id, ">")):
            if bound is not None:
                where.append(f"id {sign} ?")
                params.append(bound)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # the page just newer than `after_id` is its oldest runs: read upwards, then turn it
        sql += " ORDER BY id ASC" if after_id is not None else " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        records = [run_record(row) for row in self._query(sql, params)]
        return records[::-1] if after_id is not None else records

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of one run: `update_run(7, state="running", started_at=now, attempt=1)`."""
        self.update_runs([(run_id, fields)])

    def update_runs(self, updates: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Set columns of many runs in one transaction, in order: `[(7, {"state": "failed"})]`.

        Later fields of a run override earlier ones, so a run that started and ended between
        two writes (a burst of short runs) costs one statement, and rows that set the same
        columns go in one `executemany`."""
        merged: dict[int, dict[str, Any]] = {}
        for run_id, fields in updates:
            unknown = fields.keys() - _RUN_COLUMN_SET
            if unknown:
                raise TypeError(f"update_run: unknown run fields: {', '.join(sorted(unknown))}")
            merged.setdefault(run_id, {}).update(fields)
        by_sql: dict[str, list[list[Any]]] = {}
        for run_id, fields in merged.items():
            if fields:
                values = [column_value(column, value) for column, value in fields.items()]
                by_sql.setdefault(_update_sql(tuple(fields)), []).append([*values, run_id])
        if len(by_sql) == 1 and len(rows := next(iter(by_sql.values()))) == 1:
            with self._lock:  # autocommit: one statement needs no BEGIN / COMMIT
                self._conn.execute(next(iter(by_sql)), rows[0])
        elif by_sql:
            with self._write() as conn:
                for sql, rows in by_sql.items():
                    conn.executemany(sql, rows)

    def runs_in_states(self, states: Iterable[str]) -> list[RunRecord]:
        """Runs in any of `states`, oldest first."""
        states = [str(s) for s in states]
        rows = self._query(
            f"SELECT * FROM runs WHERE state IN ({', '.join('?' * len(states))}) ORDER BY id",
            states,
        )
        return [run_record(row) for row in rows]

    def unfinished_runs(self, owner_prefix: str | None = None) -> list[RunRecord]:
        """Runs left `pending` or `running`, oldest first; with `owner_prefix`, only those
        whose owner starts with it (a row without owner, from before owners were recorded,
        counts as a daemon's)."""
        sql = "SELECT * FROM runs WHERE state IN ('pending', 'running')"
        params: list[Any] = []
        if owner_prefix is not None:
            sql += " AND (owner LIKE ? ESCAPE '\\'"
            params.append(_like_prefix(owner_prefix))
            if "daemon:".startswith(owner_prefix) or owner_prefix.startswith("daemon:"):
                sql += " OR owner IS NULL"
            sql += ")"
        return [run_record(row) for row in self._query(sql + " ORDER BY id", params)]

    def mark_crashed(self, now: datetime, run_ids: Sequence[int] | None = None) -> list[int]:
        """Runs left `running` or `pending` by an owner that died become `crashed` (all of
        them, or those of `run_ids` still unfinished); their ids.

        A pending row may have started: the executor writes starts with other state changes,
        a moment later. Either way it is never started again (its fire stays claimed)."""
        sql = (
            "UPDATE runs SET state = 'crashed', ended_at = ?, error = COALESCE(error, "
            "CASE state WHEN 'running' THEN 'the daemon stopped while this run was running' "
            "ELSE 'the daemon stopped before this run was recorded as started' END) "
            "WHERE state IN ('running', 'pending')"
        )
        params: list[Any] = [millis_text(now)]
        if run_ids is not None:
            if not run_ids:
                return []
            sql += f" AND id IN ({', '.join('?' * len(run_ids))})"
            params.extend(run_ids)
        with self._write() as conn:
            rows = conn.execute(sql + " RETURNING id", params).fetchall()
        return sorted(row[0] for row in rows)

    def has_fire(self, job: str, clock: str, scheduled_time: datetime) -> bool:
        rows = self._query(
            "SELECT 1 FROM runs WHERE job = ? AND clock = ? AND scheduled_time = ? "
            f"AND trigger IN ({FIRE_TRIGGER_SQL}) LIMIT 1",
            (job, clock, seconds_text(scheduled_time)),
        )
        return bool(rows)

    # --- logs ------------------------------------------------------------------------------

    def append_log(self, run_id: int, lines: Sequence[tuple[datetime, str, str]]) -> None:
        """Append `(time, stream, text)` lines to one run's log, numbered from 1."""
        self.append_logs({run_id: lines})

    def append_logs(self, batch: LogBatch) -> None:
        """Append lines to the logs of many runs in one transaction, numbered from 1 per run."""
        if not any(batch.values()):
            return
        with self._write() as conn:
            for run_id, lines in batch.items():
                if not lines:
                    continue
                last = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM run_logs WHERE run_id = ?", (run_id,)
                ).fetchone()[0]
                conn.executemany(
                    "INSERT INTO run_logs (run_id, seq, time, stream, text) VALUES (?, ?, ?, ?, ?)",
                    [
                        (run_id, last + offset, millis_text(moment), stream, text)
                        for offset, (moment, stream, text) in enumerate(lines, start=1)
                    ],
                )

    def read_log(
        self, run_id: int, *, after_seq: int = 0, limit: int | None = None
    ) -> list[LogLine]:
        sql = (
            "SELECT seq, time, stream, text FROM run_logs WHERE run_id = ? AND seq > ? ORDER BY seq"
        )
        params: list[Any] = [run_id, after_seq]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            LogLine(seq=row[0], time=parse_time(row[1]), stream=row[2], text=row[3])  # type: ignore[arg-type]
            for row in self._query(sql, params)
        ]

    # --- retention -------------------------------------------------------------------------

    def prune_runs(self, rule: PruneRule, limit: int = RUNS_A_STEP) -> PruneStep:
        """One small IMMEDIATE transaction of `storage/pruning.py`."""
        with self._write() as conn:
            return prune_step(conn.execute, rule, mark="?", time_value=millis_text, limit=limit)

    def run_clocks(self, job: str) -> list[str | None]:
        with self._lock:
            return run_clocks(self._conn.execute, job, mark="?")

    # --- clock state -----------------------------------------------------------------------

    def clock_state(self, job: str, clock: str) -> ClockState:
        """The clock's own row (last fire, anchor, clock-level pause); defaults when absent."""
        rows = self._query(
            "SELECT last_fire, anchor, paused FROM clock_state WHERE job = ? AND clock = ?",
            (job, clock),
        )
        if not rows:
            return ClockState()
        return ClockState(parse_time(rows[0][0]), parse_time(rows[0][1]), bool(rows[0][2]))

    def clock_states(self) -> dict[tuple[str, str], ClockState]:
        """Every row, keyed by (job, clock); clock "*" rows hold whole-job pauses."""
        rows = self._query("SELECT job, clock, last_fire, anchor, paused FROM clock_state")
        return {
            (row[0], row[1]): ClockState(parse_time(row[2]), parse_time(row[3]), bool(row[4]))
            for row in rows
        }

    def paused(self) -> set[tuple[str, str]]:
        """(job, clock) of every paused row; clock "*" rows pause a whole job. Cheap to poll."""
        rows = self._query("SELECT job, clock FROM clock_state WHERE paused = 1")
        return {(row[0], row[1]) for row in rows}

    def _set(self, job: str, clock: str, column: str, value: Any) -> None:
        # INSERT … ON CONFLICT DO UPDATE naming the one column: a partial upsert that keeps the rest.
        with self._lock:
            self._conn.execute(
                f"INSERT INTO clock_state (job, clock, {column}) VALUES (?, ?, ?) "
                f"ON CONFLICT (job, clock) DO UPDATE SET {column} = excluded.{column}",
                (job, clock, value),
            )

    def set_last_fire(self, job: str, clock: str, time: datetime) -> None:
        self._set(job, clock, "last_fire", seconds_text(time))

    def set_last_fires(self, last_fires: Mapping[tuple[str, str], datetime]) -> None:
        """Many clocks' last fire in one transaction (1,000 clocks due at once: one commit)."""
        self._set_many("last_fire", last_fires)

    def set_anchors(self, anchors: Mapping[tuple[str, str], datetime]) -> None:
        """Many interval anchors in one transaction (first load of many clocks)."""
        self._set_many("anchor", anchors)

    def _set_many(self, column: str, times: Mapping[tuple[str, str], datetime]) -> None:
        if not times:
            return
        with self._write() as conn:
            self._upsert_times(conn, column, times)

    @staticmethod
    def _upsert_times(
        conn: sqlite3.Connection, column: str, times: Mapping[tuple[str, str], datetime]
    ) -> None:
        conn.executemany(
            f"INSERT INTO clock_state (job, clock, {column}) VALUES (?, ?, ?) "
            f"ON CONFLICT (job, clock) DO UPDATE SET {column} = excluded.{column}",
            [(job, clock, seconds_text(time)) for (job, clock), time in times.items()],
        )

    def set_anchor(self, job: str, clock: str, time: datetime) -> None:
        self._set(job, clock, "anchor", seconds_text(time))

    def clear_clock(self, job: str, clock: str) -> None:
        """Forget a clock's last fire (a clock added again by a reload starts fresh)."""
        with self._lock:
            self._conn.execute(
                "UPDATE clock_state SET last_fire = NULL WHERE job = ? AND clock = ?", (job, clock)
            )

    def set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        """Pause or resume one clock, or the whole job when `clock` is None."""
        self._set(job, JOB_WIDE if clock is None else clock, "paused", int(paused))

    def is_paused(self, job: str, clock: str | None) -> bool:
        """True when the job is paused, or (given a clock) that clock is."""
        clocks = [JOB_WIDE] if clock is None else [JOB_WIDE, clock]
        rows = self._query(
            f"SELECT 1 FROM clock_state WHERE job = ? AND paused = 1 "
            f"AND clock IN ({', '.join('?' * len(clocks))}) LIMIT 1",
            (job, *clocks),
        )
        return bool(rows)


# The name callers used before the store seam; new code says SQLiteStore or open_store().
Store = SQLiteStore
