"""The statements of a claim (`PostgresStore.claim_fires`, `create_run`): fires inserted once
across daemons, paused clocks refused, runs of a job that keeps its runs together placed in
the daemon that holds them, and the clocks' last fires moved — all inside the caller's
transaction.

- Once: a fire's row is inserted with `ON CONFLICT DO NOTHING` on the unique fire index, so
  two daemons claiming it at once get one row (the second waits for the first's commit, then
  does nothing). Rows already there are filtered before the insert, so a refused claim burns
  no id.
- Paused: a fire whose clock or job is paused in the database is not inserted
  (`NewRun.refused = "paused"` says why).
- Together: a run whose job keeps its active runs together (`NewRun.keep_together`:
  `max_active_runs` or `overlap` set) is given, under a per-job advisory lock, to the live
  daemon that already holds active runs of that job (`owner` = its owner + `HANDED`, which
  that daemon adopts): one daemon's queue then decides them as it does alone.
- Last fires never move back: another daemon may have claimed a later fire first. Keys are
  written in one order by every daemon, so two claims never deadlock.

Each function takes the connection of an open transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.storage.base import JOB_WIDE
from scheduler.storage.postgres import schema
from scheduler.storage.postgres.columns import clean_text, json_text, millis, seconds, utc

if TYPE_CHECKING:
    import psycopg

    from scheduler.storage.records import NewRun

HANDED = ":handed"  # suffix of the owner of a run given to another daemon, until it adopts it
# pg_advisory_xact_lock(JOB_LOCKS, hashtext(job)): claims of a job that keeps its runs together
JOB_LOCKS = 0x636C6B

_FIRE_TRIGGERS = schema.FIRE_TRIGGER_SQL
_PAUSABLE = "('clock', 'catchup')"

CLAIM_SQL = f"""
INSERT INTO runs (job, clock, name, trigger, state, parameters, secret_refs, scheduled_time,
                  created_at, error, lateness, parent_id, daemon, owner)
SELECT f.job, f.clock, f.name, f.trigger, f.state, f.parameters, f.secret_refs,
       f.scheduled_time, f.created_at, f.error, f.lateness, f.parent_id, f.daemon, f.owner
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::float8[],
            %s::bigint[], %s::text[], %s::text[]) WITH ORDINALITY
     AS f(job, clock, name, trigger, state, parameters, secret_refs, scheduled_time,
          created_at, error, lateness, parent_id, daemon, owner, ord)
WHERE NOT (f.trigger IN ({_FIRE_TRIGGERS}) AND EXISTS (
        SELECT 1 FROM runs r WHERE r.job = f.job AND r.clock = f.clock
        AND r.scheduled_time = f.scheduled_time AND r.trigger IN ({_FIRE_TRIGGERS})))
  AND NOT (f.trigger IN {_PAUSABLE} AND EXISTS (
        SELECT 1 FROM clock_state s WHERE s.job = f.job AND s.clock IN (f.clock, '{JOB_WIDE}')
        AND s.paused))
ORDER BY f.ord
ON CONFLICT DO NOTHING
RETURNING id, job, clock, trigger, scheduled_time
"""

INSERT_ONE = """
INSERT INTO runs (job, clock, name, trigger, state, parameters, secret_refs, scheduled_time,
                  created_at, error, lateness, parent_id, daemon, owner)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id
"""

_LIVE_HOLDERS = f"""
SELECT DISTINCT ON (r.job) r.job, d.owner, d.name
FROM runs r JOIN daemons d ON r.owner IN (d.owner, d.owner || '{HANDED}')
WHERE r.job = ANY(%s) AND r.state IN ('pending', 'running')
  AND d.stopped IS NULL AND d.taken_over_by IS NULL
  AND d.heartbeat > now() - make_interval(secs => d.timeout)
ORDER BY r.job, r.id
"""


def row(run: NewRun, now: datetime) -> tuple[Any, ...]:
    """The values of `run`'s row, in the order of `CLAIM_SQL`'s and `INSERT_ONE`'s columns."""
    return (
        run.job,
        run.clock,
        None if run.name is None else clean_text(run.name),
        str(run.trigger),
        str(run.state),
        clean_text(json_text(run.parameters)),
        json_text(run.secret_refs),
        seconds(run.scheduled_time),
        millis(now if run.created_at is None else run.created_at),
        None if run.error is None else clean_text(run.error),
        run.lateness,
        run.parent_id,
        run.daemon,
        run.owner,
    )


def insert(conn: psycopg.Connection, runs: Sequence[NewRun], now: datetime) -> list[int | None]:
    """Insert the runs that are not claimed yet; their ids in order, None for the others."""
    rows = [row(run, now) for run in runs]
    keys = [(r[0], r[1], r[3], r[7]) for r in rows]
    if len(set(keys)) < len(keys):  # the same key twice: one statement per row
        return [_insert_rows(conn, [r])[0] for r in rows]
    return _insert_rows(conn, rows)


def _insert_rows(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> list[int | None]:
    columns = [list(column) for column in zip(*rows, strict=True)]
    found = {
        (job, clock, trigger, utc(scheduled)): run_id
        for run_id, job, clock, trigger, scheduled in conn.execute(CLAIM_SQL, columns)
    }
    return [found.get((r[0], r[1], r[3], r[7])) for r in rows]


def place(conn: psycopg.Connection, runs: Sequence[NewRun]) -> None:
    """Runs of jobs that keep their active runs in one daemon go to the live daemon that
    holds that job's active runs, if another does (under the job's advisory lock, so two
    claims of one job are decided one after the other)."""
    jobs = sorted({r.job for r in runs if r.keep_together and r.state == "pending"})
    if not jobs:
        return
    for job in jobs:
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (JOB_LOCKS, job))
    holders = {job: (owner, name) for job, owner, name in conn.execute(_LIVE_HOLDERS, [jobs])}
    for run in runs:
        holder = holders.get(run.job)
        if (
            holder is not None
            and run.keep_together
            and run.state == "pending"
            and holder[0] != run.owner
        ):
            run.owner, run.daemon = holder[0] + HANDED, holder[1]


def mark_paused(conn: psycopg.Connection, runs: Sequence[NewRun], ids: list[int | None]) -> None:
    """Say why a fire that got no run got none, where its clock or job is paused."""
    missing = {run.job for run, run_id in zip(runs, ids, strict=True) if run_id is None}
    if not missing:
        return
    paused = {
        (job, clock)
        for job, clock in conn.execute(
            "SELECT job, clock FROM clock_state WHERE paused AND job = ANY(%s)",
            [sorted(missing)],
        )
    }
    if not paused:
        return
    for run, run_id in zip(runs, ids, strict=True):
        if run_id is None and run.trigger in ("clock", "catchup"):
            if (run.job, JOB_WIDE) in paused or (run.job, run.clock) in paused:
                run.refused = "paused"


def upsert_times(
    conn: psycopg.Connection,
    column: str,
    times: Mapping[tuple[str, str], datetime],
    *,
    keep_latest: bool = False,
) -> None:
    """Set `column` (last_fire, anchor) of many clocks; `keep_latest`: never backwards."""
    keys = sorted(times)  # one order for every daemon: no deadlock between two claims
    value = f"GREATEST(clock_state.{column}, excluded.{column})" if keep_latest else None
    conn.execute(
        f"INSERT INTO clock_state (job, clock, {column}) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) "
        f"ON CONFLICT (job, clock) DO UPDATE SET {column} = "
        f"{value or 'excluded.' + column}",
        [[k[0] for k in keys], [k[1] for k in keys], [seconds(times[k]) for k in keys]],
    )
