"""Reload semantics (spec 7): a clock a reload adds — also one that existed before under
the same name, its old last fire still stored — or enables again starts fresh: the time it
did not exist, or was disabled, is never caught up, not at the reload and not after a
restart. The daemon is assembled on a real SQLite file with a fixed time source.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.config import load_config
from scheduler.daemon.lifecycle import Daemon
from scheduler.storage.sqlite.store import Store
from scheduler.timesource import FixedTime

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)

KEEP = """
[daemon]
database = "clockd.db"
listen = ""

[jobs.keep]
command = ["true"]

[[jobs.keep.clocks]]
name = "every"
interval = "1s"
start = "2026-03-01T00:00:00Z"
catchup = "none"
"""

TICK = """
[jobs.tick]
command = ["true"]
enabled = ENABLED

[[jobs.tick.clocks]]
name = "every"
interval = "1s"
start = "2026-03-01T00:00:00Z"
catchup = "all"
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


def write(path: Path, *, tick: bool, enabled: bool = True) -> None:
    text = textwrap.dedent(KEEP)
    if tick:
        text += textwrap.dedent(TICK).replace("ENABLED", "true" if enabled else "false")
    path.write_text(text)


async def stop(daemon: Daemon) -> None:
    """What `clockd serve` does at its end, for the parts assembled here: every claim and
    write done, then the writer closed."""
    await daemon.firing.drain()
    daemon.scheduler.shutdown(wait=False)
    await daemon.writer.drained()
    daemon.writer.close(5)
    daemon.reader.close()


async def settled(daemon: Daemon) -> None:
    await daemon.firing.drain()
    await daemon.writer.drained()


def scenario(tmp_path: Path, steps: Any) -> tuple[Store, FixedTime]:
    """Start a daemon at T0 on the config `steps` begins with, run `steps(daemon, time)`,
    then start a second daemon (a restart) on the same database at the time reached."""
    path = tmp_path / "clockd.toml"
    store = Store.open(tmp_path / "clockd.db")
    time_source = FixedTime(T0)

    async def run() -> None:
        daemon = Daemon(path, environ={}, time_source=time_source)
        await daemon.assemble(load_config(path, now=T0), store, RecordingExecutor(), paused=True)
        await steps(daemon, time_source, path)
        await stop(daemon)
        restarted = Daemon(path, environ={}, time_source=time_source)
        config = load_config(path, now=time_source.now())
        await restarted.assemble(config, store, RecordingExecutor(), paused=True)
        await stop(restarted)

    asyncio.run(run())
    return store, time_source


def test_a_clock_readded_by_reload_does_not_catch_up_the_time_it_did_not_exist(
    tmp_path: Path,
) -> None:
    write(tmp_path / "clockd.toml", tick=True)

    async def steps(daemon: Daemon, time: FixedTime, path: Path) -> None:
        await settled(daemon)
        assert daemon.store.clock_state("tick", "every").last_fire == T0  # seen until T0
        write(path, tick=False)
        daemon.reload()
        assert daemon.scheduler.get_job("tick/every") is None
        time.advance(seconds=8)  # removed for 8 s: fires T0+1 … T0+8 never existed
        write(path, tick=True)
        daemon.reload()
        await settled(daemon)
        planned = daemon.scheduler.get_job("tick/every")
        assert planned.next_run_time == T0 + 9 * SECOND
        assert daemon.store.list_runs(job="tick") == []
        assert daemon.store.clock_state("tick", "every").last_fire == T0 + 8 * SECOND

    store, _ = scenario(tmp_path, steps)
    try:
        assert store.list_runs(job="tick") == [], "nor after a restart"
    finally:
        store.close()


def test_a_clock_enabled_again_by_reload_does_not_catch_up_the_time_it_was_disabled(
    tmp_path: Path,
) -> None:
    write(tmp_path / "clockd.toml", tick=True)

    async def steps(daemon: Daemon, time: FixedTime, path: Path) -> None:
        write(path, tick=True, enabled=False)
        daemon.reload()
        assert daemon.scheduler.get_job("tick/every") is None
        time.advance(seconds=8)
        write(path, tick=True, enabled=True)
        daemon.reload()
        await settled(daemon)
        assert daemon.scheduler.get_job("tick/every").next_run_time == T0 + 9 * SECOND
        assert daemon.store.list_runs(job="tick") == []

    store, _ = scenario(tmp_path, steps)
    try:
        # before the fix the restart caught up every fire since T0 (catchup = "all")
        assert store.list_runs(job="tick") == [], "nor after a restart"
    finally:
        store.close()


def test_a_restart_still_catches_up_what_was_missed_while_the_daemon_was_down(
    tmp_path: Path,
) -> None:
    write(tmp_path / "clockd.toml", tick=True)

    async def steps(daemon: Daemon, time: FixedTime, path: Path) -> None:
        time.advance(seconds=3)  # the daemon "stops" at T0: its fires T0+1 … T0+3 are missed

    store, _ = scenario(tmp_path, steps)
    try:
        runs = store.list_runs(job="tick")
        assert sorted((r.trigger, r.scheduled_time) for r in runs) == [
            ("catchup", T0 + k * SECOND) for k in (1, 2, 3)
        ]
    finally:
        store.close()
