"""`clockd serve` end to end: a real subprocess, a real SQLite file, a real notify socket,
1-second clocks. Assertions are on scheduled_time and values, not on wall-clock counts."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.storage.sqlite.store import Store
from tests.helpers import DaemonProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SECOND = timedelta(seconds=1)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def fire_times(
    daemon: DaemonProcess, job: str, clock: str, trigger: str | None = None
) -> list[datetime]:
    where, params = "job = ? AND clock = ?", [job, clock]
    if trigger:
        where += " AND trigger = ?"
        params.append(trigger)
    return sorted(parse(r["scheduled_time"]) for r in daemon.runs(where, tuple(params)))


def states(daemon: DaemonProcess, job: str) -> list[str]:
    return [r["state"] for r in daemon.runs("job = ?", (job,))]


# -- two clocks at the same instant ----------------------------------------------------------

OVERLAP = """
[daemon]
database = "{database}"
listen = ""

[jobs.work]
# start and end timestamps into files named after the run, the value from argv
command = ["sh", "-c", "printf '%s %s' \\"$1\\" \\"$(date +%s.%N)\\" > \\"$2/start-$CLOCKD_RUN_ID\\"; sleep 1; date +%s.%N > \\"$2/end-$CLOCKD_RUN_ID\\"", "sh", "{{ x }}", "OUT"]

[jobs.work.parameters.x]
type = "integer"

[[jobs.work.clocks]]
name = "small"
interval = "2s"
start = "2026-01-01T00:00:00Z"
parameters = { x = 9 }

[[jobs.work.clocks]]
name = "large"
cron = "*/2 * * * * *"
parameters = { x = 99 }
"""


def test_two_clocks_due_together_start_two_overlapping_runs_with_own_values(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with DaemonProcess(tmp_path, OVERLAP.replace("OUT", str(out))) as daemon:

        def a_finished_pair() -> list[tuple[dict, dict]]:
            runs = [r for r in daemon.runs("state = 'succeeded'")]
            by_time: dict[str, list[dict]] = {}
            for run in runs:
                by_time.setdefault(run["scheduled_time"], []).append(run)
            return [
                tuple(sorted(pair, key=lambda r: r["clock"]))
                for pair in by_time.values()
                if len(pair) == 2
            ]

        large, small = wait_until(
            a_finished_pair, 15, "both clocks' runs of one instant to succeed"
        )[0]
    assert (large["clock"], small["clock"]) == ("large", "small")
    assert large["parameters"] == {"x": 99}
    assert small["parameters"] == {"x": 9}
    assert large["trigger"] == small["trigger"] == "clock"
    spans = {}
    for run in (large, small):
        value, started = (out / f"start-{run['id']}").read_text().split()
        ended = float((out / f"end-{run['id']}").read_text())
        spans[int(value)] = (float(started), ended)
    assert set(spans) == {9, 99}  # each run got its own clock's value in argv
    (start_a, end_a), (start_b, end_b) = spans.values()
    assert max(start_a, start_b) < min(end_a, end_b), f"runs did not overlap: {spans}"


# -- crash and restart -----------------------------------------------------------------------

CRASH = """
[daemon]
database = "{database}"
listen = ""

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "second"
interval = "1s"
start = "2026-01-01T00:00:00Z"
catchup = "POLICY"

[jobs.slow]
command = ["sh", "-c", "echo $$ > PIDFILE; exec sleep 60"]

[[jobs.slow.clocks]]
name = "once"
at = ["AT"]
catchup = "none"
"""


@pytest.mark.parametrize("policy", ["latest", "all", "none"])
def test_kill_9_mid_run_then_restart_marks_crashed_and_catches_up_by_policy(
    tmp_path: Path, policy: str
) -> None:
    pidfile = tmp_path / "slow.pid"
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    config = (
        CRASH.replace("POLICY", policy)
        .replace("PIDFILE", str(pidfile))
        .replace("AT", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    )
    daemon = DaemonProcess(tmp_path, config)
    try:
        with daemon:
            wait_until(
                lambda: "running" in states(daemon, "slow"), 15, "the slow run to be running"
            )
            wait_until(lambda: len(fire_times(daemon, "tick", "second")) >= 2, 10, "two ticks")
            daemon.signal(signal.SIGKILL)  # the daemon only: the run's own process group survives
            daemon.wait(10)
            before = fire_times(daemon, "tick", "second")
            last = max(before)
            # down for at least 3 whole fires
            wait_until(lambda: datetime.now(UTC) >= last + 4 * SECOND, 10, "three fires missed")
            daemon.start()
            slow = wait_until(
                lambda: [r for r in daemon.runs("job = 'slow'") if r["state"] == "crashed"],
                10,
                "crashed run",
            )
            assert "daemon" in slow[0]["error"]
            wait_until(
                lambda: len(fire_times(daemon, "tick", "second", "clock")) > len(before) + 1,
                10,
                "scheduled fires after the restart",
            )
            catchup = fire_times(daemon, "tick", "second", "catchup")
            after = [t for t in fire_times(daemon, "tick", "second", "clock") if t > last]
            first_after = min(after)
            missed = []
            moment = last + SECOND
            while moment < first_after:
                missed.append(moment)
                moment += SECOND
            assert len(missed) >= 3
            if policy == "latest":
                # only the most recent missed fire, with its own scheduled time
                assert catchup == [missed[-1]]
            elif policy == "all":
                assert catchup == missed  # each missed fire, in order, none twice
            else:
                assert catchup == []
            # the slow clock's single date fired once, and was not caught up
            assert len(daemon.runs("job = 'slow'")) == 1

            # a second crash and restart: still one run per fire, ever
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            daemon.start()
            count = len(daemon.runs())
            wait_until(lambda: len(daemon.runs()) > count + 1, 10, "fires after the second restart")
        conn = sqlite3.connect(daemon.database)
        duplicates = conn.execute(
            "SELECT job, clock, scheduled_time, COUNT(*) FROM runs "
            "WHERE trigger IN ('clock', 'catchup', 'backfill') GROUP BY 1, 2, 3 HAVING COUNT(*) > 1"
        ).fetchall()
        conn.close()
        assert duplicates == []
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)


# -- reload ----------------------------------------------------------------------------------

RELOAD = """
[daemon]
database = "{database}"
listen = ""

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "a"
interval = "1s"
start = "2026-01-01T00:00:00Z"

