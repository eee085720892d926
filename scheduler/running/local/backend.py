"""`LocalBackend`: one attempt of a run as a child process of this process (the daemon, or
`clockd run`), from spawn to exit, with timeout and cancel.

Secrets are resolved here, from the daemon's whole environment, right before the spawn, into
the child's environment only; what the child prints of them is masked as it is read. The
process itself is `RunProcess` (posix_spawn or Popen, pipes and pidfd on one epoll, no task
per run); a Python target gets its spec in the environment and writes its result to a file
in a scratch folder of its own.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clocks.durations import describe_duration
from scheduler.models import RunState, process_start
from scheduler.running.backend import Attempt, OnStarted, Outcome, Started
from scheduler.running.environment import add_run_variables, resolve_program
from scheduler.running.local.process import RunProcess, describe_exit
from scheduler.running.masking import NO_SECRETS, MaskedLog, Masker
from scheduler.running.results import read_result, target_process
from scheduler.running.runlog import RunLog
from scheduler.running.secrets import SecretError, resolve_secrets

if TYPE_CHECKING:
    from scheduler.running.environment import DaemonEnvironment


class LocalBackend:
    """Runs attempts on this machine. `kill_grace`: SIGTERM to SIGKILL on timeout and cancel."""

    uses_local_slot = True

    def __init__(
        self, environment: DaemonEnvironment, *, kill_grace: timedelta = timedelta(seconds=5)
    ) -> None:
        self.environment = environment
        self.kill_grace = kill_grace

    async def run(
        self,
        attempt: Attempt,
        log: RunLog,
        *,
        on_started: OnStarted,
        cancelled: asyncio.Future[str],
    ) -> Outcome:
        try:
            values = resolve_secrets(
                attempt.parameters,
                attempt.secrets,
                self.environment.environ,
                base_dir=attempt.workdir,
            )
        except SecretError as error:
            return Outcome(RunState.failed, error=str(error), retryable=False)
        masker = NO_SECRETS
        if attempt.secrets:
            masker = Masker(v for n in attempt.secrets if isinstance(v := values.get(n), str))
            if masker:
                log = MaskedLog(log, masker)
        # The one copy of the environment per run: the job's shared base, then the run's own.
        env = dict(self.environment.base(attempt.job, attempt.env))
        add_run_variables(env, attempt, values)
        scratch: Path | None = None
        if attempt.target is not None:
            argv: Sequence[str]
            argv, scratch = target_process(attempt, values, env, sys.executable)
        else:
            assert attempt.command is not None, f"run {attempt.run_id} has no command"
            argv = resolve_program(attempt.command)  # `clockd`: the daemon's own
        try:
            outcome = await self._process(attempt, argv, env, log, scratch, on_started, cancelled)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        if masker:
            outcome.error = None if outcome.error is None else masker.mask(outcome.error)
            outcome.result = masker.mask_json(outcome.result)
            outcome.masker = masker
        return outcome

    async def _process(
        self,
        attempt: Attempt,
        argv: Sequence[str],
        env: dict[str, str],
        log: RunLog,
        scratch: Path | None,
        on_started: OnStarted,
        cancelled: asyncio.Future[str],
    ) -> Outcome:
        workdir = attempt.workdir
        process = RunProcess(argv, env=env, cwd=workdir, log=log)
        try:
            process.spawn()
        except OSError as error:
            if str(error.filename) == str(workdir) != process.argv[0]:
                return Outcome(RunState.failed, error=f"workdir '{workdir}' is not a directory")
            return Outcome(
                RunState.failed,
                error=f"cannot start '{process.argv[0]}': {error.strerror or error}",
            )
        except ValueError:  # the only one a spawn raises: a NUL byte, which no exec can take
            return Outcome(
                RunState.failed,
                error=f"cannot start '{process.argv[0]}': an argument or environment value "
                "contains a NUL character",
            )
        # Its group, named safely: the leader is not reaped before `wait` killed the group,
        # so even one that exited already still has its /proc entry.
        pid = process.pid
        on_started(Started(pid=pid, pid_start=None if pid is None else process_start(pid)))
        code, timed_out = await self._wait(attempt, process, log, cancelled)
        if cancelled.done():
            return Outcome(RunState.cancelled, exit_code=code, error=cancelled.result())
        if timed_out:
            return Outcome(
                RunState.timed_out,
                exit_code=code,
                error=f"timed out after {describe_duration(attempt.timeout or timedelta())}",
            )
        if code != 0:
            return Outcome(RunState.failed, exit_code=code, error=describe_exit(code))
        result = None
        if scratch is not None:
            result, note = read_result(scratch / "result.json")
            if note is not None:
                log.clockd(note)
        return Outcome(RunState.succeeded, exit_code=0, result=result)

    async def _wait(
        self, attempt: Attempt, process: RunProcess, log: RunLog, cancelled: asyncio.Future[str]
    ) -> tuple[int, bool]:
        """The exit code, and whether the timeout killed it. Futures only: no task per run."""
        timeout = attempt.timeout.total_seconds() if attempt.timeout else None
        exited = process.exited
        waits: set[asyncio.Future[Any]] = {exited, cancelled}
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            return await process.wait(), False
        timed_out = not cancelled.done()
        if timed_out:
            log.clockd(
                f"[clockd: timed out after {describe_duration(attempt.timeout or timedelta())}; killing the run]"
            )
        # SIGTERM to the group, SIGKILL after `kill_grace`; leftovers always get SIGKILL.
        process.kill_group(signal.SIGTERM)
        await asyncio.wait({exited}, timeout=self.kill_grace.total_seconds())
        if not exited.done():
            process.kill_group(signal.SIGKILL)
        code = await process.wait()
        process.kill_group(signal.SIGKILL)
        return code, timed_out
