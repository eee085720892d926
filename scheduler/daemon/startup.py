"""What a daemon's start waits for and asks of its machine before it schedules anything.

A database that is away at start-up is waited for, not a start-up failure (spec 7): the
store is opened, and the daemon registered and its leftovers recovered, once it can be
reached; READY=1 comes only then. A stop asked meanwhile ends the wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from scheduler.storage import StoreUnavailable, open_configured_store

if TYPE_CHECKING:
    from scheduler.daemon.systemd import Notifier
    from scheduler.models import DaemonSettings
    from scheduler.storage.base import RunStore

log = logging.getLogger("clockd.daemon")

T = TypeVar("T")
FIRST_DELAY = 0.1  # seconds between tries, doubling up to
LONGEST_DELAY = 5.0


class DatabaseWait:
    """Tries start-up steps until the database takes them (`stop_requested` ends the wait,
    `wake` cuts a delay short); says once, in the log and to systemd, that it waits."""

    def __init__(
        self, notifier: Notifier, stop_requested: Callable[[], bool], wake: asyncio.Event
    ) -> None:
        self.notifier = notifier
        self.stop_requested = stop_requested
        self.wake = wake

    async def open_store(self, settings: DaemonSettings) -> RunStore | None:
        """The configured store once it can be reached; None when a stop was asked."""

        def unreachable(error: Exception) -> str | None:
            return str(error) if isinstance(error, StoreUnavailable) else None

        return await self._retry(lambda: open_configured_store(settings, wait=False), unreachable)

    async def write(self, store: RunStore, write: Callable[[], T]) -> T | None:
        """`write()` (before the writer's thread runs), retried while the store is locked or
        unreachable; None when a stop was asked."""

        def transient(error: Exception) -> str | None:
            if not store.is_transient(error):
                return None
            store.reset()
            return store.describe_error(error)

        return await self._retry(write, transient)

    async def _retry(
        self, step: Callable[[], T], transient: Callable[[Exception], str | None]
    ) -> T | None:
        delay = FIRST_DELAY
        said = False
        while True:
            try:
                return step()
            except Exception as error:
                reason = transient(error)
                if reason is None:
                    raise
                if not said:
                    said = True
                    log.warning("waiting for the database before starting error=%s", reason)
                    self.notifier.status("waiting for the database")
            if self.stop_requested():
                return None
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self.wake.clear()
            delay = min(delay * 2, LONGEST_DELAY)


def make_room_for_runs(runs: int) -> None:
    """Raise the open files limit for `runs` at once (each holds pipes), or say it is short."""
    from scheduler.running.local.process import make_room_for_runs as raise_limit

    wanted, before, after = raise_limit(runs)
    if after < wanted:
        log.warning(
            "open files limit %d is below the %d that max_concurrent_runs=%d may need; "
            "raise LimitNOFILE= (the hard limit) or lower max_concurrent_runs",
            after,
            wanted,
            runs,
        )
    elif after != before:
        log.info(
            "raised the open files limit from %d to %d for max_concurrent_runs=%d",
            before,
            after,
            runs,
        )
