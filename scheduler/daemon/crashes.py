"""Runs to crash and retry: what a daemon does with runs whose owner died.

Two callers, one rule. A daemon at start handles its own name's leftovers (spec 7); a
survivor handles a daemon that went silent for `daemon_timeout` (spec 8, `cluster`). Either
way the unfinished runs become `crashed` in one store call, which changes each row once, so
that exactly one caller gets each run back; that caller then retries those that the job's
`retries` allow, each as its next attempt, in its own executor (`Service.retry_crashed`,
the contract of branch `orphans`' `scheduler.daemon.recovery.retry_crashed`):

    records = crash_leftovers(store, now, "daemon:host-a:", keep="daemon:host-a:5f1c...")
    queued = service.retry_crashed(records)          # → Executor.resubmit, each

The attempt that crashed counts as used (a run left `pending` may have started without the
start being stored): a run that crashed in attempt k (or 0) runs again as attempt
max(k, 1) + 1 while that is within 1 + retries. Killing what a dead instance left on this
machine (its process groups) comes first, where the process is known (branch `orphans`): a
run on another machine cannot be reached, and is retried all the same (spec 8).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import RunRecord

# One retry path for a start's own leftovers and a survivor's takeover (recovery.py).
from scheduler.daemon.recovery import resolved_of, retry_crashed

__all__ = ["crash_leftovers", "resolved_of", "retry_crashed"]

log = logging.getLogger("clockd.crashes")


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
            # as the store words it (`mark_crashed` keeps an error the row had)
            record.error = record.error or (
                "the daemon stopped while this run was running"
                if record.state == "running"
                else "the daemon stopped before this run was recorded as started"
            )
            record.state, record.ended_at = "crashed", now
            crashed.append(record)
    return crashed
