"""Nothing a run started outlives it (spec 3, 7; issue 12, finding 5), with a real `clockd
serve`: kill -9 of the daemon mid-run, a restart that kills what the dead instance's runs
left and retries them, a reused pid left alone, a `clockd run` judged by its own owner, and
what a run leaves behind when it ends normally."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.models import process_start
from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import Store
from tests.helpers import DaemonProcess, clockd_argv, pid_alive, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def soon(seconds: int = 2) -> str:
    moment = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_log(database: Path, run_id: int) -> list[str]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT text FROM run_logs WHERE run_id = ? ORDER BY seq", (run_id,))
        return [row[0] for row in rows]
    finally:
        conn.close()


def pids_in(folder: Path, prefix: str) -> list[int]:
    return [
        int(path.read_text()) for path in sorted(folder.glob(f"{prefix}-*")) if path.read_text()
    ]


@pytest.fixture
def leftover_pids() -> Iterator[list[int]]:
    """Pids a test saw; whatever is left of them is killed at the end, pass or fail."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# Attempt 1 starts a grandchild in its group and one that leaves it (setsid), then waits;
# attempt 2 (a marker file says so) ends at once.
CRASH = """
[daemon]
database = "{database}"
listen = ""

[jobs.slow]
command = ["sh", "-c", "D=OUT; if [ -e $D/ran-$CLOCKD_RUN_ID ]; then echo attempt two; exit 0; fi; touch $D/ran-$CLOCKD_RUN_ID; sleep 304 & echo $! > $D/child-$CLOCKD_RUN_ID; setsid sleep 305 >/dev/null 2>&1 & echo $! > $D/escaped-$CLOCKD_RUN_ID; echo $$ > $D/leader-$CLOCKD_RUN_ID; wait"]
retries = 1
retry_delay = "1s"

[[jobs.slow.clocks]]
name = "a"
at = ["AT"]

[[jobs.slow.clocks]]
name = "b"
at = ["AT"]
"""


