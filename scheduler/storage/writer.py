"""`StoreWriter`: every write of the daemon, in order, retried until written, never waited for.

The event loop hands a write (a function of the store) to the writer and goes on; the result
comes back as a callback on the loop. A write that fails transiently (the database is locked
by someone else, the disk is full, the server is gone) is kept at the head of the queue and
retried with backoff, so later writes wait behind it and nothing is written out of order or
lost (spec 7). While writes fail, `health` says why; `/healthz` reports it and the log says
once when writing fails and once when it recovers.

Where the writes happen depends on the store (`RunStore.blocking`):
- a store whose calls can block (a database server over the network) gets a thread of its
  own, which may wait as long as it likes;
- a store whose calls never wait (SQLite opened with `busy_timeout = 0`: a locked file
  fails at once, and the writer retries later) is written on the loop itself, between its
  other work: no thread hand-off per write (each costs a loop wake-up, and libfaketime, which
  the clock-jump tests run under, makes thread hand-offs take 100 ms).

    writer = StoreWriter(store)
    writer.start()                                     # on the loop
    writer.submit(lambda s: s.update_runs(changes), "run states", done=on_written)
    run_id = await writer.call(lambda s: s.create_run(new_run), "create run", timeout=10)
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from scheduler.storage.base import StoreUnavailable

if TYPE_CHECKING:
    from scheduler.storage.base import RunStore

log = logging.getLogger("clockd.store")

T = TypeVar("T")
Done = Callable[[Any, BaseException | None], None]

FIRST_BACKOFF = 0.05  # seconds before the first retry of a failed write
MAX_BACKOFF = 2.0  # and at most this long between retries
# On the loop: writes done in one go before the loop gets a turn (a burst's claims and state
# changes are a few dozen; the loop must still start runs in between).
LOOP_BATCH = 8


@dataclass(eq=False)
class Write(Generic[T]):
    """One queued write. `done(result, error)` runs on the loop once it is written or failed
    for good (a permanent error: a bug or a constraint, never retried) or withdrawn."""

    fn: Callable[[RunStore], T]
    label: str
    done: Done | None = None
    withdrawn: bool = False
    why: str = ""  # why it was withdrawn ("within 10s"), for the answer
    running: bool = False
    finished: bool = False
    attempts: int = 0


@dataclass
class WriterHealth:
    """What `/healthz` and the metrics read. Times are monotonic seconds."""

    failing_since: float | None = None
    last_error: str | None = None
    failed_attempts: int = 0
    recoveries: int = 0
    written: int = 0
    queued: int = 0

    @property
    def ok(self) -> bool:
        return self.failing_since is None


class _Alarm:
    """A wait with a timeout, ended early by `ring`: poll() on an eventfd. Not a
    threading.Event: its timed wait takes an absolute CLOCK_MONOTONIC deadline, which
    libfaketime (the wall-clock jump tests) shifts by the jump, and which a plain relative
    poll() timeout does not depend on."""

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._rung = False

    def wait(self, timeout: float) -> None:
        if self._rung:
            return
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.poll(max(int(timeout * 1000), 0))

    def ring(self) -> None:
        self._rung = True
        os.eventfd_write(self._fd, 1)

    def close(self) -> None:
        os.close(self._fd)


class StoreWriter:
    """See the module docstring. `loop` receives the callbacks (default: the loop running
    at `start()`). `on_loop` overrides the store's own answer to where writes happen."""

    def __init__(
        self,
        store: RunStore,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        monotonic: Callable[[], float] = time.monotonic,
        on_loop: bool | None = None,
    ) -> None:
        self.store = store
        self._loop = loop
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.monotonic = monotonic
        self.on_loop = not getattr(store, "blocking", True) if on_loop is None else on_loop
        self.health = WriterHealth()
        self._queue: deque[Write[Any]] = deque()
        self._condition = threading.Condition()
        # Ends a backoff early on close (new writes do not: they would defeat the backoff).
        self._closed_alarm = _Alarm()
        self._thread: threading.Thread | None = None
        self._pump_handle: asyncio.Handle | None = None
        self._loop_thread: int | None = None
        self._closing = False
        self._abandon = False

    # --- the loop's side -------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """Where answers go: the loop given, else the one running at `start()`."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def start(self) -> None:
        self.loop  # noqa: B018 - fix the loop now, on the loop's thread
        self._loop_thread = threading.get_ident()
        if not self.on_loop:
            self._thread = threading.Thread(
                target=self._work, name="clockd-store-writer", daemon=True
            )
            self._thread.start()

    def submit(self, fn: Callable[[RunStore], T], label: str, done: Done | None = None) -> Write[T]:
        """Queue a write; `done(result, error)` is called on the loop when it is over."""
        write: Write[T] = Write(fn, label, done)
        with self._condition:
            if self._closing and self._abandon:
                raise StoreUnavailable("the daemon is stopping: no more writes")
            self._queue.append(write)
            self.health.queued = len(self._queue)
            self._condition.notify()
        if self.on_loop and self._pump_handle is None:
            self._pump_handle = self.loop.call_soon(self._pump)
        return write

    async def call(
        self, fn: Callable[[RunStore], T], label: str, *, timeout: float | None = None
    ) -> T:
        """Queue a write and wait for its result. After `timeout` seconds a write that has
        not been done is withdrawn (it will never happen) and StoreUnavailable is raised;
        an attempt under way then is let finish, so the answer is always the truth."""
        future: asyncio.Future[T] = self.loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        write = self.submit(fn, label, done)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self.withdraw(write, f"within {timeout:g}s")
            return await future

    def withdraw(self, write: Write[Any], why: str = "") -> None:
        """Take back a write that has not been done: it will never be, and its `done` gets
        StoreUnavailable. One being attempted right now is judged by that attempt."""
        with self._condition:
            if write.finished or write.withdrawn:
                return
            write.withdrawn, write.why = True, why
            if write.running:
                return  # the thread drops it if this attempt fails
            write.finished = True
            try:
                self._queue.remove(write)
            except ValueError:
                pass
            self.health.queued = len(self._queue)
        self._deliver(write, None, self._withdrawn_error(why))

    def _withdrawn_error(self, why: str = "") -> StoreUnavailable:
        reason = f": {self.health.last_error}" if self.health.last_error else ""
        return StoreUnavailable(
            f"the database did not accept the write{' ' + why if why else ''}{reason}"
        )

    async def drained(self) -> None:
        """Until every write queued before this call is over."""
        await self.call(lambda store: None, "drain")

    def backlog(self) -> int:
        return len(self._queue)

    def close(self, timeout: float) -> int:
        """Stop after the queued writes are done, waiting at most `timeout` seconds (they may
        be failing); the number of writes given up. Blocks: call it when the loop is done
        with the store."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self.on_loop:
            self._finish_on_caller(timeout)
        else:
            self._closed_alarm.ring()
            if self._thread is not None:
                self._thread.join(max(timeout, 0))
        with self._condition:
            left = len(self._queue)
            self._abandon = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        if self._thread is None or not self._thread.is_alive():
            self._closed_alarm.close()
        return left

    # --- doing the writes ------------------------------------------------------------------

    def _next(self) -> Write[Any] | None:
        """The head write, marked running (withdrawn ones dropped); None when none is left."""
        with self._condition:
            while self._queue and self._queue[0].withdrawn:
                self._queue.popleft()  # already answered by withdraw()
            if not self._queue:
                return None
            write = self._queue[0]
            write.running = True
            return write

    def _do(self, write: Write[Any]) -> float | None:
        """One attempt of the head write: answered (None), or seconds until the next try."""
        result, error = self._attempt(write)
        retry_in: float | None = None
        with self._condition:
            write.running = False
            transient = error is not None and self.store.is_transient(error)
            if transient and write.withdrawn:
                write.finished = True
                self._queue.popleft()
                self._failed(write, error)  # type: ignore[arg-type]
                error = self._withdrawn_error(write.why)
            elif transient:
                retry_in = self._failed(write, error)  # type: ignore[arg-type]
            else:
                write.finished = True
                self._queue.popleft()
            self.health.queued = len(self._queue)
        if retry_in is not None:
            return retry_in
        if error is None:
            self._succeeded()
        elif not self.store.is_transient(error):
            log.error(
                "store write failed for good write=%s error=%s",
                write.label,
                self.store.describe_error(error),
            )
        self._deliver(write, result, error)
        return None

    def _work(self) -> None:
        """The writer's own thread (a store whose calls can block)."""
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if self._abandon:
                    self._queue.clear()
                    return
            write = self._next()
            if write is None:
                if self._closing:
                    return
                continue
            retry_in = self._do(write)
            if retry_in is not None:
                # Closing ends the wait early (then the retries continue until close gives up).
                self._closed_alarm.wait(retry_in)

    def _pump(self) -> None:
        """On the loop (a store whose calls never wait): a few writes, then the loop's turn."""
        self._pump_handle = None
        for _ in range(LOOP_BATCH):
            write = self._next()
            if write is None:
                return
            retry_in = self._do(write)
            if retry_in is not None:
                self._pump_handle = self.loop.call_later(retry_in, self._pump)
                return
        self._pump_handle = self.loop.call_soon(self._pump)

    def _finish_on_caller(self, timeout: float) -> None:
        """Close of an on-loop writer: the writes left, done here, until `timeout`."""
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        deadline = self.monotonic() + max(timeout, 0)
        while (write := self._next()) is not None:
            retry_in = self._do(write)
            if retry_in is not None:
                if self.monotonic() + retry_in > deadline:
                    with self._condition:
                        write.running = False
                    return
                self._closed_alarm.wait(retry_in)

    def _attempt(self, write: Write[Any]) -> tuple[Any, BaseException | None]:
        write.attempts += 1
        try:
            return write.fn(self.store), None
        except Exception as error:
            if self.store.is_transient(error):
                try:
                    self.store.reset()
                except Exception:  # the connection is gone: the next attempt reconnects
                    log.debug("store reset failed", exc_info=True)
            return None, error

    def _failed(self, write: Write[Any], error: BaseException) -> float:
        """Record a transient failure (under the condition); seconds until the next attempt."""
        health = self.health
        health.failed_attempts += 1
        health.last_error = self.store.describe_error(error)
        if health.failing_since is None:
            health.failing_since = self.monotonic()
            log.warning(
                "store writes failing, keeping them and retrying write=%s backlog=%d error=%s",
                write.label,
                len(self._queue),
                health.last_error,
            )
        return float(min(self.first_backoff * 2 ** max(write.attempts - 1, 0), self.max_backoff))

    def _succeeded(self) -> None:
        health = self.health
        health.written += 1
        if health.failing_since is not None:
            seconds = self.monotonic() - health.failing_since
            with self._condition:
                health.failing_since = None
                health.recoveries += 1
            log.warning(
                "store writes recovered after %.1fs failed_attempts=%d backlog=%d",
                seconds,
                health.failed_attempts,
                len(self._queue),
            )

    def _deliver(self, write: Write[Any], result: Any, error: BaseException | None) -> None:
        if write.done is None:
            if error is not None and not self.store.is_transient(error):
                log.error("store write failed write=%s", write.label, exc_info=error)
            return
        if threading.get_ident() == self._loop_thread:
            # On the loop already: answer on the next pass, as a thread's answer would come.
            try:
                self.loop.call_soon(write.done, result, error)
            except RuntimeError:  # the loop is closed: nobody waits for this answer any more
                pass
            return
        try:
            self.loop.call_soon_threadsafe(write.done, result, error)
        except RuntimeError:  # the loop is closed: nobody waits for this answer any more
            pass
