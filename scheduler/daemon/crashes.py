"""Runs to crash and retry: what a daemon does with runs whose owner died.

Two callers, one rule. A daemon at start handles its own name's leftovers (spec 7); a
survivor handles a daemon that went silent for `daemon_timeout` (spec 8, `cluster`). Either
way the unfinished runs become `crashed` in one store call, which changes each row once, so
that exactly one caller gets each run back; that caller then retries those that the job's
`retries` allow, each as its next attempt, in its own executor:

    records = crash_leftovers(store, now, "daemon:host-a:", keep="daemon:host-a:5f1c...")
    for record, job in to_retry(records, config.jobs):
        reopen(writer, record, identity)             # crashed → pending, owned here
        executor.submit(record.id, job, resolved_values(record), record)

A run counts its starts in `attempt`: one that crashed while `pending` (never recorded as
started, attempt 0) gets its first attempt; one that crashed in attempt k gets attempt k+1
while k < 1 + retries. Killing what a dead instance left on this machine (its process
groups) comes first, where the process is known (branch `orphans`): a run on another
machine cannot be reached, and is retried all the same (spec 8).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Identity, Job
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import RunRecord
    from scheduler.storage.writer import StoreWriter

log = logging.getLogger("clockd.crashes")

REOPENED = {
    "state": "pending",
    "started_at": None,
    "ended_at": None,
    "exit_code": None,
    "error": None,
}


def crash_leftovers(
    store: RunStore, now: datetime, owner_prefix: str, *, keep: str | None = None
) -> list[RunRecord]:
    """Unfinished runs whose owner starts with `owner_prefix` (but is not `keep`, the live
    instance asking) become `crashed`; the records of those this call changed, as crashed."""
    left = [r for r in store.unfinished_runs(owner_prefix) if keep is None or r.owner != keep]
    if not left:
        return []
    changed = set(store.mark_crashed(now, [record.id for record in left]))
    crashed = []
    for record in left:
        if record.id in changed:
            record.state, record.ended_at = "crashed", now
            crashed.append(record)
    return crashed


def to_retry(records: Iterable[RunRecord], jobs: Mapping[str, Job]) -> list[tuple[RunRecord, Job]]:
    """The crashed runs that get another attempt: their job still exists and its `retries`
    leave one (a run that never started gets its first)."""
    chosen = []
    for record in records:
        job = jobs.get(record.job)
        if job is None:
            log.info("crashed run not retried run_id=%s job=%s: job removed", record.id, record.job)
            continue
        if record.attempt >= 1 + max(job.retries, 0):
            continue
        chosen.append((record, job))
    return chosen


def resolved_values(record: RunRecord) -> ResolvedParameters:
    """A stored run's values as they were resolved: masked secrets get their references back
    (the secret itself is resolved again right before the spawn)."""
    from clocks.parameters import ResolvedParameters

    values: dict[str, Any] = {**record.parameters, **record.secret_refs}
    return ResolvedParameters(values=values, secrets=frozenset(record.secret_refs))


def reopen(writer: StoreWriter, record: RunRecord, identity: Identity) -> None:
    """Make a crashed run pending again, owned by this daemon (written behind, before the
    executor writes its start)."""
    fields = {**REOPENED, "owner": identity.owner, "daemon": identity.name}
    writer.submit(lambda store: store.update_runs([(record.id, fields)]), "retry crashed run")
    record.state, record.started_at, record.ended_at = "pending", None, None
    record.exit_code, record.error = None, None
    record.owner, record.daemon = identity.owner, identity.name
