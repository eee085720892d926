"""Jobs as the API's `GET /api/v1/jobs` and `clockd jobs` describe them, like `systemctl
list-timers`: each clock with its next fire, its last fire, its last run's state, paused.

The same functions serve the daemon (`Service.jobs_overview`: next fires from its planner)
and `clockd jobs` without a daemon (next fires computed here from the stored anchors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clocks.base import Clock
    from scheduler.models import Job
    from scheduler.scheduling.clockbook import ClockBook
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import RunRecord

Key = tuple[str, str]


def describe_job(
    job: Job, book: ClockBook, next_fire: Callable[[Job, Clock], datetime | None]
) -> dict[str, Any]:
    """A job in the API's shape, without its clocks' last runs (`add_last_runs`)."""
    clocks = []
    for clock in job.clocks:
        upcoming = next_fire(job, clock)
        clocks.append(
            {
                "name": clock.name,
                "kind": clock.kind,
                "describe": clock.describe(),
                "timezone": clock.timezone,
                "parameters": dict(clock.parameter_defaults),
                "next_fire": upcoming.isoformat() if upcoming else None,
                "paused": book.is_paused(job.name, clock.name),
                "enabled": clock.enabled,
                "catchup": clock.catchup,
            }
        )
    return {
        "name": job.name,
        "description": job.description,
        "enabled": job.enabled,
        "paused": book.is_paused(job.name, None),
        "clocks": clocks,
        "parameters_schema": job.parameters.json_schema(),
    }


NEXT_FIRES = 5  # kept fires a clock lists in GET /api/v1/jobs/{job} and on the job page
MAX_SKIPPED = 50  # removed fires listed with them, at most


def next_fates(clock: Clock, after: datetime, count: int = NEXT_FIRES) -> list[dict[str, Any]]:
    """A clock's next `count` fires after `after`, with the fires its calendar, exclude and
    between removed or moved in between (spec 2.5): `{"time"}`, `{"time", "moved_from",
    "reason"}` or `{"time", "skipped"}`, times in the clock's zone."""
    from clocks.localtime import get_zone
    from clocks.schedule import merge_fates

    zone = get_zone(clock.timezone)
    entries: list[dict[str, Any]] = []
    kept = skipped = 0
    for fate in merge_fates([clock], after):
        entry: dict[str, Any] = {"time": fate.time.astimezone(zone).isoformat()}
        if not fate.kept:
            skipped += 1
            if skipped > MAX_SKIPPED:
                break
            entry["skipped"] = fate.reason
        else:
            kept += 1
            if fate.moved:
                entry["moved_from"] = fate.original.astimezone(zone).isoformat()
                entry["reason"] = fate.reason
        entries.append(entry)
        if kept >= count:
            break
    return entries


def add_next_fates(
    described: dict[str, Any], job: Job, book: ClockBook, now: datetime
) -> dict[str, Any]:
    """`described` (a job's API shape) with each clock's `next_fires` (`next_fates`): the fires
    removed or moved by calendar, exclude and between among them. Empty for a disabled clock."""
    for shown, clock in zip(described["clocks"], job.clocks, strict=True):
        fires: list[dict[str, Any]] = []
        if job.enabled and clock.enabled:
            try:
                fires = next_fates(book.effective(job.name, clock), now)
            except Exception:  # a clock that cannot say (unanchored without a store) shows none
                fires = []
        shown["next_fires"] = fires
    return described


def clock_keys(described: Iterable[Mapping[str, Any]]) -> list[Key]:
    return [(job["name"], clock["name"]) for job in described for clock in job["clocks"]]


def read_last_runs(store: RunStore, keys: Iterable[Key]) -> dict[Key, RunRecord]:
    """The newest run of each (job, clock): one indexed lookup a clock (`runs_by_job`)."""
    found = {}
    for job, clock in keys:
        newest = store.list_runs(job=job, clock=clock, limit=1)
        if newest:
            found[(job, clock)] = newest[0]
    return found


def fires_only(
    jobs: Mapping[str, Job], book: ClockBook, last_fires: Mapping[Key, datetime]
) -> dict[Key, datetime]:
    """The stored last fires that are fires of their clock. A clock first planned stores
    the moment it was loaded as its last fire (where catch-up starts): not a fire to show."""
    from datetime import timedelta

    shown = {}
    for (job_name, clock_name), moment in last_fires.items():
        job = jobs.get(job_name)
        clock = job.clock(clock_name) if job is not None else None
        if job is None or clock is None:
            continue
        try:
            if book.effective(job_name, clock).next_fire(moment - timedelta(seconds=1)) == moment:
                shown[(job_name, clock_name)] = moment
        except Exception:  # a clock that cannot say shows no last fire rather than fail
            continue
    return shown


def last_run_json(record: RunRecord) -> dict[str, Any]:
    whole = record.to_json()
    return {
        key: whole[key]
        for key in ("id", "state", "scheduled_time", "started_at", "ended_at", "error")
    }


def add_last_runs(
    described: Iterable[dict[str, Any]],
    last_runs: Mapping[Key, RunRecord],
    last_fires: Mapping[Key, datetime],
) -> None:
    """Each clock gets `last_fire` (the newest fire claimed, paused ones included) and
    `last_run` (`{"id", "state", "scheduled_time", "started_at", "ended_at", "error"}`)."""
    for job in described:
        for clock in job["clocks"]:
            key = (job["name"], clock["name"])
            fired = last_fires.get(key)
            record = last_runs.get(key)
            clock["last_fire"] = fired.isoformat() if fired else None
            clock["last_run"] = last_run_json(record) if record is not None else None
