"""RunWriteBehind: state changes and log lines written behind, through a writer (here one
that writes at once to a recording store and answers on the next loop pass, as the store
writer's thread does), with the loop driven pass by pass."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scheduler.models import RunState
from scheduler.running.writebehind import FLUSH_LINES, RunWriteBehind
from scheduler.storage.records import LogLine, RunRecord
from tests.running.test_environment import record

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Target:
    """Records each call, in order; `fail` makes the next update raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = False

    def update_runs(self, updates: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        if self.fail:
            self.fail = False
            raise OSError("disk full")
        self.calls.append(("update", [(run_id, dict(fields)) for run_id, fields in updates]))

    def append_logs(self, batch: Mapping[int, Sequence[tuple[datetime, str, str]]]) -> None:
        for run_id, lines in batch.items():
            self.calls.append(("log", (run_id, [text for _, _, text in lines])))


class InlineWriter:
    """`StoreWriter.submit` without a thread: the write now, the answer on the next pass."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def submit(self, fn: Any, label: str, done: Any = None) -> None:
        try:
            result, error = fn(self.target), None
        except Exception as failure:
            result, error = None, failure
        if done is not None:
            asyncio.get_running_loop().call_soon(done, result, error)


class World:
    def __init__(self, *, starting: bool = False) -> None:
        self.target = Target()
        self.events: list[tuple[str, int, str, int]] = []  # with the calls made by then
        self.echoed: list[LogLine] = []
        self.starting = starting
        self.writes = RunWriteBehind(
            InlineWriter(self.target),
            emit=lambda event, r: self.events.append(
                (event, r.id, r.state, len(self.target.calls))
            ),
            echo=self.echoed.append,
            is_starting=lambda: self.starting,
        )


async def passes(count: int = 2) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def test_a_change_is_seen_at_once_and_stored_at_the_end_of_the_pass() -> None:
    async def main() -> None:
        w = World()
        run = record(id=1)
        w.writes.change(run, state=RunState.running, started_at=NOW, attempt=1)
        assert (run.state, run.started_at, run.attempt) == ("running", NOW, 1)
        assert w.target.calls == []
        await passes()
        assert w.target.calls == [
            ("update", [(1, {"state": RunState.running, "started_at": NOW, "attempt": 1})])
        ]

    asyncio.run(main())


def test_while_runs_are_being_started_changes_wait_until_starting_stops() -> None:
    async def main() -> None:
        w = World(starting=True)
        first, second = record(id=1), record(id=2)
        w.writes.change(first, state=RunState.running)
        w.writes.change(second, state=RunState.running)
        await passes(5)
        assert w.target.calls == []  # waiting: at most STATE_WRITE_DELAY
        w.starting = False
        w.writes.starting_stopped()
        await passes()
        assert w.target.calls == [  # both in one write
            ("update", [(1, {"state": RunState.running}), (2, {"state": RunState.running})])
        ]

    asyncio.run(main())


def test_finished_is_sent_once_the_final_state_is_stored_after_the_runs_last_lines() -> None:
    async def main() -> None:
        w = World()
        run = record(id=3, state="running")
        sink = w.writes.sink(run)
        sink(NOW, "stdout", "last words")
        w.writes.finish(run, state=RunState.succeeded, ended_at=NOW)
        assert w.events == []
        w.writes.write_pending()
        assert w.target.calls == [
            ("log", (3, ["last words"])),
            ("update", [(3, {"state": RunState.succeeded, "ended_at": NOW})]),
        ]
        # until the writer answers, readers get the record from the write-behind
        assert w.writes.unwritten(3) is run
        await passes(1)
        # a finished run's last lines send no "log" event: its "finished" follows them
        assert w.events == [("finished", 3, "succeeded", 2)]
        assert w.writes.unwritten(3) is None

    asyncio.run(main())


def test_lines_of_a_running_run_are_numbered_echoed_and_wake_log_followers() -> None:
    async def main() -> None:
        w = World()
        run = record(id=4, state="running")
        sink = w.writes.sink(run)
        for index in range(FLUSH_LINES):  # a full batch is stored at once, without a timer
            sink(NOW, "stdout", f"l{index}")
        assert w.target.calls == [("log", (4, [f"l{i}" for i in range(FLUSH_LINES)]))]
        await passes(1)
        assert w.events == [("log", 4, "running", 1)]
        assert [line.seq for line in w.echoed] == list(range(1, FLUSH_LINES + 1))

    asyncio.run(main())


def test_a_failed_state_write_is_logged_and_the_finished_event_still_sent() -> None:
    async def main() -> None:
        w = World()
        run = record(id=5)
        w.writes.finish(run, state=RunState.failed, error="x")
        w.target.fail = True
        w.writes.write_pending()  # does not raise
        assert w.target.calls == []
        await passes(1)
        assert w.events == [("finished", 5, "failed", 0)]

    asyncio.run(main())


def test_when_stopping_each_change_is_written_at_once() -> None:
    async def main() -> None:
        w = World(starting=True)
        w.writes.at_once = True
        run = record(id=6)
        w.writes.finish(run, state=RunState.cancelled, ended_at=NOW, error="stopping")
        assert w.target.calls == [
            ("update", [(6, {"state": RunState.cancelled, "ended_at": NOW, "error": "stopping"})])
        ]
        await passes(1)
        assert w.events == [("finished", 6, "cancelled", 1)]

    asyncio.run(main())


def test_one_sink_per_run_keeps_each_runs_numbering() -> None:
    async def main() -> None:
        w = World()
        a, b = w.writes.sink(record(id=7)), w.writes.sink(record(id=8))
        a(NOW, "stdout", "a1")
        b(NOW, "stdout", "b1")
        a(NOW, "stderr", "a2")
        w.writes.flush()
        assert [(line.seq, line.text) for line in w.echoed] == [(1, "a1"), (1, "b1"), (2, "a2")]
        assert w.target.calls == [("log", (7, ["a1", "a2"])), ("log", (8, ["b1"]))]

    asyncio.run(main())


def test_records_are_changed_in_place_with_state_values() -> None:
    run: RunRecord = record(id=9)
    w = World()

    async def main() -> None:
        w.writes.change(run, state=RunState.timed_out, name="n")

    asyncio.run(main())
    assert (run.state, type(run.state), run.name) == ("timed_out", str, "n")
