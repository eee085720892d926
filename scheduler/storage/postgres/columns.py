"""Python values ↔ the PostgreSQL columns of the run history.

Times round as SQLite stores them (whole seconds for `scheduled_time`, `last_fire`, `anchor`;
milliseconds for the others), so both stores give back the same values. JSON columns hold
compact JSON text. PostgreSQL text cannot hold NUL: a run that prints one gets U+FFFD.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from scheduler.storage.records import RunRecord

RUN_COLUMNS = (
    "id job clock name trigger state parameters secret_refs scheduled_time created_at "
    "started_at ended_at attempt exit_code error parent_id result lateness daemon worker "
    "owner pid pid_start"
).split()
SELECT_RUN = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
UPDATABLE = frozenset(RUN_COLUMNS) - {"id"}

_JSON_COLUMNS = {"parameters", "secret_refs", "result"}
_SECONDS_COLUMNS = {"scheduled_time"}
_MILLIS_COLUMNS = {"created_at", "started_at", "ended_at"}

json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store needs aware datetimes")
    return moment.astimezone(UTC).replace(microsecond=0)


def millis(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store needs aware datetimes")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def clean_text(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def column_value(column: str, value: Any) -> Any:
    """A Python value → what the `runs` column `column` stores."""
    if column in _JSON_COLUMNS:
        if column == "result" and value is None:
            return None
        return clean_text(json_text(value))
    if value is None:
        return None
    if column in _SECONDS_COLUMNS:
        return seconds(value)
    if column in _MILLIS_COLUMNS:
        return millis(value)
    if column in ("state", "trigger"):
        return str(value)
    if isinstance(value, str):
        return clean_text(value)
    return value


def utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def run_record(row: tuple[Any, ...]) -> RunRecord:
    """A `SELECT_RUN` row → its record."""
    (
        run_id,
        job,
        clock,
        name,
        trigger,
        state,
        parameters,
        secret_refs,
        scheduled_time,
        created_at,
        started_at,
        ended_at,
        attempt,
        exit_code,
        error,
        parent_id,
        result,
        lateness,
        daemon,
        worker,
        owner,
        pid,
        pid_start,
    ) = row
    return RunRecord(
        id=run_id,
        job=job,
        clock=clock,
        name=name,
        trigger=trigger,
        state=state,
        parameters=json.loads(parameters),
        scheduled_time=utc(scheduled_time),  # type: ignore[arg-type]
        created_at=utc(created_at),  # type: ignore[arg-type]
        started_at=utc(started_at),
        ended_at=utc(ended_at),
        attempt=attempt,
        exit_code=exit_code,
        error=error,
        parent_id=parent_id,
        result=None if result is None else json.loads(result),
        lateness=lateness,
        secret_refs=json.loads(secret_refs),
        daemon=daemon,
        worker=worker,
        owner=owner,
        pid=pid,
        pid_start=pid_start,
    )


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with `prefix` (its wildcards escaped)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
