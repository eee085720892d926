"""A forward wall-clock jump seen first by APScheduler's own timer, not by the daemon's tick.

APScheduler wakes for the fire it planned (on the monotonic clock) and finds the wall clock two
hours further: it lists that fire as due and asks the trigger for the next one, which reports
the gap. The fire it listed was skipped by the jump like every other fire of the gap, so the
clock's catchup rule decides it too; it must not also run as a "clock" fire two hours late
(spec 2.3). The real process is in tests/daemon/test_clock_jump_e2e.py; here APScheduler's wall time
is frozen with time-machine, the daemon's comes from a FixedTime.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from scheduler.config import load_config
from scheduler.daemon.lifecycle import Daemon
from scheduler.storage.sqlite.store import Store
from scheduler.timesource import FixedTime

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
JUMP = timedelta(hours=2)
SECOND = timedelta(seconds=1)

CONFIG = """
[daemon]
database = "clockd.db"
listen = ""
catchup_limit = 3

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "every"
interval = "1s"
start = "2026-03-01T00:00:00Z"
catchup = "CATCHUP"
"""


class RecordingExecutor:
    def submit(self, run_id: int, job: Any, resolved: Any, record: Any = None) -> None:
        pass

    def fail_before_start(self, record: Any, job: Any, error: str) -> None:
        pass

    def live_record(self, run_id: int) -> Any:
        return None

    def running_count(self) -> int:
        return 0

    def pending_count(self) -> int:
        return 0


def world(tmp_path: Path, catchup: str) -> tuple[Store, FixedTime, Any]:
    """A store on a temp file, the daemon's time source, and a function that assembles the
    daemon on them with APScheduler paused (call it inside the test's event loop)."""
    path = tmp_path / "clockd.toml"
    path.write_text(textwrap.dedent(CONFIG).replace("CATCHUP", catchup))
    config = load_config(path, now=T0)
    store = Store.open(config.daemon.database)
    time_source = FixedTime(T0)

    async def start_daemon() -> Daemon:
        daemon = Daemon(path, environ={}, time_source=time_source)
        await daemon.assemble(config, store, RecordingExecutor(), paused=True)
        return daemon

    return store, time_source, start_daemon


@pytest.mark.parametrize(
    ("catchup", "expected"),
    [
        ("none", []),
        ("latest", [T0 + JUMP + SECOND]),
        ("all", [T0 + JUMP - SECOND, T0 + JUMP, T0 + JUMP + SECOND]),  # catchup_limit = 3
    ],
)
def test_the_fire_due_when_the_scheduler_timer_sees_a_forward_jump_follows_the_catchup_rule(
    tmp_path: Path, catchup: str, expected: list[datetime]
) -> None:
    store, time_source, start_daemon = world(tmp_path, catchup)

    async def scenario() -> None:
        daemon = await start_daemon()
        planned = daemon.scheduler.get_job("tick/every")
        assert planned.next_run_time == T0 + SECOND
        # The wall clock steps two hours forward just before T0 + 1 s; APScheduler's timer
        # wakes at T0 + 1 s on the monotonic clock and reads the new wall time.
        time_source.jump(hours=2)
        time_source.advance(seconds=1)
        with time_machine.travel(T0 + JUMP + SECOND, tick=False):
            daemon.scheduler.resume()  # its pass runs on the loop, before any tick
            await asyncio.sleep(0)  # the pass
            await daemon.firing.drain()  # the claim of what it handed over
        runs = store.list_runs(job="tick")
        assert sorted((r.trigger, r.scheduled_time) for r in runs) == [
            ("catchup", t) for t in expected
        ]
        assert planned.next_run_time == T0 + JUMP + 2 * SECOND
        daemon.tick()  # the daemon's watcher sees the same jump a moment later: nothing more
        await daemon.firing.drain()
        assert len(store.list_runs(job="tick")) == len(expected)
        daemon.scheduler.shutdown(wait=False)
        daemon.writer.close(5)
        daemon.reader.close()

    try:
        asyncio.run(scenario())
    finally:
        store.close()


def test_a_backward_jump_replans_from_when_it_may_have_happened_so_no_rewound_fire_is_lost(
    tmp_path: Path,
) -> None:
    store, time_source, start_daemon = world(tmp_path, "latest")

    async def scenario() -> None:
        daemon = await start_daemon()
        planned = daemon.scheduler.get_job("tick/every")
        # The loop slept 1.2 s (a busy wake); the wall clock stepped ten minutes back 0.6 s in.
        time_source.advance(seconds=0.6)
        time_source.jump(minutes=-10)
        time_source.advance(seconds=0.6)
        daemon.tick()
        # On the new time the wall clock read T0 - 10 min + 0.6 s at the step, at the latest,
        # and T0 - 10 min at the earliest: T0 - 9 min 59 s came after the step and is due now,
        # not skipped because the jump was noticed later. Nothing was caught up.
        assert planned.next_run_time == T0 - timedelta(minutes=10) + SECOND
        await daemon.firing.drain()
        assert store.list_runs(job="tick") == []
        daemon.scheduler.shutdown(wait=False)
        daemon.writer.close(5)
        daemon.reader.close()

    try:
        asyncio.run(scenario())
    finally:
        store.close()
