"""A real `clockd serve` whose SQLite file is locked by another process, or whose disk is
full, for seconds (spec 7): no fire is lost or run twice, every run's end is written once the
store takes writes again, and `/healthz` keeps answering — 503 with the reason meanwhile.

The clock fires every second (`* * * * * *`) with `catchup = "all"`: the fires due while the
store refuses writes must be kept and written later as themselves (trigger "clock"), not
dropped and not left to a catch-up.
"""

from __future__ import annotations

import resource
import signal
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import DaemonProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"

[jobs.tick]
command = ["sh", "-c", "echo tick $CLOCKD_SCHEDULED_TIME"]

[[jobs.tick.clocks]]
name = "every"
cron = "* * * * * *"
catchup = "all"
"""

OUTAGE = 5.0  # seconds the store refuses writes


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def health(daemon: DaemonProcess) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{daemon.port}/healthz", timeout=5)
    return response.status_code, response.json(), time.monotonic() - started


def store_check(body: dict[str, Any]) -> dict[str, Any]:
    return next(check for check in body["checks"] if check["check"] == "store")


def assert_every_second_ran_once(daemon: DaemonProcess, start: datetime, end: datetime) -> None:
    runs = daemon.runs("job = 'tick'")
    times = Counter(parse(r["scheduled_time"]) for r in runs)
    assert [t for t, n in times.items() if n > 1] == []
    expected = []
    moment = start
    while moment <= end:
        expected.append(moment)
        moment += timedelta(seconds=1)
    assert [t for t in expected if t not in times] == []
    window = [r for r in runs if start <= parse(r["scheduled_time"]) <= end]
    # kept and written late as themselves, never through catch-up
    assert {r["trigger"] for r in window} == {"clock"}


def wait_settled(daemon: DaemonProcess, until: datetime) -> None:
    """Until every run up to `until` exists and none is left pending or running."""

    def settled() -> bool:
        runs = daemon.runs("job = 'tick'")
        latest = max((parse(r["scheduled_time"]) for r in runs), default=None)
        unfinished = [r for r in runs if r["state"] in ("pending", "running")]
        return (
            latest is not None
            and latest >= until + timedelta(seconds=2)
            and not [r for r in unfinished if parse(r["scheduled_time"]) <= until]
        )

    wait_until(settled, 30, f"every run up to {until} written and finished")


def test_a_locked_database_loses_no_fire_and_healthz_answers_503_meanwhile(
    tmp_path: Path,
) -> None:
    with DaemonProcess(tmp_path, CONFIG) as daemon:
        wait_until(lambda: len(daemon.runs()) >= 2, 10, "the first fires")
        locker = sqlite3.connect(daemon.database, isolation_level=None, timeout=10)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            locked_at = datetime.now(UTC)
            answers = []
            while (datetime.now(UTC) - locked_at).total_seconds() < OUTAGE:
                answers.append(health(daemon))
                time.sleep(0.25)
            locker.execute("ROLLBACK")
            unlocked_at = datetime.now(UTC)
        finally:
            locker.close()
        failing = [(status, body) for status, body, _ in answers if status == 503]
        assert failing, [status for status, _, _ in answers]
        assert "locked" in store_check(failing[-1][1])["detail"]
        # a stalled loop would take the busy timeout or more; it answered at once each time
        assert max(seconds for _, _, seconds in answers) < 1.0
        first = locked_at.replace(microsecond=0) + timedelta(seconds=1)
        last = unlocked_at.replace(microsecond=0)
        wait_settled(daemon, last)
        assert_every_second_ran_once(daemon, first, last)
        assert {r["state"] for r in daemon.runs("job = 'tick'")} <= {
            "succeeded",
            "pending",
            "running",
        }
        wait_until(lambda: health(daemon)[0] == 200, 10, "/healthz 200 again")
        log = daemon.log()
        assert "store writes failing" in log
        assert "store writes recovered" in log


def test_a_full_disk_loses_no_fire_and_every_run_end_is_written_once_it_has_room(
    tmp_path: Path,
) -> None:
    # The daemon may not grow any file past one byte: every write of SQLite fails, as on a
    # full disk, until the limit is lifted again (prlimit on the running process).
    with DaemonProcess(tmp_path, CONFIG) as daemon:
        assert daemon.process is not None
        pid = daemon.process.pid
        wait_until(lambda: len(daemon.runs()) >= 2, 10, "the first fires")
        unlimited = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, unlimited[1]))
        full_at = datetime.now(UTC)
        try:
            wait_until(lambda: health(daemon)[0] == 503, 10, "/healthz to say the store fails")
            time.sleep(OUTAGE)
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
        room_at = datetime.now(UTC)
        first = full_at.replace(microsecond=0) + timedelta(seconds=1)
        last = room_at.replace(microsecond=0)
        wait_settled(daemon, last)
        assert_every_second_ran_once(daemon, first, last)
        window = [
            r for r in daemon.runs("job = 'tick'") if first <= parse(r["scheduled_time"]) <= last
        ]
        assert {r["state"] for r in window} == {"succeeded"}
        wait_until(lambda: health(daemon)[0] == 200, 10, "/healthz 200 again")


def test_a_daemon_killed_while_the_store_is_locked_and_restarted_before_it_is_free_loses_no_fire(
    tmp_path: Path,
) -> None:
    """Fires kept in memory while the store refused them die with the daemon; their clock's
    last fire never moved past them, so the restart catches them up (`all`), and keeps what
    comes due meanwhile, until the store takes writes again: each second still runs once."""
    daemon = DaemonProcess(tmp_path, CONFIG)
    with daemon:
        wait_until(lambda: len(daemon.runs()) >= 2, 10, "the first fires")
        locker = sqlite3.connect(daemon.database, isolation_level=None, timeout=10)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            locked_at = datetime.now(UTC)
            wait_until(lambda: health(daemon)[0] == 503, 10, "/healthz to say the store fails")
            time.sleep(1.5)
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            daemon.wait_ready = False
            daemon.start()

            # it starts (a start with runs to crash waits for the store, one without does
            # not) while the store still refuses writes
            def met_the_lock() -> bool:
                log = daemon.log()
                second = log.split("clockd.daemon: started jobs=")[2:]
                waiting = "waiting for the database before starting" in log
                return waiting or bool(second and "store writes failing" in second[0])

            wait_until(met_the_lock, 15, "the restarted daemon to meet the locked store")
            time.sleep(1.5)
            locker.execute("ROLLBACK")
            unlocked_at = datetime.now(UTC)
        finally:
            locker.close()
        assert daemon.notify is not None
        wait_until(lambda: daemon.notify.having("READY", "1"), 20, "READY=1 after the lock")  # type: ignore[union-attr]
        first = locked_at.replace(microsecond=0) + timedelta(seconds=1)
        last = unlocked_at.replace(microsecond=0)
        wait_settled(daemon, last)
        runs = daemon.runs("job = 'tick'")
        times = Counter(parse(r["scheduled_time"]) for r in runs)
        assert [t for t, n in times.items() if n > 1] == []
        expected = [
            first + timedelta(seconds=k) for k in range(int((last - first).total_seconds()) + 1)
        ]
        assert [t for t in expected if t not in times] == []
        window = [r for r in runs if first <= parse(r["scheduled_time"]) <= last]
        assert "catchup" in {r["trigger"] for r in window}  # what the dead daemon held
        assert not [
            r
            for r in runs
            if r["state"] in ("pending", "running") and parse(r["scheduled_time"]) <= last
        ]
