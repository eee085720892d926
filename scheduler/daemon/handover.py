"""What the daemon's loop does with what its cluster link found (spec 8): runs given to this
daemon, cancels asked through another one, runs of a dead daemon to retry, the fencing gate,
and being taken over. Kept apart from `lifecycle` so that a daemon alone (SQLite) never
loads it.

    glue = ClusterGlue(daemon)       # after `assemble`
    glue.attach(cluster, crashed_at_start)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from scheduler.daemon import crashes

if TYPE_CHECKING:
    from scheduler.daemon.cluster import Cluster
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.cluster")


class ClusterGlue:
    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self._tasks: set[asyncio.Task[Any]] = set()

    def attach(self, cluster: Cluster, crashed_at_start: list[RunRecord]) -> None:
        daemon = self.daemon
        cluster.on_adopt = self.adopt
        cluster.on_cancel = self.cancel
        cluster.on_crashed = self.retry
        cluster.on_taken_over = self.taken_over
        cluster.on_gate_open = self.gate_open
        daemon.executor.may_start = cluster.may_start
        cluster.start(asyncio.get_running_loop())
        if crashed_at_start:
            self.retry(daemon.identity.name, crashed_at_start)

    def adopt(self, records: list[RunRecord]) -> None:
        """Runs another daemon claimed and gave this one: their job's active runs are here,
        so this daemon's queue decides `max_active_runs` and `overlap` for them."""
        daemon = self.daemon
        for record in records:
            job = daemon.config.jobs.get(record.job)
            if job is None:
                self._finish(record, "failed", f"job '{record.job}' is not in this daemon's config")
                continue
            log.info("run adopted job=%s run_id=%s", record.job, record.id)
            daemon.executor.submit(record.id, job, crashes.resolved_of(record), record)

    def cancel(self, run_ids: list[int]) -> None:
        for run_id in run_ids:
            if self.daemon.executor.live_record(run_id) is None:
                continue  # ended meanwhile, or not started here: nothing to stop
            task = asyncio.get_running_loop().create_task(self.daemon.executor.cancel(run_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def retry(self, dead: str, records: list[RunRecord]) -> None:
        """Crashed runs of a dead daemon (or of this one's previous instance): each retried
        here as its next attempt where its job's `retries` allow."""
        queued = self.daemon.service.retry_crashed(records)
        log.warning(
            "crashed runs of daemon %s run_ids=%s retried=%s",
            dead,
            [record.id for record in records],
            queued,
        )

    def gate_open(self) -> None:
        log.warning("heartbeat through again: runs start again")
        self.daemon.executor.resume_starting()

    def taken_over(self, by: str) -> None:
        """Another daemon crashed this one's runs and retries them: write nothing more for
        them, stop them, and exit for a clean start."""
        daemon = self.daemon
        from datetime import timedelta

        from scheduler.daemon.cluster import EX_TEMPFAIL

        daemon.store.fenced = True
        daemon.request_stop(exit_code=EX_TEMPFAIL, grace=timedelta(0))

    def _finish(self, record: RunRecord, state: str, error: str) -> None:
        fields = {"state": state, "error": error, "ended_at": self.daemon.time_source.now()}
        self.daemon.writer.submit(
            lambda store: store.update_runs([(record.id, fields)]), "adopted run"
        )
