"""A run as the executor holds it while it is pending or running, and what it is given.

The executor decides when a run starts and how often; a `Run` knows what the run *is*: its
record, job and values, its backend, where its lines go, and how to ask it to stop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clocks.templates import TemplateError
from scheduler.running import environment
from scheduler.running.backend import Attempt, RunBackend
from scheduler.running.runlog import LineSink

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Job
    from scheduler.running.local.process import LogLimiter
    from scheduler.storage.records import RunRecord


@dataclass(eq=False, slots=True)
class Run:
    """A pending or running run."""

    record: RunRecord
    job: Job
    resolved: ResolvedParameters
    backend: RunBackend
    sink: LineSink  # its lines, to the write-behind
    log: LogLimiter  # the same, capped at `max_log_bytes`
    running: bool = False
    task: asyncio.Task[None] | None = None
    # The attempt it starts with: 1, or the next one of a crashed run (`Executor.resubmit`).
    first_number: int = 1
    # Resolved with the reason when a cancel or kill is asked for (a future: no task waits).
    cancelled: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def clock_key(self) -> tuple[str, str] | None:
        return None if self.record.clock is None else (self.record.job, self.record.clock)

    def request_cancel(self, reason: str) -> None:
        """Ask the run to stop (the first reason wins): pending, waiting or in an attempt."""
        if not self.cancelled.done():
            self.cancelled.set_result(reason)

    def rendered_name(self, default_timezone: str) -> str | None:
        """The job's `run_name` for this run (None: none, or it has a name); a template that
        does not render leaves a clockd line in the run's log instead."""
        try:
            return environment.run_name(self.job, self.record, self.resolved, default_timezone)
        except TemplateError as error:
            self.log.clockd(f"[clockd: run_name: {error}]")
            return None

    def first_attempt(
        self, *, default_timezone: str, api_url: str | None, child_token: str | None
    ) -> Attempt:
        """Its first attempt, a command rendered with masked values (TemplateError)."""
        job, record = self.job, self.record
        command = None
        if job.target is None:
            command = environment.command_argv(job, record, self.resolved, default_timezone)
        return Attempt.first(
            job, record, self.resolved, command, api_url=api_url, child_token=child_token
        )
