"""The Clock interface: a pure description of when a job fires, plus the defaults it attaches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Catchup = Literal["none", "latest", "all"]
CATCHUP_POLICIES: tuple[str, ...] = ("none", "latest", "all")


@dataclass(frozen=True, kw_only=True, eq=False)
class Clock(ABC):
    """When a job fires. Times in and out are aware datetimes; results are in UTC, whole seconds.

    `next_fire(after)` is strictly after `after`, never before `start`, never after `end`.
    Subclasses compute from their anchor; they never accumulate.
    """

    name: str
    timezone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    parameter_defaults: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    jitter: timedelta = timedelta(0)
    catchup: Catchup = "latest"
    enabled: bool = True

    @abstractmethod
    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after `after`, or None when the clock has ended."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """ "interval", "cron" or "dates"."""

    @abstractmethod
    def describe(self) -> str:
        """A short human text: "every 5m", "cron 30 2 * * * (Europe/Berlin)"."""

    @property
    def needs_anchor(self) -> bool:
        """True when the clock cannot compute fires before `anchored` gives it its anchor (an
        interval clock without `start`). Other clocks need none."""
        return False

    def anchored(self, moment: datetime) -> Clock:
        """This clock anchored at `moment` when it `needs_anchor`; else itself."""
        return self

    def fires(self, after: datetime, until: datetime | None = None) -> Iterator[datetime]:
        """Fires strictly after `after` and at or before `until` (or forever), in order."""
        current = self.next_fire(after)
        while current is not None and (until is None or current <= until):
            yield current
            current = self.next_fire(current)

    # Helpers for subclasses.
    def _lower_bound(self, after: datetime) -> datetime:
        """`after`, raised to one second before `start` so that `start` itself can fire."""
        after = after.astimezone(UTC)
        if self.start is not None and after < self.start:
            return self.start - timedelta(seconds=1)
        return after

    def _within_end(self, fire: datetime | None) -> datetime | None:
        if fire is None or (self.end is not None and fire > self.end):
            return None
        return fire


def whole_second_after(after: datetime) -> datetime:
    """The first whole second strictly after `after`, in UTC."""
    after = after.astimezone(UTC)
    return after.replace(microsecond=0) + timedelta(seconds=1)
