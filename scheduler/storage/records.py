"""The run history as Python records, whatever store holds it.

Times are aware UTC datetimes. `RunRecord.to_json` is the spec 3 shape the API, the CLI's
`--json` and the UI show.
"""

from __future__ import annotations

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
    daemon: str | None = None  # the daemon's name ("cli@HOST" for `clockd run`)
    owner: str | None = None  # the instance that holds the run's process (see RunRecord)
    # Several daemons (spec 8): the job's active runs must stay in one daemon's queue
    # (`max_active_runs` or `overlap` set), so a shared store may give this run to the daemon
    # that holds them (it changes `owner` and `daemon` then).
    keep_together: bool = False
    # Set by a shared store when it did not insert a fire that has no run: "paused" (its
    # clock or job is paused in the database).
    refused: str | None = None

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
            daemon=self.daemon,
            owner=self.owner,
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
    daemon: str | None = None  # which daemon ran it (spec 8); "cli@HOST" for `clockd run`
    worker: str | None = None  # where it ran on a cluster (spec 9); None for local runs
    # Who holds the run's process: "daemon:<name>:<instance>" or "cli:<host>:<pid>:<start>";
    # the process group (pid, and the leader's start time, since a pid can be reused) lets
    # the next start of that owner kill what a dead instance left (spec 7).
    owner: str | None = None
    pid: int | None = None
    pid_start: int | None = None

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
            "daemon": self.daemon,
            "worker": self.worker,
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


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def utc_now() -> datetime:
    return datetime.now(UTC)
