"""Run history and clock state in one SQLite file: the only module with SQL.

One writer (the daemon, or `clockd run`) and any number of readers (CLI, API) share the file:
WAL journal, `busy_timeout` 10 s, `synchronous=NORMAL`. Writes that read first (claims, log
sequence numbers) run in `BEGIN IMMEDIATE`, so they wait for the write lock instead of
failing on a lock upgrade.

Times are stored as UTC ISO text ending in `Z`, one fixed precision per column so text order
is time order: whole seconds for `scheduled_time`, `last_fire` and `anchor`, milliseconds for
the others. Records expose aware UTC datetimes.

    store = Store.open(Path("clockd.db"))
    ids = store.claim_fires([NewRun(job="report", clock="nightly", trigger="clock", ...)])
    # ids[i] is None when that fire already has a run
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scheduler.errors import UserError
from scheduler.models import FIRE_TRIGGERS, RunState

_FIRE_TRIGGER_SQL = ", ".join(f"'{trigger.value}'" for trigger in FIRE_TRIGGERS)
JOB_WIDE = "*"  # clock_state.clock for a pause that covers the whole job


# --- records -------------------------------------------------------------------------------


@dataclass
class NewRun:
    job: str
    clock: str | None
    trigger: str
    scheduled_time: datetime
    parameters: dict[str, Any]  # MASKED values
    secret_refs: dict[str, str] = field(default_factory=dict)  # name → "env:X"; not secret
    name: str | None = None
    parent_id: int | None = None
    state: str = "pending"
    created_at: datetime | None = None
    error: str | None = None
    lateness: float | None = None

    def to_record(self, run_id: int) -> RunRecord:
        """The record this run has once inserted as `run_id` (saves reading it back)."""
        return RunRecord(
            id=run_id,
            job=self.job,
            clock=self.clock,
            name=self.name,
            trigger=self.trigger,
            state=self.state,
            parameters=self.parameters,
            scheduled_time=self.scheduled_time,
            created_at=self.created_at or _now(),
            started_at=None,
            ended_at=None,
            attempt=0,
            exit_code=None,
            error=self.error,
            parent_id=self.parent_id,
            result=None,
            lateness=self.lateness,
            secret_refs=self.secret_refs,
        )


@dataclass
class RunRecord:
    id: int
    job: str
    clock: str | None
    name: str | None
    trigger: str
    state: str
    parameters: dict[str, Any]
    scheduled_time: datetime
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    attempt: int
    exit_code: int | None
    error: str | None
    parent_id: int | None
    result: Any
    lateness: float | None
    secret_refs: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The spec 3 record: times ISO 8601 with offset, no secret references."""
        return {
            "id": self.id,
            "job": self.job,
            "clock": self.clock,
            "name": self.name,
            "trigger": self.trigger,
            "state": self.state,
            "parameters": self.parameters,
            "scheduled_time": _iso(self.scheduled_time),
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "attempt": self.attempt,
            "exit_code": self.exit_code,
            "error": self.error,
            "parent_id": self.parent_id,
            "result": self.result,
        }

    @property
    def is_final(self) -> bool:
        return RunState(self.state).is_final


@dataclass
class LogLine:
    seq: int
    time: datetime
    stream: str  # "stdout" | "stderr" | "clockd"
    text: str


@dataclass
class ClockState:
    last_fire: datetime | None = None
    anchor: datetime | None = None
    paused: bool = False


# --- time text -----------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _seconds_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store needs aware datetimes")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _millis_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store needs aware datetimes")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


# --- schema --------------------------------------------------------------------------------

_MIGRATIONS_SET = "clockd"


def _migrations() -> Any:
    from sqlite_utils import Migrations

    migrations = Migrations(_MIGRATIONS_SET)

    @migrations(name="0001_initial")
    def initial(db: Any) -> None:
        db.executescript(
            f"""
            CREATE TABLE runs (
                id INTEGER PRIMARY KEY,  -- no AUTOINCREMENT: refused claims burn no ids
                job TEXT NOT NULL,
                clock TEXT,
                name TEXT,
                trigger TEXT NOT NULL,
                state TEXT NOT NULL,
                parameters TEXT NOT NULL DEFAULT '{{}}',
                secret_refs TEXT NOT NULL DEFAULT '{{}}',
                scheduled_time TEXT NOT NULL,
                created_at TEXT NOT NULL,
                started_at TEXT,
                ended_at TEXT,
                attempt INTEGER NOT NULL DEFAULT 0,
                exit_code INTEGER,
                error TEXT,
                parent_id INTEGER,
                result TEXT,
                lateness REAL
            );
            CREATE UNIQUE INDEX runs_one_per_fire ON runs (job, clock, scheduled_time)
                WHERE trigger IN ({_FIRE_TRIGGER_SQL});
            CREATE INDEX runs_by_job ON runs (job, clock, id);
            CREATE INDEX runs_by_state ON runs (state);
            CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
            CREATE TABLE run_logs (
                run_id INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                time TEXT NOT NULL,
                stream TEXT NOT NULL,
                text TEXT NOT NULL,
                PRIMARY KEY (run_id, seq)
            ) WITHOUT ROWID;
            CREATE TABLE clock_state (
                job TEXT NOT NULL,
                clock TEXT NOT NULL,
                last_fire TEXT,
                anchor TEXT,
                paused INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (job, clock)
            );
            """
        )

    @migrations(name="0002_paused_index")
    def paused_index(db: Any) -> None:
        # The daemon polls for paused clocks; with thousands of clocks, read only those.
        db.execute("CREATE INDEX clock_state_paused ON clock_state (paused) WHERE paused = 1")

    # Later schema changes go here as new functions ("0003_..."); never edit an applied one.
    return migrations


