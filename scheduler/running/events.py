"""`RunEvents`: the one place run events are published and subscribed to.

The executor publishes "started", "log" (new lines stored) and "finished" (final state
stored); the API's log followers, the metrics and the daemon's status subscribe. A
subscriber that raises is logged and does not stop the others.

    events = RunEvents()
    unsubscribe = events.subscribe(lambda kind, record: print(kind, record.id))
    events.publish("started", record)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.events")

Subscriber = Callable[[str, "RunRecord"], None]


class RunEvents:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(kind, record)` for every event from now on; returns the
        function that stops it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, kind: str, record: RunRecord) -> None:
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(kind, record)
            except Exception:
                log.exception("run event subscriber failed event=%s run_id=%s", kind, record.id)
