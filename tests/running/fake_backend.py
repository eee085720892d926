"""A `RunBackend` without processes, for executor tests (as httpx tests use MockTransport).

    backend = FakeBackend({"report": [Step(RunState.failed), Step()]})  # by job, in order
    backend = FakeBackend(lambda attempt: Step(hold=True))              # or a function
    executor = Executor(store, settings, ..., backend_for=lambda job: backend)
    backend.release(run_id)   # a held attempt ends with its step's outcome

Each attempt takes the next `Step` of its job (the last one repeats), records the `Attempt`
it was given, calls `on_started` unless the step does not start, sends the step's lines, and
ends at once, or, for a step that holds, when released, cancelled (→ `cancelled` with the
reason) or when `attempt.timeout` has passed (→ `timed_out`, as a real backend reports it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clocks.durations import describe_duration
from scheduler.models import RunState
from scheduler.running.backend import Attempt, Outcome
from scheduler.running.masking import NO_SECRETS, Masker
from scheduler.running.runlog import RunLog


@dataclass
class Step:
    """What one scripted attempt does."""

    state: RunState = RunState.succeeded
    error: str | None = None
    exit_code: int | None = None
    result: Any = None
    lines: Sequence[tuple[str, str]] = ()  # (stream, text), sent after the start
    starts: bool = True  # False: fails before a process exists (no on_started)
    hold: bool = False  # stay running until released, cancelled or timed out
    retryable: bool = True
    masker: Masker = NO_SECRETS

    def outcome(self) -> Outcome:
        code = self.exit_code
        if code is None and self.starts and self.state == RunState.succeeded:
            code = 0
        return Outcome(
            self.state,
            exit_code=code,
            error=self.error,
            result=self.result,
            retryable=self.retryable,
            masker=self.masker,
        )


class FakeBackend:
    uses_local_slot = True

    def __init__(
        self, script: Mapping[str, Sequence[Step]] | Callable[[Attempt], Step] | None = None
    ) -> None:
        self._script = script
        self._taken: dict[str, int] = {}
        self.attempts: list[Attempt] = []  # every attempt given, in order
        self.started: list[int] = []  # run ids whose attempt started, in order
        self.running: set[int] = set()  # run ids of attempts going on now
        self._held: dict[int, asyncio.Future[Step | None]] = {}

    def _step(self, attempt: Attempt) -> Step:
        script = self._script
        if script is None:
            return Step()
        if callable(script):
            return script(attempt)
        steps = script.get(attempt.job) or [Step()]
        index = self._taken.get(attempt.job, 0)
        self._taken[attempt.job] = index + 1
        return steps[min(index, len(steps) - 1)]

    def release(self, run_id: int, step: Step | None = None) -> None:
        """End the held attempt of `run_id` with `step`'s outcome (default: its own)."""
        self._held[run_id].set_result(step)

    async def run(
        self,
        attempt: Attempt,
        log: RunLog,
        *,
        on_started: Callable[[], None],
        cancelled: asyncio.Future[str],
    ) -> Outcome:
        self.attempts.append(attempt)
        step = self._step(attempt)
        if not step.starts:
            return step.outcome()
        on_started()
        self.started.append(attempt.run_id)
        self.running.add(attempt.run_id)
        try:
            for stream, text in step.lines:
                log.line(stream, text)
            if not step.hold:
                return step.outcome()
            held = self._held[attempt.run_id] = asyncio.get_running_loop().create_future()
            timeout = attempt.timeout.total_seconds() if attempt.timeout else None
            await asyncio.wait({held, cancelled}, timeout=timeout, return_when="FIRST_COMPLETED")
            if cancelled.done():
                return Outcome(RunState.cancelled, exit_code=-15, error=cancelled.result())
            if not held.done():
                log.clockd(
                    f"[clockd: timed out after {describe_duration(attempt.timeout)}; killing the run]"
                )
                error = f"timed out after {describe_duration(attempt.timeout)}"
                return Outcome(RunState.timed_out, exit_code=-15, error=error)
            return (held.result() or step).outcome()
        finally:
            self.running.discard(attempt.run_id)
            self._held.pop(attempt.run_id, None)
