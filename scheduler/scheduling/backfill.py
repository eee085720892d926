"""A backfill's plan: the fires of one clock in a range, each with its resolved values.

Shared by the daemon (`Service.backfill`, which then claims the fires through `Firing.claim`)
and `clockd backfill --dry-run` (no daemon): the same fires, the same values, the same limit.

    times = backfill_times(clock, start, end)         # UserError past MAX_BACKFILL_FIRES
    entries = plan_entries(job, clock, times, given)  # ParameterError for bad given values
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from scheduler.errors import UserError

if TYPE_CHECKING:
    from clocks.base import Clock
    from scheduler.models import Job

# A backfill of more fires than this is refused (with the count): it is almost always a
# typo in the range, and each fire becomes a run. Split a larger one into several ranges.
MAX_BACKFILL_FIRES = 10_000
# Problems of the values given for a whole backfill (not of one fire's dynamic values):
# they refuse the backfill at once.
_GIVEN_KINDS = frozenset({"unexpected", "invalid", "secret", "too_large"})


def backfill_times(clock: Clock, start: datetime, end: datetime) -> list[datetime]:
    """The fires of `clock` in [start, end]; UserError for a reversed range or one with more
    than MAX_BACKFILL_FIRES fires, saying about how many it has (counting them all could
    take seconds: the count is extrapolated from the time the first ones cover)."""
    if end < start:
        raise UserError(
            f"backfill range is reversed: {start.isoformat()} is after {end.isoformat()}"
        )
    times: list[datetime] = []
    for moment in clock.fires(start - timedelta(seconds=1), end):
        times.append(moment)
        if len(times) > MAX_BACKFILL_FIRES:
            covered = (moment - start).total_seconds() or 1.0
            estimate = len(times) * max((end - start).total_seconds(), covered) / covered
            shown = about(estimate)
            if int(shown.replace(",", "")) <= MAX_BACKFILL_FIRES:
                shown = f"more than {MAX_BACKFILL_FIRES:,}"
            else:
                shown = f"about {shown}"
            raise UserError(
                f"backfill of {shown} fires refused: at most "
                f"{MAX_BACKFILL_FIRES:,} a backfill; narrow the range or split it"
            )
    return times


def about(count: float) -> str:
    """`count` to two significant digits: 401,234 → "400,000", 10,001 → "10,000"."""
    whole = int(count)
    digits = len(str(whole))
    rounded = round(whole, -(digits - 2)) if digits > 2 else whole
    return f"{rounded:,}"


def plan_entries(
    job: Job, clock: Clock, times: list[datetime], given: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each fire as `{"time", "clock", "parameters", "run_id": None}` (masked values), or with
    `"error"` when that fire's values fail. Values `given` for the whole backfill are data
    (never rendered); a problem with them refuses the backfill: ParameterError."""
    from clocks.parameters import ParameterError
    from clocks.resolution import Resolver

    resolver = Resolver.for_clock(job.name, job.parameters, clock)
    given = dict(given or {})
    entries: list[dict[str, Any]] = []
    for moment in times:
        entry: dict[str, Any] = {
            "time": moment.isoformat(),
            "clock": clock.name,
            "parameters": None,
            "run_id": None,
        }
        try:
            entry["parameters"] = resolver.resolve(moment, given=given).masked()
        except ParameterError as problem:
            of_given = [
                p for p in problem.problems if p.kind in _GIVEN_KINDS and p.name in given
            ] + [p for p in problem.problems if p.kind == "unexpected"]
            if of_given:
                raise ParameterError(list(dict.fromkeys(of_given))) from None
            entry["error"] = str(problem)
        entries.append(entry)
    return entries
