"""One attempt of a run: its process from start to exit, with timeout and cancel.

The executor decides when and how often to attempt (slots, overlap, retries); this module
owns what happens to one process: a Python target's spec and result file, waiting on exit,
timeout or cancel, and killing the process group.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.models import RunState
from scheduler.running.local.process import LogLimiter, RunProcess, describe_exit

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Job
    from scheduler.storage.sqlite.store import RunRecord


@dataclass(eq=False)
class Run:
    """A run the executor holds, pending or running."""

    record: RunRecord
    job: Job
    resolved: ResolvedParameters
    log: LogLimiter = field(init=False)
    running: bool = False
    task: asyncio.Task[None] | None = None
    process: RunProcess | None = None
    cancel_reason: str | None = None
    # Resolved when a cancel or kill is asked for (a future, so waits need no extra task).
    cancelled: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    seq: int = 0

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def clock_key(self) -> tuple[str, str] | None:
        return None if self.record.clock is None else (self.record.job, self.record.clock)


@dataclass
class Outcome:
    """How an attempt (or the whole run) ended."""

    state: RunState
    exit_code: int | None = None
    error: str | None = None
    result: Any = None


async def run_attempt(
    run: Run,
    argv: list[str],
    env: dict[str, str],
    values: Mapping[str, Any],
    *,
    on_started: Callable[[Run], None],
    kill_grace: timedelta,
) -> Outcome:
    """One process of `run`, from start to exit (or kill); `on_started` when it is its first."""
    job = run.job
    scratch: Path | None = None
    if job.target is not None:
        scratch = Path(tempfile.mkdtemp(prefix=f"clockd-run-{run.id}-"))
        env = dict(env)
        env["CLOCKD_PYRUNNER_SPEC"] = json.dumps(
            {
                "target": job.target,
                "parameters": dict(values),
                "types": {p.name: p.type for p in job.parameters},
                "result_file": str(scratch / "result.json"),
            }
        )
    try:
        process = RunProcess(argv, env=env, cwd=job.workdir, log=run.log)
        try:
            process.spawn()
        except OSError as error:
            if str(error.filename) == str(job.workdir) != argv[0]:
                return Outcome(RunState.failed, error=f"workdir '{job.workdir}' is not a directory")
            return Outcome(
                RunState.failed,
                error=f"cannot start '{argv[0]}': {error.strerror or error}",
            )
        except ValueError:  # the only one a spawn raises: a NUL byte, which no exec can take
            return Outcome(
                RunState.failed,
                error=f"cannot start '{argv[0]}': an argument or environment value "
                "contains a NUL character",
            )
        run.process = process
        if run.record.started_at is None:
            on_started(run)
        code, timed_out = await _wait(run, process, kill_grace)
        run.process = None
        if run.cancel_reason is not None:
            return Outcome(RunState.cancelled, exit_code=code, error=run.cancel_reason)
        if timed_out:
            return Outcome(
                RunState.timed_out, exit_code=code, error=f"timed out after {job.timeout}"
            )
        if code != 0:
            return Outcome(RunState.failed, exit_code=code, error=describe_exit(code))
        result = None
        if scratch is not None and (scratch / "result.json").exists():
            result = json.loads((scratch / "result.json").read_text(encoding="utf-8"))
        return Outcome(RunState.succeeded, exit_code=0, result=result)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


async def _wait(run: Run, process: RunProcess, kill_grace: timedelta) -> tuple[int, bool]:
    """The exit code, and whether the timeout killed it. Futures only: no task per run."""
    timeout = run.job.timeout.total_seconds() if run.job.timeout else None
    exited = process.exited
    waits: set[asyncio.Future[Any]] = {exited, run.cancelled}
    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if exited.done():
        return await process.wait(), False
    timed_out = run.cancel_reason is None
    if timed_out:
        run.log.clockd(f"[clockd: timed out after {run.job.timeout}; killing the run]")
    # SIGTERM to the group, SIGKILL after `kill_grace`; leftovers always get SIGKILL.
    process.kill_group(signal.SIGTERM)
    await asyncio.wait({exited}, timeout=kill_grace.total_seconds())
    if not exited.done():
        process.kill_group(signal.SIGKILL)
    code = await process.wait()
    process.kill_group(signal.SIGKILL)
    return code, timed_out
