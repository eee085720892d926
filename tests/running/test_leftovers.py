"""Killing what a dead owner's runs left, with real processes: the recorded group while its
leader is still the same process, and every process carrying the run's marks; never a pid
that now names someone else."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.models import process_start
from scheduler.running.local.leftovers import kill_leftovers, run_marks
from scheduler.storage.records import NewRun, RunRecord
from tests.helpers import pid_alive, wait_until

# An instance of its own: tests run at the same time elsewhere on this machine have others.
OWNER = f"daemon:host-a:{uuid.uuid4().hex[:12]}"


def record(
    run_id: int, *, owner: str | None = OWNER, pid: int | None = None, pid_start: int | None = None
) -> RunRecord:
    row = NewRun(
        job="j",
        clock=None,
        trigger="api",
        scheduled_time=datetime(2026, 3, 1, tzinfo=UTC),
        parameters={},
        state="running",
        owner=owner,
    ).to_record(run_id)
    row.pid, row.pid_start = pid, pid_start
    return row


class Spawned:
    """Processes a test starts; every one is killed and reaped at the end, whatever happens."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.popens: list[subprocess.Popen[bytes]] = []
        self.pids: list[int] = []

    def start(
        self, script: str, *, marks: tuple[str, int] | None = None
    ) -> subprocess.Popen[bytes]:
        """`sh -c script` in a session of its own (a run's leader), with a run's marks."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCKD_")}
        if marks is not None:
            env |= {"CLOCKD_OWNER": marks[0], "CLOCKD_RUN_ID": str(marks[1])}
        popen = subprocess.Popen(
            ["sh", "-c", script], env=env, cwd=self.tmp_path, start_new_session=True
        )
        self.popens.append(popen)
        self.pids.append(popen.pid)
        return popen

    def pid_from(self, name: str) -> int:
        path = self.tmp_path / name
        wait_until(lambda: path.exists() and path.read_text().strip(), 10, name)
        pid = int(path.read_text())
        self.pids.append(pid)
        return pid

    def close(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for popen in self.popens:
            popen.wait(10)


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[Spawned]:
    processes = Spawned(tmp_path)
    try:
        yield processes
    finally:
        processes.close()


def test_the_recorded_group_and_a_process_that_left_it_are_killed(spawned: Spawned) -> None:
    leader = spawned.start(
        "sleep 300 & echo $! > member; setsid sleep 300 & echo $! > escaped; wait",
        marks=(OWNER, 7),
    )
    member, escaped = spawned.pid_from("member"), spawned.pid_from("escaped")
    wait_until(lambda: os.getsid(escaped) == escaped, 10, "the escapee's own session")
    run = record(7, pid=leader.pid, pid_start=process_start(leader.pid))
    report = kill_leftovers([run])
    assert report.groups == {7: leader.pid}
    assert {leader.pid, member, escaped} <= report.processes[7]
    assert report.survivors == set()
    leader.wait(10)
    for pid in (member, escaped):
        wait_until(lambda pid=pid: not pid_alive(pid), 10, f"process {pid} gone")


def test_a_run_killed_before_its_start_was_stored_is_found_by_its_marks(
    spawned: Spawned,
) -> None:
    leader = spawned.start("sleep 300 & echo $! > child; wait", marks=(OWNER, 8))
    child = spawned.pid_from("child")
    report = kill_leftovers([record(8)])  # pending: no pid recorded
    assert report.groups == {}
    assert report.processes == {8: {leader.pid, child}}
    leader.wait(10)
    wait_until(lambda: not pid_alive(child), 10, "the child gone")


def test_members_of_a_group_whose_leader_is_gone_are_found_by_their_marks(
    spawned: Spawned,
) -> None:
    leader = spawned.start("sleep 300 & echo $! > child; exit 0", marks=(OWNER, 9))
    child = spawned.pid_from("child")
    start = process_start(leader.pid)
    leader.wait(10)  # reaped: only its member holds the group now
    report = kill_leftovers([record(9, pid=leader.pid, pid_start=start)])
    assert report.groups == {}  # no live leader with that start time: no killpg
    assert report.processes == {9: {child}}
    wait_until(lambda: not pid_alive(child), 10, "the child gone")


def test_a_reused_pid_and_another_owners_run_of_the_same_id_are_left_alone(
    spawned: Spawned,
) -> None:
    unrelated = spawned.start("exec sleep 300")
    other = spawned.start("exec sleep 300", marks=(f"daemon:host-a:{uuid.uuid4().hex[:12]}", 10))
    start = process_start(unrelated.pid)
    assert start is not None
    # the row names the unrelated process's pid, with the start time of another process
    run = record(10, pid=unrelated.pid, pid_start=start - 100)
    report = kill_leftovers([run], wait=1)
    assert (report.groups, report.processes, report.survivors) == ({}, {}, set())
    assert pid_alive(unrelated.pid)
    assert pid_alive(other.pid)


def test_marks_are_read_from_the_environment_a_process_started_with(spawned: Spawned) -> None:
    marked = spawned.start("exec sleep 300", marks=(OWNER, 12))
    plain = spawned.start("exec sleep 300")
    wait_until(lambda: run_marks(marked.pid) is not None, 10, "the marked process's exec")
    assert run_marks(marked.pid) == (OWNER, 12)
    assert run_marks(plain.pid) is None
    assert run_marks(1 << 22) is None  # no such process