[[jobs.tick.clocks]]
name = "b"
interval = "1s"
start = "2026-01-01T00:00:00Z"
"""


def test_sighup_with_an_invalid_config_keeps_the_old_schedule(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, RELOAD) as daemon:
        wait_until(lambda: fire_times(daemon, "tick", "a"), 10, "a first fire")
        daemon.config_path.write_text(
            daemon.config_path.read_text()
            .replace('command = ["true"]', 'command = ["true"]\nretires = 2')
            .replace('interval = "1s"', 'interval = "soon"', 1)
        )
        daemon.signal(signal.SIGHUP)
        wait_until(
            lambda: len(daemon.notify.having("READY", "1")) >= 2, 10, "READY=1 after the reload"
        )
        refused = datetime.now(UTC)
        log = daemon.log()
        assert "retires" in log  # every problem is logged...
        assert "soon" in log
        assert "reload refused" in log
        for clock in ("a", "b"):  # ...and both old clocks keep firing
            wait_until(
                lambda clock=clock: [
                    t for t in fire_times(daemon, "tick", clock) if t > refused + SECOND
                ],
                10,
                f"clock {clock} firing after the refused reload",
            )
        assert not daemon.exited()


def test_sighup_with_a_valid_config_adds_and_removes_clocks(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, RELOAD) as daemon:
        wait_until(lambda: fire_times(daemon, "tick", "b"), 10, "b firing")
        daemon.config_path.write_text(
            daemon.config_path.read_text().replace('name = "b"', 'name = "c"')
        )
        daemon.signal(signal.SIGHUP)
        wait_until(
            lambda: len(daemon.notify.having("READY", "1")) >= 2, 10, "READY=1 after the reload"
        )
        reloaded = datetime.now(UTC).replace(microsecond=0)
        wait_until(
            lambda: len(fire_times(daemon, "tick", "c")) >= 2, 10, "the added clock c firing"
        )
        wait_until(
            lambda: [t for t in fire_times(daemon, "tick", "a") if t > reloaded + SECOND],
            10,
            "a still firing",
        )
        assert [t for t in fire_times(daemon, "tick", "b") if t > reloaded] == []
        assert min(fire_times(daemon, "tick", "c")) >= reloaded  # no catch-up for a new clock


# -- stop ------------------------------------------------------------------------------------

STOP = """
[daemon]
database = "{database}"
listen = ""
shutdown_grace = "1s"

[jobs.slow]
command = ["sleep", "60"]

[[jobs.slow.clocks]]
name = "once"
at = ["AT"]
"""


def test_sigterm_cancels_a_running_run_after_the_grace_and_exits_0(tmp_path: Path) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with DaemonProcess(tmp_path, STOP.replace("AT", at)) as daemon:
        wait_until(lambda: "running" in states(daemon, "slow"), 10, "the run to be running")
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        took = time.monotonic() - started
        assert daemon.notify.having("STOPPING", "1")
    assert states(daemon, "slow") == ["cancelled"]
    assert 0.9 <= took < 10, took


# -- config errors ---------------------------------------------------------------------------

INVALID = """
[daemon]
database = "{database}"
listen = ""

[jobs.tick]
command = ["true"]
retires = 3

[[jobs.tick.clocks]]
cron = "61 * * * *"
"""


def test_invalid_config_exits_78_listing_every_problem(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, INVALID, wait_ready=False)
    with daemon:
        assert daemon.wait(20) == 78
    log = daemon.log()
    assert "retires" in log
    assert "61" in log
    assert "Traceback" not in log
    assert daemon.notify.having("READY") == []


def test_non_loopback_listen_without_token_exits_78(tmp_path: Path) -> None:
    config = RELOAD.replace('listen = ""', 'listen = "0.0.0.0:{port}"')
    daemon = DaemonProcess(tmp_path, config, wait_ready=False)
    with daemon:
        assert daemon.wait(20) == 78
    assert "token" in daemon.log()


# -- parameters: verbatim argv and secrets ---------------------------------------------------

PARAMS = """
[daemon]
database = "{database}"
listen = ""

