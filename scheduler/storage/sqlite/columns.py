"""The text form of the run history in SQLite.

Times are stored as UTC ISO text ending in `Z`, one fixed precision per column so text order
is time order: whole seconds for `scheduled_time`, `last_fire` and `anchor`, milliseconds for
the others. JSON columns hold compact JSON.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from scheduler.storage.records import RunRecord

# --- time text -----------------------------------------------------------------------------


def seconds_text(moment: datetime) -> str:
    """`moment` as stored in a whole-seconds column: `2026-01-01T00:00:00Z`."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store needs aware datetimes")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def millis_text(moment: datetime) -> str:
    """`moment` as stored in a milliseconds column: `2026-01-01T00:00:00.000Z`."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store needs aware datetimes")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_time(text: str | None) -> datetime | None:
    """A stored time column → an aware UTC datetime (None stays None)."""
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- run columns ---------------------------------------------------------------------------

RUN_COLUMNS = (
    "job clock name trigger state parameters secret_refs scheduled_time created_at started_at "
    "ended_at attempt exit_code error parent_id result lateness daemon worker owner pid pid_start"
).split()
_JSON_COLUMNS = {"parameters", "secret_refs", "result"}
_SECONDS_COLUMNS = {"scheduled_time"}
_MILLIS_COLUMNS = {"created_at", "started_at", "ended_at"}

json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def column_value(column: str, value: Any) -> Any:
    """A Python value → what the `runs` column `column` stores."""
    if column in _JSON_COLUMNS:
        if column == "result" and value is None:
            return None
        return json_text(value)
    if value is None:
        return None
    if column in _SECONDS_COLUMNS:
        return seconds_text(value)
    if column in _MILLIS_COLUMNS:
        return millis_text(value)
    if column in ("state", "trigger"):
        return str(value)
    return value


def run_record(row: sqlite3.Row) -> RunRecord:
    """A `SELECT * FROM runs` row → its record."""
    return RunRecord(
        id=row["id"],
        job=row["job"],
        clock=row["clock"],
        name=row["name"],
        trigger=row["trigger"],
        state=row["state"],
        parameters=json.loads(row["parameters"]),
        scheduled_time=parse_time(row["scheduled_time"]),  # type: ignore[arg-type]
        created_at=parse_time(row["created_at"]),  # type: ignore[arg-type]
        started_at=parse_time(row["started_at"]),
        ended_at=parse_time(row["ended_at"]),
        attempt=row["attempt"],
        exit_code=row["exit_code"],
        error=row["error"],
        parent_id=row["parent_id"],
        result=None if row["result"] is None else json.loads(row["result"]),
        lateness=row["lateness"],
        secret_refs=json.loads(row["secret_refs"]),
        daemon=row["daemon"],
        worker=row["worker"],
        owner=row["owner"],
        pid=row["pid"],
        pid_start=row["pid_start"],
    )
