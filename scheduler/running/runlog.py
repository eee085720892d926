"""Where a run's lines go: the two shapes every run backend and the run's log share.

Its own module so that masking (which wraps a `RunLog`) and the backend seam (which hands one
to each attempt) both depend on it, not on each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

__all__ = ["LineSink", "RunLog"]

LineSink = Callable[[datetime, str, str], None]  # (time, stream, text)


class RunLog(Protocol):
    """Where an attempt's lines go (the run's capped log: `LogLimiter`)."""

    def line(self, stream: str, text: str, *, time: datetime | None = None) -> None:
        """A line of the run's output: `stream` is "stdout" or "stderr"."""

    def clockd(self, text: str) -> None:
        """A line from clockd itself (timeouts, kills): never counted against the cap."""
