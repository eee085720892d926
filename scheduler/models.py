"""The daemon's frozen models: what a loaded config is, and the words of a run's life."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from clocks.base import Clock
    from clocks.parameters import ParameterSet
    from scheduler.problems import Problem

Overlap = Literal["allow", "skip", "queue"]

# Where the HTTP API listens when [daemon] listen is not set (spec 2).
DEFAULT_LISTEN = "127.0.0.1:8787"


class RunState(enum.StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    cancelled = "cancelled"
    crashed = "crashed"
    skipped = "skipped"

    @property
    def is_final(self) -> bool:
        return self not in (RunState.pending, RunState.running)


FINAL_STATES = frozenset(s for s in RunState if s.is_final)


class Trigger(enum.StrEnum):
    """A run's origin."""

    clock = "clock"
    manual = "manual"
    api = "api"
    catchup = "catchup"
    backfill = "backfill"
    child = "child"


# Runs from these triggers are fires: (job, clock, scheduled_time) is unique among them.
FIRE_TRIGGERS = (Trigger.clock, Trigger.catchup, Trigger.backfill)


@dataclass(frozen=True, kw_only=True)
class DaemonSettings:
    database: str  # an absolute SQLite file path, or a database server's URL
    timezone: str = "UTC"
    listen: str = DEFAULT_LISTEN
    token_file: Path | None = None
    max_concurrent_runs: int = 16
    shutdown_grace: timedelta = timedelta(seconds=30)
    log_format: Literal["text", "json"] = "text"
    max_parameters_bytes: int = 1024 * 1024
    max_log_bytes: int = 10 * 1024 * 1024  # a run's log past this keeps its head and tail
    keep_runs_for: timedelta | None = None  # finished runs older than this are pruned
    catchup_limit: int = 100
    name: str | None = None  # this daemon's name among several (spec 8); None: the hostname
    # PostgreSQL's password as a secret reference ("file:/etc/clockd/db-password", "env:X")
    database_password: str | None = None
    # A daemon silent this long is dead; one that cannot heartbeat this long starts nothing
    daemon_timeout: timedelta = timedelta(seconds=30)
    executor: str = "local"  # the default executor of jobs: "local" or a name of [executors]
    public_url: str | None = None  # how runs on other machines reach this API (spec 9)


@dataclass(frozen=True, kw_only=True)
class ExecutorSettings:
    """`[executors.NAME]`: a Dask distributed scheduler that runs jobs (spec 9)."""

    name: str
    dask: str  # "tcp://host:8786" or "tls://host:8786"
    tls_ca_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_concurrent_runs: int = 0  # this executor's runs at once (pending on it too); 0: no cap
    connect_timeout: timedelta = timedelta(seconds=10)


# The executor every daemon has: runs as child processes of the daemon (spec 9).
LOCAL_EXECUTOR = "local"


@dataclass(frozen=True, kw_only=True)
class Job:
    name: str
    parameters: ParameterSet
    clocks: tuple[Clock, ...] = ()
    description: str = ""
    command: tuple[str, ...] | None = None
    target: str | None = None
    python: str | None = None
    workdir: Path = Path(".")
    env: dict[str, str] = field(default_factory=dict)
    timeout: timedelta | None = None
    retries: int = 0
    retry_delay: timedelta = timedelta(seconds=30)
    max_active_runs: int = 0
    keep_runs: int | None = None  # the latest N runs per clock are kept (None: all)
    overlap: Overlap = "allow"
    run_name: str | None = None
    on_success: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    enabled: bool = True
    source: Path | None = None
    executor: str = "local"  # "local", or the name of an [executors.NAME] table (spec 9)
    resources: Mapping[str, float] = field(default_factory=dict)  # Dask worker resources
    # Where a run on a worker starts: the configured workdir when absolute, else None (the
    # worker's own); `workdir` is relative to the config's folder, on this machine.
    remote_workdir: Path | None = None
    # The first fire of each clock after the moment the config was checked, found by that
    # check: (checked at, first fire). The planner starts from it instead of computing it
    # again (10,000 clocks load markedly faster). Not part of what the job is.
    first_fires: Mapping[str, tuple[datetime, datetime | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def clock(self, name: str) -> Clock | None:
        return self._clocks_by_name.get(name)

    @cached_property
    def _clocks_by_name(self) -> dict[str, Clock]:
        # A job may hold thousands of clocks, and each fire looks its clock up.
        return {clock.name: clock for clock in self.clocks}


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path
    daemon: DaemonSettings
    jobs: dict[str, Job]
    files: tuple[Path, ...] = ()
    executors: Mapping[str, ExecutorSettings] = field(default_factory=dict)
    # Valid but risky (a template in a shell's script): `clockd check` prints them,
    # `clockd serve` logs them.
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def clock_count(self) -> int:
        return sum(len(job.clocks) for job in self.jobs.values())


@dataclass(frozen=True)
class Identity:
    """Who runs runs: the name every run records (`daemon`, spec 3), and the owner of their
    processes (spec 7): one daemon instance, or one `clockd run` process, never reused."""

    name: str
    owner: str

    @classmethod
    def for_daemon(cls, name: str) -> Identity:
        import uuid

        return cls(name=name, owner=f"daemon:{name}:{uuid.uuid4().hex[:12]}")

    @classmethod
    def for_cli(cls) -> Identity:
        import os
        import socket

        host = socket.gethostname()
        return cls(
            name=f"cli@{host}", owner=f"cli:{host}:{os.getpid()}:{process_start(os.getpid())}"
        )


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat field 22): with
    the pid, it names one process for good (a pid alone may be reused). None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None