[jobs.echo]
command = ["sh", "-c", "printf %s \\"$1\\" > OUT/argv; printf %s \\"$CLOCKD_PARAM_TOKEN\\" > OUT/token", "sh", "{{ text }}"]

[jobs.echo.parameters.text]
type = "string"

[jobs.echo.parameters.token]
type = "string"
secret = true
default = "env:E2E_SECRET_TOKEN"

[[jobs.echo.clocks]]
name = "once"
interval = "1s"
start = "2026-01-01T00:00:00Z"
parameters = { text = "$(touch PWNED) `touch PWNED`; touch PWNED" }
"""


def test_parameters_arrive_verbatim_and_secrets_never_reach_the_database(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    secret = "s3cr3t-e2e-7f1d9a"
    config = PARAMS.replace("OUT", str(out)).replace("PWNED", str(tmp_path / "pwned"))
    with DaemonProcess(tmp_path, config, env={"E2E_SECRET_TOKEN": secret}) as daemon:
        wait_until(lambda: "succeeded" in states(daemon, "echo"), 10, "a succeeded run")
        record = daemon.runs("state = 'succeeded'")[0]
    pwned = tmp_path / "pwned"
    assert (out / "argv").read_text() == f"$(touch {pwned}) `touch {pwned}`; touch {pwned}"
    assert not pwned.exists()
    assert (out / "token").read_text() == secret  # resolved in the run's process only
    assert record["parameters"]["token"] == "***"
    for path in tmp_path.glob("clockd.db*"):
        assert secret.encode() not in path.read_bytes(), path.name
    assert secret not in daemon.log()


# -- pause from the store (what `clockd pause` writes) ---------------------------------------


def test_a_pause_written_to_the_store_is_honoured_within_a_second(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, RELOAD) as daemon:
        wait_until(lambda: fire_times(daemon, "tick", "a"), 10, "a firing")
        with Store.open(daemon.database) as store:
            store.set_paused("tick", "a", True)
        paused = datetime.now(UTC)
        wait_until(
            lambda: [t for t in fire_times(daemon, "tick", "b") if t > paused + 2 * SECOND],
            10,
            "b firing two seconds later",
        )
        assert [t for t in fire_times(daemon, "tick", "a") if t > paused + 2 * SECOND] == []
        with Store.open(daemon.database) as store:
            store.set_paused("tick", "a", False)
        resumed = datetime.now(UTC)
        wait_until(
            lambda: [t for t in fire_times(daemon, "tick", "a") if t > resumed + SECOND],
            10,
            "a firing again",
        )


def test_json_log_format_writes_one_object_per_line(tmp_path: Path) -> None:
    import json

    config = RELOAD.replace('listen = ""', 'listen = ""\nlog_format = "json"')
    with DaemonProcess(tmp_path, config) as daemon:
        wait_until(lambda: fire_times(daemon, "tick", "a"), 10, "a fire")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
    entries = [json.loads(line) for line in daemon.log().splitlines() if line.strip()]
    messages = [e["message"] for e in entries]
    assert any(m.startswith("started jobs=1 clocks=2") for m in messages)
    assert any(m.startswith("run started job=tick clock=a trigger=clock") for m in messages)
    assert {e["level"] for e in entries} <= {"debug", "info", "warning", "error"}


def test_many_concurrent_runs_fit_under_a_low_open_files_limit(tmp_path: Path) -> None:
    # systemd starts services with a soft limit of 1024 descriptors; here 200, for 100 runs
    # that each hold three while they run. The daemon raises its soft limit as far as needed.
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    clocks = "\n".join(
        f'[[jobs.wait.clocks]]\nname = "c{i}"\nat = ["{at:%Y-%m-%dT%H:%M:%SZ}"]\n'
        for i in range(100)
    )
    config = f"""
[daemon]
database = "{{database}}"
listen = ""
max_concurrent_runs = 100

[jobs.wait]
command = ["sleep", "1.5"]

{clocks}
"""
    with DaemonProcess(tmp_path, config, open_files=200) as daemon:
        wait_until(
            lambda: len(daemon.runs("state NOT IN ('pending', 'running')")) == 100,
            30,
            "100 runs ended",
        )
        ended = daemon.runs()
        assert {r["state"] for r in ended} == {"succeeded"}, {r["error"] for r in ended}
        starts = sorted(parse(r["started_at"]) for r in ended)
        ends = sorted(parse(r["ended_at"]) for r in ended)
        assert starts[-1] < ends[0]  # all 100 were running at once
        assert "raised the open files limit from 200 to 556 for max_concurrent_runs=100" in (
            daemon.log()
        )