_RUN_COLUMNS = (
    "job clock name trigger state parameters secret_refs scheduled_time created_at started_at "
    "ended_at attempt exit_code error parent_id result lateness"
).split()
_JSON_COLUMNS = {"parameters", "secret_refs", "result"}
_SECONDS_COLUMNS = {"scheduled_time"}
_MILLIS_COLUMNS = {"created_at", "started_at", "ended_at"}


def _column_value(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        if column == "result" and value is None:
            return None
        return _dumps(value)
    if value is None:
        return None
    if column in _SECONDS_COLUMNS:
        return _seconds_text(value)
    if column in _MILLIS_COLUMNS:
        return _millis_text(value)
    if column in ("state", "trigger"):
        return str(value)
    return value


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        job=row["job"],
        clock=row["clock"],
        name=row["name"],
        trigger=row["trigger"],
        state=row["state"],
        parameters=json.loads(row["parameters"]),
        scheduled_time=_parse_time(row["scheduled_time"]),  # type: ignore[arg-type]
        created_at=_parse_time(row["created_at"]),  # type: ignore[arg-type]
        started_at=_parse_time(row["started_at"]),
        ended_at=_parse_time(row["ended_at"]),
        attempt=row["attempt"],
        exit_code=row["exit_code"],
        error=row["error"],
        parent_id=row["parent_id"],
        result=None if row["result"] is None else json.loads(row["result"]),
        lateness=row["lateness"],
        secret_refs=json.loads(row["secret_refs"]),
    )


# --- the store -----------------------------------------------------------------------------


