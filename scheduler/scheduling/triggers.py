"""`ClockTrigger`: APScheduler asks a clockd clock for its next fire — no second copy of time rules.

Two things APScheduler 3.11 does not do are handled here:
- jitter is applied to a *copy* of the nominal fire and never fed back (APScheduler's own
  interval jitter accumulates); `nominal(run_time)` maps a jittered run time back to the fire;
- a wall-clock jump far forward makes `Job._get_run_times` enumerate every missed fire in
  memory (#526, #1066). When asked for the fire after one that lies more than a minute in
  the past, the trigger skips to the first fire after now and reports the skipped range to
  `on_gap`, which applies the clock's catchup rule (bounded by catchup_limit). The range
  starts at that stale fire itself: APScheduler has listed it as due, but the jump skipped it
  like the rest, so `in_gap` tells the executor not to fire it as well.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from clocks.base import Clock

GAP_THRESHOLD = timedelta(seconds=60)
# One generator for every clock's jitter: seeding one per clock costs more than the rest of
# planning when thousands of clocks load.
_JITTER = random.Random()


class ClockTrigger(BaseTrigger):  # type: ignore[misc]
    def __init__(
        self,
        clock: Clock,
        *,
        on_gap: Callable[[datetime, datetime], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.on_gap = on_gap
        self._rng = rng or _JITTER
        # jittered run time → nominal fire, for the fires handed out and not yet consumed
        self._nominal: dict[datetime, datetime] = {}
        self._last_gap: tuple[datetime, datetime] | None = None
        # run times listed by APScheduler that start a reported gap (see `in_gap`)
        self._gap_starts: set[datetime] = set()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        now = now.astimezone(UTC)
        if previous_fire_time is None:
            nominal = self.clock.next_fire(now)
        else:
            previous = self.nominal(previous_fire_time)
            after = previous
            if self.on_gap is not None and now - previous > GAP_THRESHOLD:
                # APScheduler asks twice per pass with the same arguments: report once.
                # `previous` is in the gap too: on_gap(first, now) covers [first, now].
                if self._last_gap != (previous, now):
                    self._last_gap = (previous, now)
                    if len(self._gap_starts) > 64:  # bounded: entries are taken by in_gap
                        self._gap_starts.clear()
                    self._gap_starts.add(previous_fire_time.astimezone(UTC))
                    self.on_gap(previous, now)
                after = now
            nominal = self.clock.next_fire(after)
        if nominal is None:
            return None
        return self._jittered(nominal)

    def first_after(self, moment: datetime) -> datetime | None:
        """The first fire strictly after `moment`, jittered, for (re)planning."""
        return self.jittered(self.clock.next_fire(moment.astimezone(UTC)))

    def jittered(self, nominal: datetime | None) -> datetime | None:
        """The run time of the fire `nominal` (computed by the caller), jittered."""
        return None if nominal is None else self._jittered(nominal)

    def nominal(self, run_time: datetime) -> datetime:
        """The fire a (possibly jittered) run time stands for."""
        run_time = run_time.astimezone(UTC)
        return self._nominal.get(run_time, run_time)

    def in_gap(self, run_time: datetime) -> bool:
        """Whether APScheduler's due `run_time` starts a gap reported to `on_gap` (once): the
        catchup rule decided its fire there, so it must not be fired as due as well."""
        run_time = run_time.astimezone(UTC)
        if run_time in self._gap_starts:
            self._gap_starts.discard(run_time)
            return True
        return False

    def consume(self, run_time: datetime) -> datetime:
        run_time = run_time.astimezone(UTC)
        return self._nominal.pop(run_time, run_time)

    def _jittered(self, nominal: datetime) -> datetime:
        jitter = self.clock.jitter.total_seconds()
        if jitter <= 0:
            return nominal
        shifted = nominal + timedelta(seconds=self._rng.uniform(0, jitter))
        if len(self._nominal) > 64:  # bounded: entries are consumed as fires are submitted
            self._nominal.clear()
        self._nominal[shifted] = nominal
        return shifted

    def __str__(self) -> str:
        return f"clock[{self.clock.describe()}]"

    def __repr__(self) -> str:
        return f"<ClockTrigger {self.clock.name!r} {self.clock.describe()}>"
