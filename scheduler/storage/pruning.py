"""History retention: which runs a prune step deletes, in SQL both stores speak.

A step deletes at most `limit` runs and `log_limit` log lines, in the caller's transaction,
so that a store written on the event loop (SQLite) is never held long: the pruner
(`scheduler/daemon/pruner.py`) calls steps until one says there is no more. A run's log
lines go first; a run whose lines did not all fit in one step stays (with the rest of its
log) until the next step, so no line is ever left without its run.

Never deleted: an unfinished run (`pending`, `running`) and a run that still has a child
(the parent of a kept run; once its children are pruned it may go too).

The rules (`PruneRule`):
- by age (`[daemon] keep_runs_for`): finished runs created before `created_before` (and
  ended before it, when they have an end);
- by count (per job `keep_runs = N`): the runs of (job, clock) older than its N newest ones
  (by id, unfinished ones counted); runs with no clock (manual runs without `--clock`) are
  the clock None of their job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["PruneRule", "PruneStep", "prune_step", "run_clocks"]

RUNS_A_STEP = 500  # runs deleted in one transaction at most
LOG_LINES_A_STEP = 5000  # and log lines

# A run that may go: finished, and no run names it as its parent.
_PRUNABLE = (
    "state NOT IN ('pending', 'running') "
    "AND NOT EXISTS (SELECT 1 FROM runs AS child WHERE child.parent_id = runs.id)"
)


@dataclass(frozen=True)
class PruneRule:
    """Either `created_before` (by age) or `job` + `clock` + `keep` (by count)."""

    created_before: datetime | None = None
    job: str | None = None
    clock: str | None = None  # None: the job's runs without a clock
    keep: int | None = None

    def describe(self) -> str:
        if self.keep is None:
            return f"runs created before {self.created_before}"
        return f"runs of {self.job}/{self.clock or '-'} beyond the latest {self.keep}"


@dataclass(frozen=True)
class PruneStep:
    """What one step deleted; `more`: call again, there may be more to delete."""

    runs: int = 0
    log_lines: int = 0
    more: bool = False


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...


Execute = Callable[..., Cursor]  # (sql, parameters): sqlite3 and psycopg type theirs apart


def prune_step(
    execute: Execute,
    rule: PruneRule,
    *,
    mark: str,
    time_value: Callable[[datetime], Any],
    limit: int = RUNS_A_STEP,
    log_limit: int | None = None,
) -> PruneStep:
    """One step of `rule` inside an open transaction. `mark` is the driver's placeholder
    ("?" or "%s"), `time_value` turns a datetime into what the `created_at` column holds.
    `log_limit` defaults to as many log lines a run as LOG_LINES_A_STEP / RUNS_A_STEP."""
    if log_limit is None:
        log_limit = max(1, limit * LOG_LINES_A_STEP // RUNS_A_STEP)
    candidates = _candidates(execute, rule, mark, time_value, limit)
    if not candidates:
        return PruneStep()
    marks = ", ".join([mark] * len(candidates))
    lines = execute(
        f"DELETE FROM run_logs WHERE (run_id, seq) IN (SELECT run_id, seq FROM run_logs "
        f"WHERE run_id IN ({marks}) LIMIT {mark})",
        [*candidates, log_limit],
    ).rowcount
    if lines >= log_limit:  # their logs are longer than a step: the runs go in a later one
        return PruneStep(0, lines, True)
    parents = execute(
        f"DELETE FROM runs WHERE id IN ({marks}) AND {_PRUNABLE} RETURNING parent_id", candidates
    ).fetchall()
    # A deleted child may have freed its parent: look again.
    freed = any(row[0] is not None for row in parents)
    return PruneStep(len(parents), lines, len(candidates) >= limit or freed)


def _candidates(
    execute: Execute,
    rule: PruneRule,
    mark: str,
    time_value: Callable[[datetime], Any],
    limit: int,
) -> list[int]:
    if rule.keep is None:
        if rule.created_before is None:
            raise ValueError("a PruneRule needs created_before or keep")
        cutoff = time_value(rule.created_before)
        rows = execute(
            f"SELECT id FROM runs WHERE created_at < {mark} "
            f"AND (ended_at IS NULL OR ended_at < {mark}) AND {_PRUNABLE} "
            f"ORDER BY created_at LIMIT {mark}",
            [cutoff, cutoff, limit],
        ).fetchall()
        return [row[0] for row in rows]
    if rule.job is None or rule.keep < 1:
        raise ValueError("a PruneRule by count needs a job and keep >= 1")
    clock_sql, params = ("clock IS NULL", [rule.job])
    if rule.clock is not None:
        clock_sql, params = (f"clock = {mark}", [rule.job, rule.clock])
    # The keep-th newest run of the clock: those before it go (an index walk of `keep` rows).
    oldest_kept = execute(
        f"SELECT id FROM runs WHERE job = {mark} AND {clock_sql} "
        f"ORDER BY id DESC LIMIT 1 OFFSET {mark}",
        [*params, rule.keep - 1],
    ).fetchall()
    if not oldest_kept:
        return []
    rows = execute(
        f"SELECT id FROM runs WHERE job = {mark} AND {clock_sql} AND id < {mark} "
        f"AND {_PRUNABLE} ORDER BY id LIMIT {mark}",
        [*params, oldest_kept[0][0], limit],
    ).fetchall()
    return [row[0] for row in rows]


def run_clocks(execute: Execute, job: str, *, mark: str) -> list[str | None]:
    """The clocks `job` has runs of (None: runs without a clock), found by index seeks
    (one a clock) rather than a scan of the job's runs."""
    found: list[str | None] = []
    if execute(
        f"SELECT 1 FROM runs WHERE job = {mark} AND clock IS NULL LIMIT 1", [job]
    ).fetchall():
        found.append(None)
    row = execute(
        f"SELECT MIN(clock) FROM runs WHERE job = {mark} AND clock IS NOT NULL", [job]
    ).fetchall()
    while row and row[0][0] is not None:
        found.append(row[0][0])
        row = execute(
            f"SELECT MIN(clock) FROM runs WHERE job = {mark} AND clock > {mark}",
            [job, row[0][0]],
        ).fetchall()
    return found
