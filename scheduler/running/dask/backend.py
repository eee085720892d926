"""`DaskBackend`: one attempt of a run as a task on a Dask cluster (spec 9).

The daemon's side of `worker.py`: it submits `run_attempt(payload)` under a key of its own
(`clockd-<daemon>-<run>-<attempt>-<instance>`), with the job's `resources`, no Dask retries
(clockd's own `retries` decide) and `pure=False`. The payload is the attempt and its plan,
pickled by the daemon: the Dask scheduler, which unpickles every task it is given and pickles
it again for its worker, then handles bytes only. A run stays `pending` until its process
exists on a worker (a run waiting for a worker with its resources, or for a place under the
executor's `max_concurrent_runs`); its start makes it `running` and records the worker and
when it started. Its lines arrive in batches on the daemon's topic (`connection.py`) and go
to the run's log as they come.

- cancel: a run not started yet is cancelled by cancelling its future (a start that races
  it notices within `LEASE_CHECK` that nobody wants its task any more and stops); a running
  one is asked to stop on its worker (`Client.run`;
  `Future.cancel` cannot stop a running task), which kills its process group and answers
  with the exit code;
- a worker that dies mid-run: its run becomes `crashed` (the executor's `retries` may run it
  again as its next attempt) — noticed when the worker leaves the scheduler, or when Dask
  starts the task elsewhere and that start refuses (`reruns.py`);
- the scheduler unreachable at fire time: the run fails with the reason, as soon as the
  connection attempt gives up (`connect_timeout`); a lost connection mid-run: `crashed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import pickle
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scheduler.models import RunState
from scheduler.running.backend import Attempt, Outcome, Started
from scheduler.running.dask.connection import DaskConnection, DaskUnreachable
from scheduler.running.runlog import RunLog

if TYPE_CHECKING:
    from scheduler.models import ExecutorSettings, Identity

log = logging.getLogger("clockd.dask")

# After a stop was asked for, how long past the kill grace the daemon waits for the answer.
STOP_ANSWER_GRACE = 10.0
# After a pending run was dropped, how long a start that raced the cancel may take to say so.
RACE_WAIT = 1.0
_FINAL = {"succeeded": RunState.succeeded, "failed": RunState.failed}


def topic_of(daemon: str) -> str:
    return f"clockd:{daemon}"


class _Watch:
    """What the daemon knows of one submitted attempt while it runs."""

    __slots__ = ("address", "ended", "gone", "key", "log", "on_started", "submitted", "worker")

    def __init__(self, key: str, log: RunLog, on_started: Callable[..., None]) -> None:
        self.key = key
        self.log = log
        self.on_started = on_started
        self.submitted = time.time()
        self.worker: str | None = None  # its name, once started
        self.address: str | None = None
        loop = asyncio.get_running_loop()
        self.gone: asyncio.Future[str] = loop.create_future()  # its worker left the cluster
        self.ended: asyncio.Future[dict[str, Any]] = loop.create_future()  # its outcome


class DaskBackend:
    """Runs attempts on the Dask cluster of one `[executors.NAME]` (module docstring)."""

    uses_local_slot = False

    def __init__(
        self,
        settings: ExecutorSettings,
        identity: Identity,
        *,
        public_url: str | None = None,
        hidden_env: Callable[[], frozenset[str]] = frozenset,
        max_log_bytes: int = 10 * 1024 * 1024,
        kill_grace: timedelta = timedelta(seconds=5),
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.public_url = public_url
        self.hidden_env = hidden_env
        self.max_log_bytes = max_log_bytes
        self.kill_grace = kill_grace
        # Keys carry the instance, so a restarted daemon never reuses a key of its past.
        self._instance = hashlib.sha1(identity.owner.encode()).hexdigest()[:10]
        self._watches: dict[str, _Watch] = {}
        self._slots: asyncio.Semaphore | None = None
        self.connection = DaskConnection(
            settings,
            topic=topic_of(identity.name),
            on_event=self._on_event,
            alive_workers=lambda: {w.address for w in self._watches.values() if w.address},
            on_worker_gone=self._worker_gone,
        )

    # --- messages from workers -------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        """A message of a run on a worker (`worker.py`): its start, lines, outcome."""
        _, message = event
        watch = self._watches.get(str(message.get("k"))) if isinstance(message, dict) else None
        if watch is None:  # another instance's, or a run that ended
            return
        start = message.get("s")
        if start is not None and watch.worker is None:
            watch.worker, watch.address = start["w"], start["a"]
            # When it started, by the worker's clock, kept between its submission and now
            # (clocks of two machines differ a little).
            now = time.time()
            ago = min(max(now - float(start["t"]), 0.0), now - watch.submitted)
            watch.on_started(Started(worker=watch.worker, ago=ago))
        for moment, stream, text in message.get("l", ()):
            if stream == "clockd":
                watch.log.clockd(text)
            else:
                watch.log.line(stream, text, time=_utc(moment))
        outcome = message.get("o")
        if outcome is not None and not watch.ended.done():
            watch.ended.set_result(outcome)

    def _worker_gone(self, address: str) -> None:
        for watch in list(self._watches.values()):
            if watch.address == address and not watch.gone.done():
                watch.gone.set_result(f"worker {watch.worker} ({address}) left the cluster")

    # --- one attempt -----------------------------------------------------------------------

    async def run(
        self,
        attempt: Attempt,
        log: RunLog,
        *,
        on_started: Callable[..., None],
        cancelled: asyncio.Future[str],
    ) -> Outcome:
        limit = self.settings.max_concurrent_runs
        if limit and self._slots is None:
            self._slots = asyncio.Semaphore(limit)
        if self._slots is None:
            return await self._attempt(attempt, log, on_started, cancelled)
        slot = asyncio.ensure_future(self._slots.acquire())
        await asyncio.wait(_futures(slot, cancelled), return_when=asyncio.FIRST_COMPLETED)
        if not slot.done():  # cancelled while waiting for a place on the cluster
            slot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slot
            if not slot.cancelled():
                self._slots.release()
            return Outcome(RunState.cancelled, error=cancelled.result())
        try:
            return await self._attempt(attempt, log, on_started, cancelled)
        finally:
            self._slots.release()

    async def _attempt(
        self,
        attempt: Attempt,
        log: RunLog,
        on_started: Callable[..., None],
        cancelled: asyncio.Future[str],
    ) -> Outcome:
        client = self.connection.connected()
        if client is None:
            connecting = asyncio.ensure_future(self.connection.client())
            await asyncio.wait(_futures(connecting, cancelled), return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                connecting.cancel()
                return Outcome(RunState.cancelled, error=cancelled.result())
            try:
                client = connecting.result()
            except DaskUnreachable as error:
                return Outcome(RunState.failed, error=str(error))
        from scheduler.running.dask.worker import run_attempt

        key = f"clockd-{self.identity.name}-{attempt.run_id}-{attempt.number}-{self._instance}"
        watch = self._watches[key] = _Watch(key, log, on_started)
        remote = dataclasses.replace(
            attempt,
            parameters=dict(attempt.parameters),
            types=dict(attempt.types),
            env=dict(attempt.env),
            api_url=self.public_url or attempt.api_url,
        )
        plan = {
            "key": key,
            "topic": self.connection.topic,
            "daemon": self.identity.name,
            "owner": self.identity.owner,
            "workdir": str(attempt.remote_workdir) if attempt.remote_workdir else None,
            "hidden": sorted(self.hidden_env()),
            "kill_grace": self.kill_grace.total_seconds(),
            "max_log_bytes": self.max_log_bytes,
        }
        payload = pickle.dumps((remote, plan), protocol=pickle.HIGHEST_PROTOCOL)
        future = client.submit(
            run_attempt,
            payload,
            key=key,
            pure=False,
            retries=0,
            resources=dict(attempt.resources) or None,
        )
        answer = asyncio.ensure_future(_answer(future, watch))
        try:
            waits = _futures(answer, cancelled, watch.gone)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if answer.done():
                return self._outcome(answer.result(), watch)
            if cancelled.done():
                return await self._cancel(client, future, answer, watch, cancelled.result())
            await _drop(client, future)
            return Outcome(
                RunState.crashed,
                error=f"{watch.gone.result()} while the run was running",
                worker=watch.worker,
            )
        finally:
            self._watches.pop(key, None)
            if not answer.done():
                answer.cancel()
            future.release()

    async def _cancel(
        self,
        client: Any,
        future: Any,
        answer: asyncio.Future[dict[str, Any]],
        watch: _Watch,
        reason: str,
    ) -> Outcome:
        if watch.address is None:
            # Not started, or not said yet (a start is said at most FLUSH_DELAY after the
            # spawn): the scheduler drops it; a start racing this one is then said within
            # RACE_WAIT, and its worker stops it within LEASE_CHECK (nobody wants the task).
            await _drop(client, future)
            started = asyncio.ensure_future(_started(watch))
            await asyncio.wait(_futures(started, watch.gone), timeout=RACE_WAIT)
            started.cancel()
            if watch.address is None:
                return Outcome(RunState.cancelled, error=reason)
        if not answer.done() or answer.result().get("state") == "lost":
            try:
                await self.connection.stop_run(client, watch.address, watch.key, reason)
            except Exception as error:
                log.warning("cannot ask worker to stop run key=%s: %r", watch.key, error)
            wait = self.kill_grace.total_seconds() + STOP_ANSWER_GRACE
            ended = watch.ended
            await asyncio.wait(
                _futures(ended, watch.gone), timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
        exit_code = watch.ended.result().get("exit_code") if watch.ended.done() else None
        if not watch.ended.done():
            await _drop(client, future)  # no answer: its worker kills it once dropped
        return Outcome(RunState.cancelled, exit_code=exit_code, error=reason, worker=watch.worker)

    def _outcome(self, answer: dict[str, Any], watch: _Watch) -> Outcome:
        state = answer.get("state")
        worker = answer.get("worker") or watch.worker
        if state in _FINAL or state == "timed_out":
            return Outcome(
                _FINAL.get(state, RunState.timed_out),
                exit_code=answer.get("exit_code"),
                error=answer.get("error"),
                result=answer.get("result"),
                worker=worker,
                retryable=answer.get("retryable", True),
            )
        if state == "refused":
            first = f" on {watch.worker}" if watch.worker else ""
            return Outcome(
                RunState.crashed,
                error=f"the worker that ran this attempt{first} died; Dask started it again "
                f"on {answer.get('worker')}, which refused: an attempt runs once",
                worker=watch.worker,
            )
        if state == "lost":
            return Outcome(RunState.crashed, error=answer["error"], worker=worker)
        if state == "error":
            return Outcome(RunState.failed, error=answer["error"], worker=worker)
        return Outcome(
            RunState.crashed,
            error=f"the run was stopped on {worker} ({state})",
            exit_code=answer.get("exit_code"),
            worker=worker,
        )

    async def close(self) -> None:
        await self.connection.close()


async def _answer(future: Any, watch: _Watch) -> dict[str, Any]:
    """The attempt's outcome: its "ended" message, else (a large result, or the task failed
    without one) what Dask says about the task. Dask's own failures become answers too."""
    settled = asyncio.ensure_future(future.exception())  # waits; fetches nothing
    try:
        await asyncio.wait({watch.ended, settled}, return_when=asyncio.FIRST_COMPLETED)
        if watch.ended.done() and not watch.ended.result().get("more"):
            return watch.ended.result()
        if future.status == "finished" or watch.ended.done():
            return await _result(future)
        if future.status == "error":
            return _failure(settled.result())
        return {"state": "lost", "error": "the connection to the Dask scheduler was lost"}
    finally:
        settled.cancel()


async def _result(future: Any) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = await future
        return answer
    except Exception as error:
        return _failure(error)


def _failure(error: BaseException) -> dict[str, Any]:
    name = type(error).__name__
    if name == "KilledWorker":
        return {"state": "lost", "error": f"the worker running it died ({error})"}
    if name in ("FutureCancelledError", "CancelledError"):
        return {"state": "lost", "error": "the connection to the Dask scheduler was lost"}
    hint = ""
    if isinstance(error, ImportError) and "scheduler" in str(error):
        hint = "; is clockd installed on the Dask workers?"
    return {"state": "error", "error": f"the Dask task failed: {name}: {error}{hint}"}


async def _drop(client: Any, future: Any) -> None:
    """The scheduler forgets the task (a running one: its worker's lease check kills it)."""
    with contextlib.suppress(Exception):
        await client.cancel([future])


async def _started(watch: _Watch) -> None:
    while watch.address is None:
        await asyncio.sleep(0.05)


def _utc(moment: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, UTC)


def _futures(*futures: asyncio.Future[Any]) -> set[asyncio.Future[Any]]:
    """Futures of different result types, awaited together (a set literal would be typed
    as `set[object]`, which `asyncio.wait` does not take)."""
    return set(futures)
