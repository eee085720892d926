"""What a starting daemon does with the runs dead owners left `pending` or `running` (spec 3, 7).

- Whose runs: on a store one daemon holds at a time (SQLite: its lock file proves every
  earlier instance dead), every daemon's; on a shared one, those of this daemon's name. And
  those of a `clockd run` on this machine whose process is gone (its pid no longer has the
  start time its owner recorded). A `clockd run` that still lives, or that ran on another
  machine, is left alone: it is judged by its own owner only.
- Their processes are killed (`scheduler.running.local.leftovers`: the recorded process
  group if its leader is still the same process, and every process carrying the run's
  marks), then the runs are marked `crashed`. So are the processes that carry the marks of a
  dead owner's run that ended (one that left its group, when the daemon died before its
  subreaper killed it), once the run's row confirms that owner: another database's daemon
  on this machine has other owners.
- A crashed run whose processes are known to be gone runs again as its next attempt when its
  job has retries left (`retry_crashed`; a survivor calls it too, for a dead peer's runs).
  Not a `clockd run`'s: it ran in a terminal, with that terminal's environment and user, and
  the daemon does not take it over.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.models import RunState, process_start

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Config, Identity
    from scheduler.running.executor import Executor
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.daemon")

DAEMON_OWNER = "daemon:"
CLI_OWNER = "cli:"


def cli_owner_gone(owner: str, host: str) -> bool:
    """Whether the `clockd run` process of `owner` ("cli:HOST:PID:START") is known to be
    gone: on this host, and its pid no longer names a process with that start time."""
    parts = owner.split(":")
    if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
        return False
    return str(process_start(int(parts[2]))) != parts[3]


def leftover_runs(store: RunStore, daemon_prefix: str, host: str) -> list[RunRecord]:
    """The unfinished runs whose owner is dead (module docstring), oldest first."""
    runs = store.unfinished_runs(daemon_prefix)
    runs += [
        run for run in store.unfinished_runs(CLI_OWNER) if cli_owner_gone(run.owner or "", host)
    ]
    return sorted(runs, key=lambda run: run.id)


def ended_runs_with_processes(
    store: RunStore, daemon_prefix: str, host: str, skip: set[int]
) -> list[RunRecord]:
    """Runs of dead owners, not in `skip`, whose marks a live process carries, confirmed by
    their rows (same id, same owner)."""
    from scheduler.running.local.leftovers import marked_runs

    def dead(owner: str) -> bool:
        if owner.startswith(CLI_OWNER):
            return cli_owner_gone(owner, host)
        return owner.startswith(daemon_prefix)

    found = []
    for owner, run_id in sorted(marked_runs(dead)):
        if run_id not in skip and (run := store.get_run(run_id)) is not None:
            if run.owner == owner:
                found.append(run)
    return found


def daemon_prefix(store: RunStore, identity: Identity) -> str:
    """Whose daemon runs a start may take as its own leftovers: any daemon's where one holds
    the store alone (it has `lock_for_daemon`), else this name's."""
    if hasattr(store, "lock_for_daemon"):
        return DAEMON_OWNER
    return f"{DAEMON_OWNER}{identity.name}:"


@dataclass
class Recovered:
    """What the start did: runs marked crashed, and those of them that may be retried."""

    crashed: list[RunRecord] = field(default_factory=list)
    retryable: list[RunRecord] = field(default_factory=list)
    killed: int = 0


async def recover(
    store: RunStore,
    identity: Identity,
    now: datetime,
    write: Any,
) -> Recovered | None:
    """Kill and crash the leftovers of dead owners (module docstring). `write(fn)` runs a
    store call at start-up, retried while the store is locked (None: a stop was asked)."""
    from scheduler.running.local.leftovers import kill_leftovers

    prefix, host = daemon_prefix(store, identity), socket.gethostname()
    runs = await write(lambda: leftover_runs(store, prefix, host))
    if runs is None:
        return None
    skip = {run.id for run in runs}
    ended = await write(lambda: ended_runs_with_processes(store, prefix, host, skip))
    if ended is None:
        return None
    result = Recovered()
    if not runs and not ended:
        return result
    report = await asyncio.to_thread(kill_leftovers, runs + ended)
    result.killed = report.killed
    if report.killed or report.groups:
        log.warning(
            "killed processes left by a dead owner's runs processes=%d groups=%d run_ids=%s",
            report.killed,
            len(report.groups),
            sorted(report.processes.keys() | report.groups.keys()),
        )
    if report.survivors:
        log.error(
            "processes of runs left by a dead owner could not be killed; these runs are not "
            "retried run_ids=%s",
            sorted(report.survivors),
        )
    ids = [run.id for run in runs]
    if not ids:
        return result
    crashed_ids = await write(lambda: store.mark_crashed(now, ids))
    if crashed_ids is None:
        return None
    crashed = await write(lambda: [store.get_run(run_id) for run_id in crashed_ids])
    if crashed is None:
        return None
    result.crashed = [run for run in crashed if run is not None]
    result.retryable = [
        run
        for run in result.crashed
        if run.id not in report.survivors and (run.owner or DAEMON_OWNER).startswith(DAEMON_OWNER)
    ]
    return result


def resolved_of(record: RunRecord) -> ResolvedParameters:
    """A stored run's values as the executor takes them: secrets as their references."""
    from clocks.parameters import ResolvedParameters

    values = {**record.parameters, **record.secret_refs}
    return ResolvedParameters(values=values, secrets=frozenset(record.secret_refs))


def retry_crashed(
    records: Iterable[RunRecord],
    config: Config,
    executor: Executor,
    identity: Identity | None,
) -> list[int]:
    """Queue again, each as its next attempt, the `crashed` runs of `records` whose job
    still exists and has retries left (`Executor.resubmit`); their ids. The caller vouches
    that their processes are gone (killed, or their daemon is dead and fenced): a retry of a
    run whose process still lives would run it twice. They are held from now on by this
    daemon (`owner`, `daemon`)."""
    queued: list[int] = []
    fields = {"owner": identity.owner, "daemon": identity.name} if identity else {}
    for record in records:
        job = config.jobs.get(record.job)
        if job is None or record.state != RunState.crashed.value:
            continue
        if executor.resubmit(record, job, resolved_of(record), **fields) is not None:
            queued.append(record.id)
    return queued


def retry_note(queued: Sequence[int], crashed: Sequence[RunRecord]) -> None:
    """One line for the log about a start's crashed runs."""
    if crashed:
        log.warning(
            "runs left unfinished by a dead owner marked crashed run_ids=%s retried=%s",
            [run.id for run in crashed],
            list(queued),
        )
