"""What `/healthz` checks: the store accepts writes, the event loop is not lagging, the
scheduler is alive. Each check is `{"check", "ok", "detail"}`; one that fails makes the
answer 503 (spec 5).
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scheduler.timesource import TimeSource

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from scheduler.scheduling.firing import Firing
    from scheduler.storage.writer import StoreWriter

# The daemon's loop wakes at least once a second; a wake this much later than that means
# something held the loop (a blocking call), and fires due meanwhile were late.
LAG_LIMIT = 1.0
LAG_WINDOW = 10.0  # seconds over which the worst lag is reported
TICK_INTERVAL = 1.0
# APScheduler processes due jobs at once; a due time this far in the past means it stopped.
SCHEDULER_OVERDUE = timedelta(seconds=5)


class HealthWatch:
    def __init__(self, time_source: TimeSource) -> None:
        self.time_source = time_source
        self._last_tick: float | None = None
        self._lags: deque[tuple[float, float]] = deque(maxlen=64)

    def tick(self, monotonic: float) -> None:
        """The daemon's loop woke (it does at least every TICK_INTERVAL)."""
        if self._last_tick is not None:
            lag = monotonic - self._last_tick - TICK_INTERVAL
            if lag > 0.05:
                self._lags.append((monotonic, lag))
        self._last_tick = monotonic

    def loop_lag(self) -> float:
        """The worst lag of the loop's wakes in the last LAG_WINDOW seconds (0 when none)."""
        now = self.time_source.monotonic()
        recent = [lag for at, lag in self._lags if now - at <= LAG_WINDOW]
        if self._last_tick is not None:
            recent.append(now - self._last_tick - TICK_INTERVAL)  # a loop stuck right now
        return max([0.0, *recent])

    def checks(
        self, writer: StoreWriter, scheduler: AsyncIOScheduler, firing: Firing
    ) -> list[dict[str, Any]]:
        return [
            self._store(writer, firing),
            self._loop(),
            self._scheduler(scheduler),
        ]

    def _store(self, writer: StoreWriter, firing: Firing) -> dict[str, Any]:
        health = writer.health
        if health.ok:
            return {"check": "store", "ok": True, "detail": "writable"}
        since = self.time_source.monotonic() - (health.failing_since or 0.0)
        return {
            "check": "store",
            "ok": False,
            "detail": (
                f"writes failing for {since:.0f}s ({health.failed_attempts} failed attempts): "
                f"{health.last_error}; waiting: {writer.backlog()} writes, "
                f"{firing.backlog()} fires"
            ),
        }

    def _loop(self) -> dict[str, Any]:
        lag = self.loop_lag()
        return {
            "check": "loop",
            "ok": lag < LAG_LIMIT,
            "detail": f"worst lag in the last {LAG_WINDOW:g}s: {lag:.3f}s",
        }

    def _scheduler(self, scheduler: AsyncIOScheduler) -> dict[str, Any]:
        from apscheduler.schedulers.base import STATE_RUNNING

        if scheduler.state != STATE_RUNNING:
            return {"check": "scheduler", "ok": False, "detail": "not running"}
        due = scheduler._jobstores["default"].get_next_run_time()
        now = self.time_source.now()
        if due is not None and now - due > SCHEDULER_OVERDUE:
            late = (now - due).total_seconds()
            return {
                "check": "scheduler",
                "ok": False,
                "detail": f"a fire due {late:.0f}s ago has not been processed",
            }
        return {"check": "scheduler", "ok": True, "detail": "running"}
