"""APScheduler's asyncio scheduler, waking on time.

An event loop's wait has millisecond resolution, rounded up, and the kernel lets a poll-family
wait of T end up to T/1000 late (its timer slack; up to 1 ms for the daemon's 1 s sleeps).
So a fire after an idle second started 2–3 ms late before any of clockd's own work ran.
`OnTimeScheduler` arms its timer `LEAD` early and sleeps the last stretch precisely
(`time.sleep`: nanosleep, 50 µs slack) on the loop thread, then runs the scheduler's pass at
once, without the extra loop pass of APScheduler's thread-safe `wakeup`.
"""

from __future__ import annotations

import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler

# Enough for the slack and rounding of a wait of up to a second, and short enough that the
# loop, blocked for it, keeps answering promptly.
LEAD = 0.003


class OnTimeScheduler(AsyncIOScheduler):  # type: ignore[misc]
    """An AsyncIOScheduler whose timer is not late by the event loop's sleep granularity."""

    # The loop time of the next pass, None when none is armed: background work (the history
    # pruner) keeps clear of it.
    next_pass: float | None = None

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        self.next_pass = None
        if wait_seconds is None:
            return
        loop = self._eventloop
        deadline = loop.time() + wait_seconds
        self.next_pass = deadline
        self._timeout = loop.call_at(deadline - LEAD, self._on_time, deadline)

    def _on_time(self, deadline: float) -> None:
        remaining = deadline - self._eventloop.time()
        if remaining > 0:
            try:
                time.sleep(min(remaining, LEAD))
            except OSError:  # libfaketime breaks nanosleep (its issue 426): wait in the loop
                self._timeout = self._eventloop.call_at(deadline, self._on_time, deadline)
                return
        self._stop_timer()
        # A pass that finds nothing due yet (the wall clock a hair behind) arms a short wait.
        self._start_timer(self._process_jobs())
