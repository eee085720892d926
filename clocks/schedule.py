"""A job's clocks merged into one stream of fires, in time order (spec 2.3, `clockd next`).

Simultaneous fires stay separate: one Fire per clock, in the order the clocks are listed, since
each produces its own run with its own parameters.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clocks.base import Clock

if TYPE_CHECKING:
    from clocks.parameters import ParameterSet

__all__ = ["Fate", "Fire", "Schedule", "merge_fates", "merge_fires"]


@dataclass(frozen=True)
class Fire:
    """One instant at which one clock is due. `time` is an aware UTC datetime.

    `parameters` holds the resolved values (JSON-ready, secrets as references) when the fire
    comes from `Schedule.fires`, and None from `merge_fires`.
    """

    time: datetime
    clock: Clock
    parameters: dict[str, Any] | None = None


def merge_fires(
    clocks: Iterable[Clock], after: datetime, until: datetime | None = None
) -> Iterator[Fire]:
    """Fires of every enabled clock strictly after `after` (and at or before `until`), in time order.

    Clocks due at the same instant each give one Fire, in the order of `clocks`.
    Unanchored interval clocks raise ClockError: anchor them first.
    """
    heap: list[tuple[datetime, int, Clock, Iterator[datetime]]] = []
    for position, clock in enumerate(clocks):
        if not clock.enabled:
            continue
        stream = clock.fires(after, until)
        first = next(stream, None)
        if first is not None:
            # (time, position) is unique, so clocks and iterators never get compared.
            heap.append((first, position, clock, stream))
    heapq.heapify(heap)
    while heap:
        time, position, clock, stream = heap[0]
        yield Fire(time=time, clock=clock)
        following = next(stream, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following, position, clock, stream))


@dataclass(frozen=True)
class Fate:
    """What became of one of a clock's own times (spec 2.5, `next --show-skipped`): fired at
    `time` (moved from `original` when they differ), or removed (`kept` False) for `reason`."""

    time: datetime
    clock: Clock
    original: datetime
    reason: str | None = None
    kept: bool = True
    parameters: dict[str, Any] | None = None

    @property
    def moved(self) -> bool:
        return self.kept and self.time != self.original


def _clock_fates(clock: Clock, after: datetime) -> Iterator[Fate]:
    outcomes = getattr(clock, "outcomes", None)
    if outcomes is None:  # a clock without calendar, exclude or between
        for fire in clock.fires(after):
            yield Fate(time=fire, clock=clock, original=fire)
        return
    for outcome in outcomes(after):
        if outcome.time is None:
            yield Fate(outcome.original, clock, outcome.original, outcome.reason, kept=False)
        else:
            yield Fate(outcome.time, clock, outcome.original, outcome.reason)


def merge_fates(clocks: Iterable[Clock], after: datetime) -> Iterator[Fate]:
    """Like `merge_fires`, with the removed fires too (at their own time) and the moved ones
    saying where from. The kept ones are exactly `merge_fires`'s."""
    streams = [
        _positioned(_clock_fates(clock, after), position)
        for position, clock in enumerate(clocks)
        if clock.enabled
    ]
    for _, _, fate in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield fate


def _positioned(fates: Iterator[Fate], position: int) -> Iterator[tuple[datetime, int, Fate]]:
    for fate in fates:
        yield fate.time, position, fate


@dataclass(frozen=True)
class Schedule:
    """A job's clocks and parameter declarations: fires with fully resolved parameters.

    Each fire's values are resolved as for a run (spec 2.1): parameter defaults, then the clock's
    `parameters`, dynamic values rendered with that fire's `scheduled_time` in the clock's zone.
    """

    job_name: str
    clocks: Sequence[Clock]
    parameters: ParameterSet

    def fires(self, after: datetime, until: datetime | None = None) -> Iterator[Fire]:
        """Like `merge_fires`, each Fire carrying its resolved values (ParameterError if refused)."""
        from clocks.resolution import Resolver

        resolvers: dict[int, Resolver] = {}
        for fire in merge_fires(self.clocks, after, until):
            resolver = resolvers.get(id(fire.clock))
            if resolver is None:
                resolver = Resolver.for_clock(self.job_name, self.parameters, fire.clock)
                resolvers[id(fire.clock)] = resolver
            resolved = resolver.resolve(fire.time)
            yield Fire(time=fire.time, clock=fire.clock, parameters=resolved.values)

    def fates(self, after: datetime) -> Iterator[Fate]:
        """`merge_fates` of the clocks, each kept one carrying its resolved values."""
        from dataclasses import replace

        from clocks.resolution import Resolver

        resolvers: dict[int, Resolver] = {}
        for fate in merge_fates(self.clocks, after):
            if not fate.kept:
                yield fate
                continue
            resolver = resolvers.get(id(fate.clock))
            if resolver is None:
                resolver = Resolver.for_clock(self.job_name, self.parameters, fate.clock)
                resolvers[id(fate.clock)] = resolver
            yield replace(fate, parameters=resolver.resolve(fate.time).values)