def test_kill_9_then_restart_kills_the_old_groups_and_retries_the_runs_as_attempt_2(
    tmp_path: Path, leftover_pids: list[int]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    daemon = DaemonProcess(tmp_path, CRASH.replace("OUT", str(out)).replace("AT", soon()))
    with daemon:
        wait_until(lambda: len(pids_in(out, "leader")) == 2, 15, "both runs' processes")
        leftover_pids.extend(
            pids_in(out, "leader") + pids_in(out, "child") + pids_in(out, "escaped")
        )
        wait_until(
            lambda: len(daemon.runs("state = 'running' AND pid IS NOT NULL")) == 2,
            10,
            "both runs recorded running with their process group",
        )
        daemon.signal(signal.SIGKILL)  # the daemon only: the runs' groups stay
        daemon.wait(10)
        processes = pids_in(out, "leader") + pids_in(out, "child") + pids_in(out, "escaped")
        leftover_pids.extend(processes)
        assert len(processes) == 6
        assert all(pid_alive(pid) for pid in processes)  # what issue 12 found: orphans
        rows = daemon.runs()
        assert sorted(r["pid"] for r in rows) == sorted(pids_in(out, "leader"))

        daemon.start()
        # before READY=1: every old process is gone, the escaped ones too
        assert [pid for pid in processes if pid_alive(pid)] == []
        wait_until(
            lambda: [r["state"] for r in daemon.runs()] == ["succeeded", "succeeded"],
            15,
            "both runs retried and succeeded",
        )
        for row in daemon.runs():
            assert (row["attempt"], row["error"]) == (2, None)
            assert run_log(daemon.database, row["id"])[-3:] == [
                "[clockd: attempt 1 of 2 crashed: the daemon stopped while this run was "
                f"running; retrying on {socket.gethostname()} as attempt 2 in 1s]",
                "[clockd: attempt 2 of 2]",
                "attempt two",
            ]
        log = daemon.log()
        assert (
            "runs left unfinished by a dead owner marked crashed run_ids=[1, 2] retried=[1, 2]"
            in log
        )
        assert "killed processes left by a dead owner's runs" in log


def test_a_recorded_pid_that_now_names_an_unrelated_process_is_not_killed(
    tmp_path: Path, leftover_pids: list[int]
) -> None:
    config = """
    [daemon]
    database = "{database}"
    listen = ""

    [jobs.j]
    command = ["true"]
    retries = 1
    retry_delay = "1s"
    """
    daemon = DaemonProcess(tmp_path, config)
    unrelated = subprocess.Popen(["sleep", "300"], start_new_session=True)
    leftover_pids.append(unrelated.pid)
    try:
        start = process_start(unrelated.pid)
        assert start is not None
        store = Store.open(str(daemon.database))
        run_id = store.create_run(
            NewRun(
                job="j",
                clock=None,
                trigger="api",
                scheduled_time=datetime.now(UTC).replace(microsecond=0),
                parameters={},
                owner="daemon:old:0123456789ab",
            )
        )
        # the dead instance's leader had this pid, but started at another time
        fields = {"state": "running", "attempt": 1, "pid": unrelated.pid, "pid_start": start - 9}
        store.update_runs([(run_id, fields)])
        store.close()
        with daemon:
            # crashed at start; its process is gone (it was not that one): retried
            wait_until(lambda: daemon.runs()[0]["state"] == "succeeded", 10, "the retry")
            assert daemon.runs()[0]["attempt"] == 2
            assert pid_alive(unrelated.pid)
            assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait(10)


CLI = """
[daemon]
database = "{database}"
listen = ""

[jobs.slow]
command = ["sh", "-c", "echo $$ > OUT/cli-leader; sleep 306 & echo $! > OUT/cli-child; wait"]
retries = 1
"""


def test_a_clockd_run_is_judged_by_its_own_owner(tmp_path: Path, leftover_pids: list[int]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    daemon = DaemonProcess(tmp_path, CLI.replace("OUT", str(out)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCKD_")}
    cli = subprocess.Popen(
        [*clockd_argv(), "run", "slow", "-c", str(daemon.config_path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    leftover_pids.append(cli.pid)
    try:
        wait_until(lambda: len(pids_in(out, "cli")) == 2, 15, "the run's processes")
        leader, child = int((out / "cli-leader").read_text()), int((out / "cli-child").read_text())
        leftover_pids.extend([leader, child])
        wait_until(lambda: daemon.runs("state = 'running'"), 10, "the run recorded running")
        with daemon:  # a daemon starts while the `clockd run` lives: its run is not the daemon's
            [row] = daemon.runs()
            assert row["state"] == "running"
            assert row["owner"].startswith("cli:")
            assert pid_alive(leader)
            assert pid_alive(child)
        assert cli.poll() is None
        cli.send_signal(signal.SIGKILL)  # the command dies; its run's group does not
        cli.wait(10)
        assert pid_alive(leader)
        assert pid_alive(child)
        with daemon:  # now its owner is known gone: killed and crashed, not retried
            assert not pid_alive(leader)
            assert not pid_alive(child)
            [row] = daemon.runs()
            assert (row["state"], row["attempt"]) == ("crashed", 1)
            assert row["owner"].startswith("cli:")
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.wait(10)


ENDED = """
[daemon]
database = "{database}"
listen = ""

[jobs.background]
command = ["sh", "-c", "sleep 301 >/dev/null 2>&1 & echo $!; exit 0"]

[[jobs.background.clocks]]
name = "once"
at = ["AT"]

[jobs.escaping]
# the leader waits until the escapee has its own session (field 6 of its stat), then exits
command = ["sh", "-c", "setsid sleep 307 >/dev/null 2>&1 & p=$!; until [ $(cut -d' ' -f6 /proc/$p/stat) = $p ]; do sleep 0.01; done; echo $p; exit 0"]

[[jobs.escaping.clocks]]
name = "once"
at = ["AT"]
"""


def test_what_a_run_leaves_running_is_killed_when_it_ends(
    tmp_path: Path, leftover_pids: list[int]
) -> None:
    with DaemonProcess(tmp_path, ENDED.replace("AT", soon())) as daemon:
        wait_until(
            lambda: [r["state"] for r in daemon.runs()] == ["succeeded", "succeeded"],
            15,
            "both runs ended",
        )
        left = [int(run_log(daemon.database, row["id"])[0]) for row in daemon.runs()]
        leftover_pids.extend(left)
        # in the group: killed at the end of the run; out of it: by the daemon, a subreaper
        for pid in left:
            wait_until(lambda pid=pid: not pid_alive(pid), 10, f"process {pid} gone")
        assert "killed a process left by a finished run" in daemon.log()
