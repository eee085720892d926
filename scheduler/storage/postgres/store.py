"""The run history in PostgreSQL, shared by several daemons (`PostgresStore`, spec 8).

One psycopg 3 connection per store (`session.Session`), in autocommit, with explicit transactions where several
statements go together (claims, log batches). Every call may wait on the network
(`blocking = True`: the daemon calls it on threads). A call that fails because the server is
away raises `StoreUnavailable` and drops the connection; the next call connects again, so
the writer's retries and the readers reconnect by themselves (`reset`).

Claims across daemons (once, pause flags, jobs that keep their runs together): `claims`.

    store = PostgresStore.open("postgresql://clockd@db/clockd")

Why this module is long: it is the PostgreSQL implementation of the whole `RunStore`
protocol, one method a store operation; claims, daemons, the schema and the connection are
in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from scheduler.storage.base import JOB_WIDE, LogBatch
from scheduler.storage.postgres import claims, schema
from scheduler.storage.postgres.columns import (
    SELECT_RUN,
    UPDATABLE,
    clean_text,
    column_value,
    like_prefix,
    millis,
    run_record,
    seconds,
    utc,
)
from scheduler.storage.postgres.connection import ConnectOptions, describe, is_transient
from scheduler.storage.postgres.session import Session
from scheduler.storage.pruning import RUNS_A_STEP, PruneRule, PruneStep, prune_step, run_clocks
from scheduler.storage.records import ClockState, LogLine, NewRun, RunRecord, utc_now

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
PRUNE_LOCK = schema.MIGRATION_LOCK + 1  # pg_advisory_xact_lock key of history pruning


class PostgresStore:
    """See the module docstring. `options` say how to (re)connect."""

    blocking = True

    def __init__(self, options: ConnectOptions, *, readonly: bool = False) -> None:
        self.options = options
        self.location = options.location
        self.readonly = readonly
        self.session = Session(options, readonly=readonly)
        self._call = self.session.call
        self._transaction = self.session.transaction
        # Set when this daemon was taken over by a survivor (spec 8): its runs are retried
        # elsewhere, so what it would still write of them (states, log lines) is dropped.
        self.fenced = False

    @classmethod
    def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        password: str | None = None,
        daemon_timeout: float | None = None,
        base_dir: str | None = None,
        connect: bool = True,
    ) -> PostgresStore:
        """Connect (unless `connect=False`), create or migrate the schema unless `readonly`.
        StoreOpenError for what no retry mends (credentials, a missing database, a newer
        schema); StoreUnavailable while the server cannot be reached."""
        options = ConnectOptions.from_url(
            url, password=password, timeout=daemon_timeout, base_dir=base_dir
        )
        store = cls(options, readonly=readonly)
        if connect:
            store.prepare()
        return store

    def prepare(self) -> None:
        """Connect and migrate (or check the schema of a read-only store)."""
        self._call(lambda conn: None)

    # --- connection (`Session`) -----------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connection(self) -> psycopg.Connection:
        """The live connection (connecting if needed), for the cluster's own queries."""
        return self._call(lambda conn: conn)

    def run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """`fn(connection)` with this store's error handling (the cluster's queries)."""
        return self._call(fn)

    # --- the store as a whole --------------------------------------------------------------

    def changes_marker(self) -> object:
        """A counter moved by every pause change (what the daemon polls each second): one
        primary-key read."""
        row = self._call(
            lambda c: c.execute("SELECT value FROM clockd_markers WHERE name = 'pauses'").fetchone()
        )
        return row[0] if row else None

    def is_transient(self, error: BaseException) -> bool:
        return is_transient(error)

    def describe_error(self, error: BaseException) -> str:
        text = describe(error)
        return text if text.startswith(self.location) else f"{self.location}: {text}"

    def reset(self) -> None:
        self.session.reset()

    # --- runs ------------------------------------------------------------------------------

    def claim_fires(
        self,
        runs: Sequence[NewRun],
        last_fires: Mapping[tuple[str, str], datetime] | None = None,
    ) -> list[int | None]:
        """Insert the runs of many fires and move the clocks' last fires (never backwards:
        another daemon may have claimed a later fire) in ONE transaction; None where that
        fire already has a run, or its clock is paused (`run.refused = "paused"`)."""
        if self.fenced:
            return [None] * len(runs)
        now = utc_now()

        def claim(conn: psycopg.Connection) -> list[int | None]:
            with self._transaction():
                claims.place(conn, runs)
                ids = claims.insert(conn, runs, now)
                if last_fires:
                    claims.upsert_times(conn, "last_fire", last_fires, keep_latest=True)
                claims.mark_paused(conn, runs, ids)
            return ids

        return self._call(claim)

    def create_run(self, run: NewRun) -> int:
        """Insert one run; a fire that already has a run raises psycopg's UniqueViolation."""
        now = utc_now()

        def create(conn: psycopg.Connection) -> int:
            with self._transaction():
                claims.place(conn, [run])
                row = conn.execute(claims.INSERT_ONE, claims.row(run, now)).fetchone()
            assert row is not None
            run_id: int = row[0]
            return run_id

        return self._call(create)

    def get_run(self, run_id: int) -> RunRecord | None:
        row = self._call(lambda c: c.execute(SELECT_RUN + " WHERE id = %s", (run_id,)).fetchone())
        return run_record(row) if row else None

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
            where.append("job = %s")
            params.append(job)
        if clock is not None:
            where.append("clock = %s")
            params.append(clock)
        if state is not None:
            states = [state] if isinstance(state, str) else [str(s) for s in state]
            where.append("state = ANY(%s)")
            params.append(states)
        if parent_id is not None:
            where.append("parent_id = %s")
            params.append(parent_id)
        for bound, sign in ((before_id, "<"), (after_id, ">")):
            if bound is not None:
                where.append(f"id {sign} %s")
                params.append(bound)
        sql = SELECT_RUN
        if where:
            sql += " WHERE " + " AND ".join(where)
        # the page just newer than `after_id` is its oldest runs: read upwards, then turn it
        sql += " ORDER BY id ASC" if after_id is not None else " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        records = self._records(sql, params)
        return records[::-1] if after_id is not None else records

    def _records(self, sql: str, params: Sequence[Any] = ()) -> list[RunRecord]:
        rows = self._call(lambda c: c.execute(sql, params).fetchall())
        return [run_record(row) for row in rows]

    def update_run(self, run_id: int, **fields: Any) -> None:
        self.update_runs([(run_id, fields)])

    def update_runs(self, updates: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Set columns of many runs in one transaction, in order (later fields win)."""
        if self.fenced:
            return
        merged: dict[int, dict[str, Any]] = {}
        for run_id, fields in updates:
            unknown = fields.keys() - UPDATABLE
            if unknown:
                raise TypeError(f"update_run: unknown run fields: {', '.join(sorted(unknown))}")
            merged.setdefault(run_id, {}).update(fields)
        by_sql: dict[str, list[list[Any]]] = {}
        for run_id, fields in merged.items():
            if fields:
                values = [column_value(column, value) for column, value in fields.items()]
                sql = f"UPDATE runs SET {', '.join(f'{c} = %s' for c in fields)} WHERE id = %s"
                by_sql.setdefault(sql, []).append([*values, run_id])
        if not by_sql:
            return

        def update(conn: psycopg.Connection) -> None:
            with self._transaction(), conn.cursor() as cursor:
                for sql, rows in by_sql.items():
                    cursor.executemany(sql, rows)

        self._call(update)

    def runs_in_states(self, states: Iterable[str]) -> list[RunRecord]:
        return self._records(
            SELECT_RUN + " WHERE state = ANY(%s) ORDER BY id", [[str(s) for s in states]]
        )

    def unfinished_runs(self, owner_prefix: str | None = None) -> list[RunRecord]:
        """Runs left `pending` or `running`, oldest first; with `owner_prefix`, only those
        whose owner starts with it (a row without owner counts as a daemon's)."""
        sql = SELECT_RUN + " WHERE state IN ('pending', 'running')"
        params: list[Any] = []
        if owner_prefix is not None:
            sql += " AND (owner LIKE %s"
            params.append(like_prefix(owner_prefix))
            if "daemon:".startswith(owner_prefix) or owner_prefix.startswith("daemon:"):
                sql += " OR owner IS NULL"
            sql += ")"
        return self._records(sql + " ORDER BY id", params)

    def mark_crashed(self, now: datetime, run_ids: Sequence[int] | None = None) -> list[int]:
        """Runs left `running` or `pending` by an owner that died become `crashed` (all of
        them, or those of `run_ids` still unfinished); their ids. Two daemons crashing the
        same runs at once: each row is changed by one of them only."""
        sql = (
            "UPDATE runs SET state = 'crashed', ended_at = %s, error = COALESCE(error, "
            "CASE state WHEN 'running' THEN 'the daemon stopped while this run was running' "
            "ELSE 'the daemon stopped before this run was recorded as started' END) "
            "WHERE state IN ('running', 'pending')"
        )
        params: list[Any] = [millis(now)]
        if run_ids is not None:
            if not run_ids:
                return []
            sql += " AND id = ANY(%s)"
            params.append(list(run_ids))
        rows = self._call(lambda c: c.execute(sql + " RETURNING id", params).fetchall())
        return sorted(row[0] for row in rows)

    def has_fire(self, job: str, clock: str, scheduled_time: datetime) -> bool:
        row = self._call(
            lambda c: c.execute(
                "SELECT 1 FROM runs WHERE job = %s AND clock = %s AND scheduled_time = %s "
                f"AND trigger IN ({schema.FIRE_TRIGGER_SQL}) LIMIT 1",
                (job, clock, seconds(scheduled_time)),
            ).fetchone()
        )
        return row is not None

    # --- logs ------------------------------------------------------------------------------

    def append_log(self, run_id: int, lines: Sequence[tuple[datetime, str, str]]) -> None:
        self.append_logs({run_id: lines})

    def append_logs(self, batch: LogBatch) -> None:
        """Append lines to the logs of many runs in one statement, numbered from 1 per run
        (only the daemon that runs a run writes its log)."""
        if self.fenced:
            return
        rows = [
            (run_id, number, millis(moment), stream, clean_text(text))
            for run_id, lines in batch.items()
            for number, (moment, stream, text) in enumerate(lines, start=1)
        ]
        if not rows:
            return
        columns = [list(column) for column in zip(*rows, strict=True)]
        sql = """
            INSERT INTO run_logs (run_id, seq, time, stream, text)
            SELECT u.run_id, COALESCE(m.last, 0) + u.number, u.time, u.stream, u.text
            FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::text[], %s::text[])
                 AS u(run_id, number, time, stream, text)
            LEFT JOIN (SELECT run_id, MAX(seq) AS last FROM run_logs
                       WHERE run_id = ANY(%s) GROUP BY run_id) m ON m.run_id = u.run_id
        """
        distinct = sorted(set(columns[0]))
        self._call(lambda c: c.execute(sql, [*columns, distinct]))

    def read_log(
        self, run_id: int, *, after_seq: int = 0, limit: int | None = None
    ) -> list[LogLine]:
        sql = (
            "SELECT seq, time, stream, text FROM run_logs WHERE run_id = %s AND seq > %s "
            "ORDER BY seq"
        )
        params: list[Any] = [run_id, after_seq]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        rows = self._call(lambda c: c.execute(sql, params).fetchall())
        return [LogLine(seq=r[0], time=utc(r[1]), stream=r[2], text=r[3]) for r in rows]  # type: ignore[arg-type]

    # --- retention (storage/pruning.py) ----------------------------------------------------

    def prune_runs(self, rule: PruneRule, limit: int = RUNS_A_STEP) -> PruneStep:
        """One step; one daemon at a time prunes (a transaction-scoped advisory lock: two
        daemons deleting the same rows would only wait for each other)."""

        def prune(conn: psycopg.Connection) -> PruneStep:
            with self._transaction():
                if not conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s)", (PRUNE_LOCK,)
                ).fetchone()[0]:  # type: ignore[index]
                    return PruneStep()
                return prune_step(conn.execute, rule, mark="%s", time_value=millis, limit=limit)

        return PruneStep() if self.fenced else self._call(prune)

    def run_clocks(self, job: str) -> list[str | None]:
        return self._call(lambda c: run_clocks(c.execute, job, mark="%s"))

    # --- clock state -----------------------------------------------------------------------

    def clock_state(self, job: str, clock: str) -> ClockState:
        row = self._call(
            lambda c: c.execute(
                "SELECT last_fire, anchor, paused FROM clock_state WHERE job = %s AND clock = %s",
                (job, clock),
            ).fetchone()
        )
        if row is None:
            return ClockState()
        return ClockState(utc(row[0]), utc(row[1]), bool(row[2]))

    def clock_states(self) -> dict[tuple[str, str], ClockState]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT job, clock, last_fire, anchor, paused FROM clock_state"
            ).fetchall()
        )
        return {(r[0], r[1]): ClockState(utc(r[2]), utc(r[3]), bool(r[4])) for r in rows}

    def paused(self) -> set[tuple[str, str]]:
        rows = self._call(
            lambda c: c.execute("SELECT job, clock FROM clock_state WHERE paused").fetchall()
        )
        return {(r[0], r[1]) for r in rows}

    def set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        """Pause or resume one clock, or the whole job; moves the pause marker in the same
        transaction, so every daemon's next poll reads the flags again."""

        def write(conn: psycopg.Connection) -> None:
            with self._transaction():
                conn.execute(
                    "INSERT INTO clock_state (job, clock, paused) VALUES (%s, %s, %s) "
                    "ON CONFLICT (job, clock) DO UPDATE SET paused = excluded.paused",
                    (job, JOB_WIDE if clock is None else clock, paused),
                )
                conn.execute("UPDATE clockd_markers SET value = value + 1 WHERE name = 'pauses'")
                conn.execute("NOTIFY clockd_pauses")

        self._call(write)

    def is_paused(self, job: str, clock: str | None) -> bool:
        clocks = [JOB_WIDE] if clock is None else [JOB_WIDE, clock]
        row = self._call(
            lambda c: c.execute(
                "SELECT 1 FROM clock_state WHERE job = %s AND paused AND clock = ANY(%s) LIMIT 1",
                (job, clocks),
            ).fetchone()
        )
        return row is not None

    def set_last_fire(self, job: str, clock: str, time: datetime) -> None:
        self.set_last_fires({(job, clock): time})

    def set_last_fires(self, last_fires: Mapping[tuple[str, str], datetime]) -> None:
        if last_fires:
            self._call(lambda c: claims.upsert_times(c, "last_fire", last_fires))

    def set_anchor(self, job: str, clock: str, time: datetime) -> None:
        self.set_anchors({(job, clock): time})

    def set_anchors(self, anchors: Mapping[tuple[str, str], datetime]) -> None:
        if anchors:
            self._call(lambda c: claims.upsert_times(c, "anchor", anchors))

    def clear_clock(self, job: str, clock: str) -> None:
        self._call(
            lambda c: c.execute(
                "UPDATE clock_state SET last_fire = NULL WHERE job = %s AND clock = %s",
                (job, clock),
            )
        )
