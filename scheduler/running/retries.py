"""How often a run is attempted (spec 3): the attempt loop and a crashed run's next attempt.

`retries` re-run the same row after `retry_delay` when an attempt failed, timed out or crashed
(unless the backend says a retry cannot mend it); `attempt` counts starts, and each retry
leaves a clockd line in the run's log. The executor decides when a run starts; this decides
what happens between its start and its outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from clocks.durations import describe_duration
from clocks.templates import TemplateError
from scheduler.models import RunState
from scheduler.running.backend import Attempt, OnStarted, Outcome

if TYPE_CHECKING:
    from scheduler.models import Job
    from scheduler.running.run import Run
    from scheduler.running.writebehind import RunWriteBehind
    from scheduler.storage.records import RunRecord

# `crashed` comes from a remote backend: the worker running the attempt died (spec 9).
_RETRIED = (RunState.failed, RunState.timed_out, RunState.crashed)


def attempts_of(job: Job) -> int:
    """How many attempts a run of `job` gets in all."""
    return 1 + max(job.retries, 0)


async def attempt_until_done(
    run: Run,
    first_attempt: Callable[[Run], Attempt],
    on_started: OnStarted,
    writes: RunWriteBehind,
) -> Outcome:
    """The outcome of a run's last attempt: the first that did not fail, or the last allowed."""
    job, record = run.job, run.record
    try:
        attempt = first_attempt(run)
    except TemplateError as error:
        return Outcome(RunState.failed, error=str(error))
    attempts = attempts_of(job)
    outcome = Outcome(RunState.failed, error="not started")
    first = run.first_number
    if first > 1:  # a crashed run resumed (`resubmit`): its retry delay, as any retry's
        await asyncio.wait({run.cancelled}, timeout=job.retry_delay.total_seconds())
    for number in range(first, attempts + 1):
        if run.cancelled.done():  # cancelled between its start and its spawn, or a retry
            return Outcome(RunState.cancelled, error=run.cancelled.result())
        if number > 1:
            attempt = replace(attempt, number=number)
            writes.change(record, attempt=number)
        if attempts > 1:
            run.log.clockd(f"[clockd: attempt {number} of {attempts}]")
        outcome = await run.backend.run(
            attempt, run.log, on_started=on_started, cancelled=run.cancelled
        )
        if outcome.state not in _RETRIED or number == attempts or not outcome.retryable:
            break
        run.log.clockd(
            f"[clockd: attempt {number} of {attempts} {outcome.state.value}: "
            f"{outcome.error}; retrying in {describe_duration(job.retry_delay)}]"
        )
        await asyncio.wait({run.cancelled}, timeout=job.retry_delay.total_seconds())
    return outcome


def reopen_crashed(
    record: RunRecord, job: Job, writes: RunWriteBehind, **fields: Any
) -> tuple[int, str] | None:
    """Put a run recorded `crashed` back to `pending` for its next attempt (with `fields`,
    e.g. its new `owner` and `daemon`): that attempt's number and the clockd line saying why,
    or None when `job` has no retry left (nothing is changed then). The attempt that crashed
    counts as used: a run left `pending` may have started without the start being stored."""
    attempts = attempts_of(job)
    number = max(record.attempt, 1) + 1
    if number > attempts:
        return None
    reason = record.error or "its daemon stopped"
    writes.change(
        record,
        state=RunState.pending,
        ended_at=None,
        exit_code=None,
        error=None,
        result=None,
        pid=None,
        pid_start=None,
        **fields,
    )
    where = f" on {fields['daemon']}" if fields.get("daemon") else ""
    note = (
        f"[clockd: attempt {number - 1} of {attempts} crashed: {reason}; "
        f"retrying{where} as attempt {number} in {describe_duration(job.retry_delay)}]"
    )
    return number, note