class Store:
    """The run history and clock state. Safe to share between threads (one lock)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.readonly = readonly

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Store:
        """Open (and create or migrate, unless `readonly`) the database at `path`.

        A readonly store works while the daemon writes: it is a normal WAL connection that
        waits on locks and refuses writes (`PRAGMA query_only`).
        """
        from sqlite_utils import Database

        path = Path(path)
        if readonly and not path.exists():
            raise UserError(f"{path}: database does not exist yet: no run has been recorded")
        try:
            if not readonly:
                path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; we BEGIN where it matters.
            conn = sqlite3.connect(
                path, timeout=10.0, check_same_thread=False, isolation_level=None
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=10000")
        except (OSError, sqlite3.Error) as error:
            raise UserError(f"{path}: cannot open the database ({error})") from None
        try:
            if readonly:
                conn.execute("PRAGMA query_only=1")
                migrations = _migrations()
                if migrations.pending(Database(conn)):
                    raise UserError(
                        f"{path}: database schema is older than this clockd; "
                        "start `clockd serve` once to upgrade it"
                    )
            else:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                _migrations().apply(Database(conn))
        except sqlite3.DatabaseError as error:
            conn.close()
            raise UserError(f"{path}: not a usable clockd database ({error})") from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, readonly=readonly)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock up front (waits up to busy_timeout)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

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
            _dumps(run.parameters),
            _dumps(run.secret_refs),
            _seconds_text(run.scheduled_time),
            now_text if run.created_at is None else _millis_text(run.created_at),
            run.error,
            run.lateness,
            run.parent_id,
        )

    _INSERT = (
        "INSERT INTO runs (job, clock, name, trigger, state, parameters, secret_refs, "
        "scheduled_time, created_at, error, lateness, parent_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def claim_fires(self, runs: Sequence[NewRun]) -> list[int | None]:
        """Insert many runs in ONE transaction; None where the fire already has a run."""
        now_text = _millis_text(_now())
        ids: list[int | None] = []
        sql = self._INSERT + " ON CONFLICT DO NOTHING RETURNING id"
        with self._write() as conn:
            for run in runs:
                row = conn.execute(sql, self._insert_values(run, now_text)).fetchone()
                ids.append(None if row is None else row[0])
        return ids

    def create_run(self, run: NewRun) -> int:
        """Insert one run; a fire that already has a run raises sqlite3.IntegrityError."""
        with self._write() as conn:
            row = conn.execute(
                self._INSERT + " RETURNING id", self._insert_values(run, _millis_text(_now()))
            )
            run_id: int = row.fetchone()[0]
        return run_id

    def get_run(self, run_id: int) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _record(rows[0]) if rows else None

    def list_runs(
        self,
        *,
        job: str | None = None,
        clock: str | None = None,
        state: str | Iterable[str] | None = None,
        parent_id: int | None = None,
        limit: int | None = 100,
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
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_record(row) for row in self._query(sql, params)]

    def mark_running(self, started: Sequence[tuple[int, datetime]]) -> None:
        """Runs whose process started: state running, started_at, attempt 1 — one transaction."""
        if not started:
            return
        with self._write() as conn:
            conn.executemany(
                "UPDATE runs SET state = 'running', started_at = ?, attempt = 1 WHERE id = ?",
                [(_column_value("started_at", moment), run_id) for run_id, moment in started],
            )

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of one run: `update_run(7, state="running", started_at=now, attempt=1)`."""
        unknown = set(fields) - set(_RUN_COLUMNS)
        if unknown:
            raise TypeError(f"update_run: unknown run fields: {', '.join(sorted(unknown))}")
        if not fields:
            return
        assignments = ", ".join(f"{column} = ?" for column in fields)
        values = [_column_value(column, value) for column, value in fields.items()]
        with self._lock:
            self._conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*values, run_id])

    def runs_in_states(self, states: Iterable[str]) -> list[RunRecord]:
        """Runs in any of `states`, oldest first."""
        states = [str(s) for s in states]
        rows = self._query(
            f"SELECT * FROM runs WHERE state IN ({', '.join('?' * len(states))}) ORDER BY id",
            states,
        )
        return [_record(row) for row in rows]

    def mark_crashed(self, now: datetime) -> list[int]:
        """Runs left `running` by a daemon that died become `crashed`; returns their ids."""
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE runs SET state = 'crashed', ended_at = ?, "
                "error = COALESCE(error, 'the daemon stopped while this run was running') "
                "WHERE state = 'running' RETURNING id",
                (_millis_text(now),),
            ).fetchall()
        return sorted(row[0] for row in rows)

    def has_fire(self, job: str, clock: str, scheduled_time: datetime) -> bool:
        rows = self._query(
            "SELECT 1 FROM runs WHERE job = ? AND clock = ? AND scheduled_time = ? "
            f"AND trigger IN ({_FIRE_TRIGGER_SQL}) LIMIT 1",
            (job, clock, _seconds_text(scheduled_time)),
        )
        return bool(rows)

    # --- logs ------------------------------------------------------------------------------

    def append_log(self, run_id: int, lines: Sequence[tuple[datetime, str, str]]) -> None:
        """Append `(time, stream, text)` lines to a run's log, numbered from 1."""
        if not lines:
            return
        with self._write() as conn:
            last = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM run_logs WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO run_logs (run_id, seq, time, stream, text) VALUES (?, ?, ?, ?, ?)",
                [
                    (run_id, last + offset, _millis_text(moment), stream, text)
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
            LogLine(seq=row[0], time=_parse_time(row[1]), stream=row[2], text=row[3])  # type: ignore[arg-type]
            for row in self._query(sql, params)
        ]

    # --- clock state -----------------------------------------------------------------------

    def clock_state(self, job: str, clock: str) -> ClockState:
        """The clock's own row (last fire, anchor, clock-level pause); defaults when absent."""
        rows = self._query(
            "SELECT last_fire, anchor, paused FROM clock_state WHERE job = ? AND clock = ?",
            (job, clock),
        )
        if not rows:
            return ClockState()
        return ClockState(_parse_time(rows[0][0]), _parse_time(rows[0][1]), bool(rows[0][2]))

    def clock_states(self) -> dict[tuple[str, str], ClockState]:
        """Every row, keyed by (job, clock); clock "*" rows hold whole-job pauses."""
        rows = self._query("SELECT job, clock, last_fire, anchor, paused FROM clock_state")
        return {
            (row[0], row[1]): ClockState(_parse_time(row[2]), _parse_time(row[3]), bool(row[4]))
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
        self._set(job, clock, "last_fire", _seconds_text(time))

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
            conn.executemany(
                f"INSERT INTO clock_state (job, clock, {column}) VALUES (?, ?, ?) "
                f"ON CONFLICT (job, clock) DO UPDATE SET {column} = excluded.{column}",
                [(job, clock, _seconds_text(time)) for (job, clock), time in times.items()],
            )

    def set_anchor(self, job: str, clock: str, time: datetime) -> None:
        self._set(job, clock, "anchor", _seconds_text(time))

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
