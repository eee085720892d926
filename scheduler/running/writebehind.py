"""State changes and log lines of runs, written behind in batches.

A change (running, attempt, name, a final state) is set on the run's in-memory record at once
(events and in-process readers see it) and stored with the next `write_pending`: at the end
of the loop pass that made it, or, while runs are being started (a burst, slots free), once
starting stops, at most `STATE_WRITE_DELAY` later: starting runs comes first, and a burst's
changes go in a few transactions instead of one commit per run. A run's "finished" event is
sent only once its final state is stored, so a reader woken by it finds that state.

Log lines are buffered and stored every `FLUSH_INTERVAL`, or sooner once `FLUSH_LINES` wait,
and always before the state changes of the same write (a run's last lines before its final
state). A daemon killed in between leaves a started run `pending`; the next start marks it
`crashed`.

Writes go to the store writer's thread (`scheduler.storage.writer`), which keeps their order
and retries them while the store refuses them; the loop never waits. Until a run's final
state is stored, `unwritten(run_id)` gives its record, so readers never see an older state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from scheduler.models import RunState
from scheduler.storage.records import LogLine

if TYPE_CHECKING:
    from scheduler.running.backend import Started
    from scheduler.running.runlog import LineSink
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.executor")

FLUSH_INTERVAL = 0.1  # seconds between log writes to the store
FLUSH_LINES = 100  # or sooner, when this many lines wait
STATE_WRITE_DELAY = 0.5  # longest wait of a state change while runs are being started
# A run whose record is in one of these states has not finished: its stored lines wake log
# followers ("log"); a finished run's last lines are followed by its "finished" event.
_UNFINISHED = frozenset({RunState.pending.value, RunState.running.value})


class RunWriter(Protocol):
    """What the write-behind needs: `StoreWriter.submit`."""

    def submit(
        self,
        fn: Callable[[RunStore], Any],
        label: str,
        done: Callable[[Any, BaseException | None], None] | None = None,
    ) -> Any: ...


class RunWriteBehind:
    """Writes runs' state changes and log lines behind, in batches (module docstring).

    `emit(event, record)` sends "finished" and "log"; `echo(line)` sees each line as it comes
    (`clockd run` prints it); `is_starting()` says whether runs are being started now.
    """

    def __init__(
        self,
        writer: RunWriter,
        *,
        emit: Callable[[str, RunRecord], None],
        echo: Callable[[LogLine], None] | None = None,
        is_starting: Callable[[], bool] = lambda: False,
    ) -> None:
        self._writer = writer
        self._emit = emit
        self._echo = echo
        self._is_starting = is_starting
        # Stopping: each change is written at once, as there may be no later loop pass.
        self.at_once = False
        self._changes: list[tuple[int, Mapping[str, Any]]] = []
        self._finished: list[RunRecord] = []  # their "finished" event waits for the write
        self._unwritten: dict[int, RunRecord] = {}  # finished, final state not stored yet
        self._write_handle: asyncio.Handle | None = None
        self._lines: list[tuple[RunRecord, datetime, str, str]] = []
        self._flush_handle: asyncio.TimerHandle | None = None

    def change(self, record: RunRecord, **fields: Any) -> None:
        """Set `fields` on `record` now, and in the store with the next `write_pending`."""
        for name, value in fields.items():
            setattr(record, name, value.value if isinstance(value, RunState) else value)
        self._changes.append((record.id, fields))
        if self.at_once:
            self.write_pending()
        elif self._write_handle is None:
            loop = asyncio.get_running_loop()
            if self._is_starting():  # runs are being started, one per loop pass
                self._write_handle = loop.call_later(STATE_WRITE_DELAY, self.write_pending)
            else:
                self._write_handle = loop.call_soon(self.write_pending)

    def start(self, record: RunRecord, started: Started | None, now: datetime) -> bool:
        """An attempt's process exists: recorded with what names it (`Started`: its process
        group, or the worker of a remote run, at once: a retry may run elsewhere). True on the
        run's first start, which makes it `running`, `started.ago` seconds before `now` (a
        remote start is heard of a moment later); a resumed crashed run keeps its first start."""
        fields = started.run_fields() if started is not None else {}
        if record.state == RunState.running.value:  # a retry: only its process is new
            if fields:
                self.change(record, **fields)
            return False
        if record.started_at is None:
            fields["started_at"] = now - timedelta(seconds=started.ago if started else 0.0)
        self.change(record, state=RunState.running, attempt=max(record.attempt, 1), **fields)
        return True

    def finish(self, record: RunRecord, **fields: Any) -> None:
        """The run's final state: written like any change; "finished" sent once it is stored."""
        self._finished.append(record)
        self._unwritten[record.id] = record
        self.change(record, **fields)

    def unwritten(self, run_id: int) -> RunRecord | None:
        """The record of a run that ended and whose final state is not stored yet."""
        return self._unwritten.get(run_id)

    def starting_stopped(self) -> None:
        """Runs are no longer being started (none left, or no free slot): write what waited."""
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = asyncio.get_running_loop().call_soon(self.write_pending)

    def write_pending(self) -> None:
        """Store buffered log lines, then state changes in one transaction, then send the
        "finished" events they complete. In-process readers call this before reading a run."""
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = None
        self.flush()  # a run's last lines are stored before its final state
        changes, self._changes = self._changes, []
        finished, self._finished = self._finished, []
        if not changes and not finished:
            return

        def written(result: object, error: BaseException | None) -> None:
            if error is not None:  # not transient (those are retried): a bug, said loudly
                log.error("cannot record run states count=%d", len(changes), exc_info=error)
            for record in finished:
                self._unwritten.pop(record.id, None)
                self._emit("finished", record)

        # Even with no change left to write, "finished" waits for the writes queued before
        # (the writer keeps their order), which may hold these runs' final states.
        self._writer.submit(lambda store: store.update_runs(changes), "run states", written)

    def sink(self, record: RunRecord) -> LineSink:
        """Where the lines of one run go: numbered, echoed, buffered. One per run."""
        seq = 0

        def sink(moment: datetime, stream: str, text: str) -> None:
            nonlocal seq
            seq += 1
            self._lines.append((record, moment, stream, text))
            if self._echo is not None:
                try:
                    self._echo(LogLine(seq=seq, time=moment, stream=stream, text=text))
                except Exception:
                    log.exception("echo callback failed run_id=%s", record.id)
            if len(self._lines) >= FLUSH_LINES:
                self.flush()
            elif self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_later(
                    FLUSH_INTERVAL, self.flush
                )

        return sink

    def flush(self) -> None:
        """Store the buffered log lines now (state changes keep their time)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        by_run: dict[int, list[tuple[datetime, str, str]]] = {}
        records: dict[int, RunRecord] = {}
        for record, moment, stream, text in lines:
            by_run.setdefault(record.id, []).append((moment, stream, text))
            records[record.id] = record

        def stored(result: object, error: BaseException | None) -> None:
            if error is not None:
                log.error("cannot store log lines runs=%d", len(by_run), exc_info=error)
                return
            for record in records.values():
                if record.state in _UNFINISHED:  # wakes log followers (SSE) before their poll
                    self._emit("log", record)

        self._writer.submit(lambda store: store.append_logs(by_run), "log lines", stored)
