"""Copying a run history into another database (`clockd db copy --to URL`): moving from one
machine (SQLite) to several (PostgreSQL, spec 8) keeps the history.

Runs keep their ids (the target's id sequence is moved past them), their logs, and the
clocks' state: last fires (so catch-up goes on from where the old daemon stopped), interval
anchors (so intervals keep their rhythm) and pause flags. A target that holds a history
already is refused unless `replace=True`, which empties it first. The source is read
through the store seam; the target is written with PostgreSQL's COPY, in one transaction:
a copy that fails leaves the target as it was.

    counts = copy_history(open_store("clockd.db"), PostgresStore.open(url))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scheduler.errors import UserError
from scheduler.storage.postgres.columns import clean_text, column_value, json_text, millis, seconds

if TYPE_CHECKING:
    import psycopg

    from scheduler.storage.base import RunStore
    from scheduler.storage.postgres.store import PostgresStore

_RUN_COLUMNS = (
    "id job clock name trigger state parameters secret_refs scheduled_time created_at "
    "started_at ended_at attempt exit_code error parent_id result lateness daemon worker "
    "owner pid pid_start"
).split()
LOG_BATCH = 500  # runs whose logs are read per round


@dataclass
class CopyCounts:
    runs: int = 0
    log_lines: int = 0
    clocks: int = 0


def copy_history(source: RunStore, target: PostgresStore, *, replace: bool = False) -> CopyCounts:
    """Copy every run, log line and clock state of `source` into `target` (module docstring).
    UserError (one line) for a target that is not empty without `replace`."""
    counts = CopyCounts()
    records = sorted(source.list_runs(limit=None), key=lambda record: record.id)
    states = source.clock_states()

    def write(conn: psycopg.Connection) -> None:
        with conn.transaction():
            if _holds_history(conn):
                if not replace:
                    raise UserError(
                        f"{target.location} already holds a run history; copy into an empty "
                        "database, or add --replace to delete what it holds first"
                    )
                conn.execute("TRUNCATE runs, run_logs, clock_state")
            with conn.cursor().copy(f"COPY runs ({', '.join(_RUN_COLUMNS)}) FROM STDIN") as copy:
                for record in records:
                    copy.write_row(_run_row(record))
                    counts.runs += 1
            for start in range(0, len(records), LOG_BATCH):
                chunk = records[start : start + LOG_BATCH]
                with conn.cursor().copy(
                    "COPY run_logs (run_id, seq, time, stream, text) FROM STDIN"
                ) as copy:
                    for record in chunk:
                        for line in source.read_log(record.id):
                            copy.write_row(
                                (
                                    record.id,
                                    line.seq,
                                    millis(line.time),
                                    line.stream,
                                    clean_text(line.text),
                                )
                            )
                            counts.log_lines += 1
            with conn.cursor().copy(
                "COPY clock_state (job, clock, last_fire, anchor, paused) FROM STDIN"
            ) as copy:
                for (job, clock), state in sorted(states.items()):
                    copy.write_row(
                        (
                            job,
                            clock,
                            None if state.last_fire is None else seconds(state.last_fire),
                            None if state.anchor is None else seconds(state.anchor),
                            state.paused,
                        )
                    )
                    counts.clocks += 1
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('runs', 'id'), "
                "GREATEST((SELECT MAX(id) FROM runs), 1), (SELECT COUNT(*) > 0 FROM runs))"
            )
            conn.execute("UPDATE clockd_markers SET value = value + 1 WHERE name = 'pauses'")

    target.run(write)
    return counts


def _holds_history(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM clock_state)"
    ).fetchone()
    return bool(row and row[0])


def _run_row(record: Any) -> tuple[Any, ...]:
    values = []
    for column in _RUN_COLUMNS:
        value = getattr(record, column)
        if column == "id":
            values.append(value)
        elif column in ("parameters", "secret_refs"):
            values.append(clean_text(json_text(value)))
        else:
            values.append(column_value(column, value))
    return tuple(values)
