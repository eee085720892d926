"""The executor with runs of a remote backend (a Dask executor, spec 9), scripted: they take
no local slot, and their start says where and when it happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.running.backend import Started
from tests.helpers import wait_until_async as wait_until
from tests.running.fake_backend import FakeBackend, Step
from tests.running.test_executor_policy import World, held, play


class RemoteFake(FakeBackend):
    uses_local_slot = False  # as a Dask executor's backend


def test_remote_runs_take_no_local_slot_and_start_while_the_slots_are_full(
    tmp_path: Path,
) -> None:
    local, remote = FakeBackend(held), RemoteFake(held)

    async def body(w: World) -> None:
        here = [w.submit(w.job(f"here{i}")) for i in range(2)]
        there = [w.submit(w.job(f"there{i}", executor="cluster")) for i in range(3)]
        await wait_until(lambda: len(remote.started) == 3, 5, "the three remote runs")
        # One local slot: the second local run waits; the remote ones pass it.
        assert local.started == here[:1]
        assert w.states(*here, *there) == ["running", "pending", *["running"] * 3]
        assert (w.executor.running_count(), w.executor.pending_count()) == (4, 1)
        for run_id in there:
            remote.release(run_id)
        await wait_until(lambda: w.states(*there) == ["succeeded"] * 3, 5, "remote runs")
        assert local.started == here[:1]  # ending remote runs frees no local slot
        local.release(here[0])
        await wait_until(lambda: local.started == here, 5, "the second local run")
        local.release(here[1])
        await w.executor.wait_idle()
        assert w.executor.running_count() == 0

    play(tmp_path, local, body, remote, max_concurrent_runs=1)


def test_a_remote_start_says_where_and_how_long_ago(tmp_path: Path) -> None:
    class Late(RemoteFake):
        async def run(self, attempt: Any, log: Any, *, on_started: Any, cancelled: Any) -> Any:
            on_started(Started(worker="w7", ago=30.0))  # the news of the start took 30 s to come
            return Step().outcome()

    async def body(w: World) -> None:
        before = datetime.now(UTC)
        before = before.replace(microsecond=before.microsecond // 1000 * 1000)  # as stored
        run_id = w.submit(w.job("there", executor="cluster"))
        await w.executor.wait_idle()
        after = datetime.now(UTC)
        record = w.run(run_id)
        assert (record.state, record.worker) == ("succeeded", "w7")
        assert record.started_at is not None
        assert before - timedelta(seconds=30) <= record.started_at <= after - timedelta(seconds=30)

    play(tmp_path, FakeBackend(), body, Late())
