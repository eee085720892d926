"""The run-backend seam: what executes ONE attempt of a run, and the data it takes and gives.

The executor decides when a run starts and how often it is attempted (slots, overlap,
retries, cancel, hooks); a `RunBackend` does one attempt: start it, stream its log lines,
kill it on cancel or timeout, and report the `Outcome`. `LocalBackend`
(`scheduler.running.local`) runs child processes of this process; a remote backend (a Dask
cluster, spec 9) runs them on workers, so an `Attempt` is plain data that can travel:

- secret parameters hold their references, unresolved, with the names of the secret
  parameters beside them: the backend resolves them where the process runs (the daemon for
  local runs, from its whole environment; the worker for remote ones) and masks what the run
  prints of them (`scheduler.running.masking`) before a line leaves it;
- the environment is built by the backend from its own base (the daemon's, less what a run
  must not inherit, for local runs; the worker's own for remote ones), the job's `env` and the
  `CLOCKD_*` run variables (`scheduler.running.environment.add_run_variables`);
- a command arrives rendered (with masked values); a Python target as its name, the
  interpreter and the declared parameter types, run by `python -m scheduler.pyrunner`;
- log lines go to the `RunLog` it is given, as they come; `on_started(Started(...))` when the
  attempt's process exists (the run becomes `running`; a timeout counts from there), with
  what identifies that process: a local process group (its leader's pid and start time,
  recorded so that a later start can kill what a dead daemon left, spec 7), or the worker
  of a remote run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from scheduler.models import RunState
from scheduler.running.masking import NO_SECRETS, Masker
from scheduler.running.runlog import RunLog

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Job
    from scheduler.storage.records import RunRecord

_NO_TYPES: Mapping[str, str] = MappingProxyType({})


@dataclass(kw_only=True, slots=True)  # not frozen: that would double its cost per run
class Attempt:
    """One attempt of a run, as a backend takes it: plain data, nothing resolved. A backend
    reads it and never changes it."""

    run_id: int
    number: int  # 1 for the first attempt, 2 for the first retry, ...
    job: str
    clock: str | None
    scheduled_time: datetime
    command: Sequence[str] | None  # a command job's argv, rendered with masked values
    target: str | None = None  # or a Python target, "package.module:function"
    python: str | None = None  # its interpreter (None: the backend's own)
    parameters: Mapping[str, Any]  # JSON-ready values; secret parameters hold references
    secrets: frozenset[str] = frozenset()  # names of the secret parameters
    types: Mapping[str, str] = field(default_factory=dict)  # declared types, for a target
    env: Mapping[str, str]  # the job's `env`
    workdir: Path
    timeout: timedelta | None = None  # from the process's start
    api_url: str | None = None  # CLOCKD_API_URL, for child runs
    child_token: str | None = None  # CLOCKD_TOKEN
    owner: str | None = None  # CLOCKD_OWNER: who holds the run (the run's `owner`)
    # Remote runs (spec 9): the Dask worker resources it needs, and the workdir on a worker
    # (None: the worker's own).
    resources: Mapping[str, float] = field(default_factory=dict)
    remote_workdir: Path | None = None

    @classmethod
    def first(
        cls,
        job: Job,
        record: RunRecord,
        resolved: ResolvedParameters,
        command: Sequence[str] | None,
        *,
        api_url: str | None,
        child_token: str | None,
    ) -> Attempt:
        """The first attempt of a run (`dataclasses.replace(attempt, number=2)` for the next)."""
        target = job.target
        return cls(
            run_id=record.id,
            number=1,
            job=job.name,
            clock=record.clock,
            scheduled_time=record.scheduled_time,
            command=command,
            target=target,
            python=job.python,
            parameters=resolved.values,
            secrets=resolved.secrets,
            types={p.name: p.type for p in job.parameters} if target is not None else _NO_TYPES,
            env=job.env,
            workdir=job.workdir,
            timeout=job.timeout,
            api_url=api_url,
            child_token=child_token,
            owner=record.owner,
            resources=job.resources,
            remote_workdir=job.remote_workdir,
        )


@dataclass(frozen=True, slots=True)
class Started:
    """Where an attempt's process runs, once it exists. A local one: its process group,
    named by the leader's `pid` and `pid_start` (its start time in clock ticks since boot,
    `scheduler.models.process_start`: a pid alone may be reused). A remote one: its `worker`."""

    pid: int | None = None
    pid_start: int | None = None
    worker: str | None = None
    ago: float = 0.0  # seconds since the process started, when that is heard of late (remote)

    def run_fields(self) -> dict[str, Any]:
        """The run's columns this start sets (each attempt's own process)."""
        fields: dict[str, Any] = {"pid": self.pid, "pid_start": self.pid_start}
        if self.worker is not None:
            fields["worker"] = self.worker
        return fields


OnStarted = Callable[[Started], None]


@dataclass
class Outcome:
    """How an attempt (or the whole run) ended.

    `error` and `result` are masked already. `worker` is where it ran (None: this machine).
    `retryable` is False for a failure that a retry cannot mend (a secret reference that does
    not resolve): the run fails at once, as it always has. `masker` masks the secrets this
    attempt resolved, for the output of the run's hooks.
    """

    state: RunState
    exit_code: int | None = None
    error: str | None = None
    result: Any = None
    worker: str | None = None
    retryable: bool = True
    masker: Masker = NO_SECRETS

    def run_fields(self) -> dict[str, Any]:
        """The run's columns this outcome sets as its final state (`worker` when it ran on
        one: a local run keeps null)."""
        fields = {
            "state": self.state,
            "exit_code": self.exit_code,
            "error": self.error,
            "result": self.result,
        }
        if self.worker is not None:
            fields["worker"] = self.worker
        return fields


class RunBackend(Protocol):
    """Executes one attempt of a run. See the module docstring."""

    # False for a backend whose runs do not use this machine: they take no slot of
    # `max_concurrent_runs` (spec 9).
    uses_local_slot: bool

    async def run(
        self,
        attempt: Attempt,
        log: RunLog,
        *,
        on_started: OnStarted,
        cancelled: asyncio.Future[str],
    ) -> Outcome:
        """Run `attempt` to its end and say how it ended.

        Calls `on_started(Started(...))` once its process exists (never when it could not
        start). When
        `cancelled` resolves (to the reason), kills the process group and returns `cancelled`
        with that reason as error; after `attempt.timeout` from the start, kills it, logs a
        clockd line and returns `timed_out` ("timed out after 10m"). Lines, error and
        result are masked. A run's own failure is an `Outcome`, never an exception.
        """
        ...
