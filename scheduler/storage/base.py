"""The store seam: what every run-history store does, and the errors it may raise.

A `RunStore` is synchronous and used by one thread at a time: the daemon never calls one on
its event loop. Writes go through `scheduler.storage.writer.StoreWriter` (one thread, in
order, retried until written), reads through `scheduler.storage.reader.StoreReader` (a few
threads, each with its own connection). Short-lived commands (`clockd runs`, `clockd run`)
call a store directly. Implementations: `scheduler.storage.sqlite` (the embedded default);
a new one passes `tests/storage/test_store_contract.py`.

Times in and out are aware UTC datetimes with whole seconds for `scheduled_time`,
`last_fire` and `anchor`. Unique: (job, clock, scheduled_time) among runs whose trigger is
clock, catchup or backfill — a fire has at most one run, ever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from scheduler.errors import UserError
from scheduler.storage.pruning import RUNS_A_STEP, PruneRule, PruneStep
from scheduler.storage.records import ClockState, LogLine, NewRun, RunRecord

__all__ = [
    "JOB_WIDE",
    "LogBatch",
    "RunStore",
    "StoreError",
    "StoreOpenError",
    "StoreUnavailable",
]

JOB_WIDE = "*"  # the clock of a clock-state row whose pause covers the whole job

# Log lines of many runs, appended in one call: {run_id: [(time, stream, text), ...]}.
LogBatch = Mapping[int, Sequence[tuple[datetime, str, str]]]


class StoreError(Exception):
    """Something the store cannot do; the message is one line a user can read."""


class StoreUnavailable(StoreError):
    """A write or read that may succeed later: the database is locked, full, or unreachable.
    The writer keeps such a write and retries it; nothing is lost."""


class StoreOpenError(UserError):
    """The database cannot be opened at all. A CLI command exits 1; `sysexit` is the code
    `clockd serve` exits with (spec 7): 77 permission denied, 73 cannot create, 66 cannot
    open or corrupt, 74 I/O error (78 for a database the config cannot use)."""

    def __init__(self, message: str, *, sysexit: int = 66) -> None:
        super().__init__(message)
        self.sysexit = sysexit


class RunStore(Protocol):
    """One connection to the run history and clock state. See the module docstring."""

    location: str  # what the user configured, for messages: a file path or a URL without password
    # Whether a call may wait (a lock, the network): the daemon then keeps the store's calls
    # on threads (`writer`, `reader`); one that never waits is called on the loop itself.
    blocking: bool

    def close(self) -> None: ...

    # --- runs ------------------------------------------------------------------------------
    def claim_fires(
        self,
        runs: Sequence[NewRun],
        last_fires: Mapping[tuple[str, str], datetime] | None = None,
    ) -> list[int | None]:
        """Insert the runs of many fires and move the clocks' last fires, in ONE transaction;
        None where that fire already has a run."""
        ...

    def create_run(self, run: NewRun) -> int:
        """Insert one run (not a fire: manual, api, child); its id."""
        ...

    def get_run(self, run_id: int) -> RunRecord | None: ...

    def list_runs(
        self,
        *,
        job: str | None = None,
        clock: str | None = None,
        state: str | Iterable[str] | None = None,
        parent_id: int | None = None,
        limit: int | None = 100,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[RunRecord]:
        """Newest first (by id). A page of history is keyed on run ids: `before_id` gives the
        `limit` newest runs older than that id, `after_id` the `limit` oldest runs newer than
        it (still listed newest first)."""
        ...

    def update_runs(self, updates: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Set columns of many runs in one transaction, in order (later fields win)."""
        ...

    def runs_in_states(self, states: Iterable[str]) -> list[RunRecord]:
        """Oldest first."""
        ...

    def unfinished_runs(self, owner_prefix: str | None = None) -> list[RunRecord]:
        """Runs left `pending` or `running`, oldest first; with `owner_prefix`, only those
        whose owner starts with it ("daemon:host-a:" — a row without owner counts as a
        daemon's)."""
        ...

    def mark_crashed(self, now: datetime, run_ids: Sequence[int] | None = None) -> list[int]:
        """Runs left `running` or `pending` by an owner that died become `crashed` (all of
        them, or those of `run_ids` still unfinished); their ids."""
        ...

    def has_fire(self, job: str, clock: str, scheduled_time: datetime) -> bool: ...

    # --- logs ------------------------------------------------------------------------------
    def append_logs(self, batch: LogBatch) -> None:
        """Append lines to the logs of many runs in one transaction, numbered from 1 per run."""
        ...

    def read_log(
        self, run_id: int, *, after_seq: int = 0, limit: int | None = None
    ) -> list[LogLine]: ...

    # --- retention (storage/pruning.py) ----------------------------------------------------
    def prune_runs(self, rule: PruneRule, limit: int = RUNS_A_STEP) -> PruneStep:
        """One small transaction deleting finished runs `rule` drops, with their logs (at
        most `limit` runs and ten log lines a run); never an unfinished run or one that has
        a child. Call again while the step says `more` (storage/pruning.py)."""
        ...

    def run_clocks(self, job: str) -> list[str | None]:
        """The clocks `job` has runs of; None for its runs without a clock."""
        ...

    # --- clock state -----------------------------------------------------------------------
    def clock_state(self, job: str, clock: str) -> ClockState: ...

    def clock_states(self) -> dict[tuple[str, str], ClockState]:
        """Every row by (job, clock); clock JOB_WIDE rows hold whole-job pauses."""
        ...

    def paused(self) -> set[tuple[str, str]]:
        """(job, clock) of every paused row. Cheap: polled every second."""
        ...

    def set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        """Pause or resume one clock, or the whole job when `clock` is None."""
        ...

    def is_paused(self, job: str, clock: str | None) -> bool: ...

    def set_last_fires(self, last_fires: Mapping[tuple[str, str], datetime]) -> None: ...

    def set_anchors(self, anchors: Mapping[tuple[str, str], datetime]) -> None: ...

    def clear_clock(self, job: str, clock: str) -> None:
        """Forget a clock's last fire (a clock added again by a reload starts fresh)."""
        ...

    # --- the store as a whole --------------------------------------------------------------
    def changes_marker(self) -> object:
        """A cheap value that changes whenever anything may have been written (by anyone):
        pollers skip a query while it stays equal."""
        ...

    def is_transient(self, error: BaseException) -> bool:
        """Whether `error`, raised by a call of this store, may go away by itself (locked,
        full, connection lost): the writer retries such a write."""
        ...

    def describe_error(self, error: BaseException) -> str:
        """`error` as one line for logs and `/healthz`."""
        ...

    def reset(self) -> None:
        """After a transient error: drop what the connection may hold (an open transaction,
        a broken socket) so that the next call starts clean."""
        ...
