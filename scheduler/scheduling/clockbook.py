"""`ClockBook`: the clocks as the daemon fires them — interval anchors applied, pause flags known.

It holds no connection: anchors and pause flags come from the store through whoever owns the
store calls (the daemon reads them on a reader thread; `save_anchors` hands new anchors to
a writer), so asking it never waits for a database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from scheduler.storage.base import JOB_WIDE
from scheduler.timesource import SYSTEM_TIME, TimeSource, whole_second

if TYPE_CHECKING:
    from clocks.base import Clock
    from scheduler.storage.records import ClockState

log = logging.getLogger("clockd.firing")

SaveAnchors = Callable[[dict[tuple[str, str], datetime]], object]  # its result is not used


class ClockBook:
    """Config clocks with their stored interval anchor applied, and the pause flags.

    `save` persists anchors found now (a clock without `start` seen for the first time):
    the daemon writes them through its store writer; without it they live in memory only
    (`clockd next`)."""

    def __init__(
        self,
        time_source: TimeSource = SYSTEM_TIME,
        *,
        states: Mapping[tuple[str, str], ClockState] | None = None,
        save: SaveAnchors | None = None,
    ) -> None:
        self.time_source = time_source
        self.save = save
        self._anchors: dict[tuple[str, str], datetime] = {}
        self._anchored: dict[tuple[str, str], tuple[Clock, Clock]] = {}
        self._unsaved: dict[tuple[str, str], datetime] = {}
        self._paused_clocks: set[tuple[str, str]] = set()
        self._paused_jobs: set[str] = set()
        self._holding = False
        if states is not None:
            self.load(states)

    def load(self, states: Mapping[tuple[str, str], ClockState]) -> None:
        """Anchors and pause flags as the store has them (one read at start)."""
        self._anchors = {key: s.anchor for key, s in states.items() if s.anchor is not None}
        self.apply_paused(key for key, s in states.items() if s.paused)

    def hold_anchors(self) -> None:
        """Collect new anchors until `save_anchors` (planning thousands of clocks at start:
        one write, not one per clock)."""
        self._holding = True

    def save_anchors(self) -> None:
        self._holding = False
        if self._unsaved and self.save is not None:
            self.save(dict(self._unsaved))
        self._unsaved.clear()

    def effective(self, job: str, clock: Clock) -> Clock:
        """`clock`, anchored when it is an interval clock without `start`.

        The anchor is the stored one, else now (then stored), so a restart keeps the rhythm."""
        if not clock.needs_anchor:
            return clock
        key = (job, clock.name)
        cached = self._anchored.get(key)
        if cached is not None and cached[0] is clock:
            return cached[1]
        anchor = self._anchors.get(key)
        if anchor is None:
            anchor = whole_second(self.time_source.now())
            self._anchors[key] = anchor
            self._unsaved[key] = anchor
            log.info("anchored job=%s clock=%s anchor=%s", job, clock.name, anchor.isoformat())
            if not self._holding:
                self.save_anchors()
        anchored = clock.anchored(anchor)
        self._anchored[key] = (clock, anchored)
        return anchored

    def apply_paused(self, paused: Iterable[tuple[str, str]]) -> None:
        """Every pause flag, as read from the store (clock JOB_WIDE rows pause a whole job)."""
        jobs: set[str] = set()
        clocks: set[tuple[str, str]] = set()
        for job, clock in paused:
            if clock == JOB_WIDE:
                jobs.add(job)
            else:
                clocks.add((job, clock))
        self._paused_jobs, self._paused_clocks = jobs, clocks

    def is_paused(self, job: str, clock: str | None) -> bool:
        """Whether the job is paused, or (given a clock) that clock or its job."""
        if job in self._paused_jobs:
            return True
        return clock is not None and (job, clock) in self._paused_clocks

    def set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        """Apply a pause at once (API), without waiting for the next read."""
        if clock is None:
            (self._paused_jobs.add if paused else self._paused_jobs.discard)(job)
        else:
            (self._paused_clocks.add if paused else self._paused_clocks.discard)((job, clock))
