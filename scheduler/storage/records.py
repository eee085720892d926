"""The rows of the run history as Python records, and their text form in SQLite.

Times are stored as UTC ISO text ending in `Z`, one fixed precision per column so text order
is time order: whole seconds for `scheduled_time`, `last_fire` and `anchor`, milliseconds for
the others. Records expose aware UTC datetimes. JSON columns hold compact JSON.

`scheduler.storage.sqlite.store` re-exports the records, so callers keep importing them from there.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scheduler.models import RunState

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
            created_at=self.created_at or utc_now(),
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


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- run columns ---------------------------------------------------------------------------

RUN_COLUMNS = (
    "job clock name trigger state parameters secret_refs scheduled_time created_at started_at "
    "ended_at attempt exit_code error parent_id result lateness"
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
    )
