"""`clockd jobs`, `clockd reload`, `clockd backfill` (dry run, local, -p, the limit) and `clockd
next` with what the daemon stored — against a real daemon and a real database (issue 16)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProcess, read_runs, run_clockd, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"

[jobs.tick]
command = ["sh", "-c", "exit 3"]

[[jobs.tick.clocks]]
name = "fast"
interval = "1s"

[[jobs.tick.clocks]]
name = "later"
cron = "0 6 * * *"

[jobs.daily]
command = ["sh", "-c", "echo day=$0 n=$1; [ $1 -lt 100 ]", "{{ day }}", "{{ n }}"]

[jobs.daily.parameters.day]
type = "date"
default = "{{ scheduled_time.to_date_string() }}"

[jobs.daily.parameters.n]
type = "integer"
default = 1

[[jobs.daily.clocks]]
name = "morning"
cron = "0 6 * * *"
catchup = "none"

[jobs.manual]
command = ["true"]
"""

CLEAN = {"CLOCKD_URL": "", "CLOCKD_API_URL": "", "CLOCKD_TOKEN": "", "CLOCKD_CONFIG": ""}


def clockd(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run_clockd(*args, "-c", str(daemon.config_path), cwd=daemon.tmp, env=CLEAN)


def test_jobs_lists_clocks_with_next_and_last_fire_and_last_state(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, CONFIG) as daemon:
        wait_for_api(daemon)
        wait_until(
            lambda: any(r["state"] == "failed" for r in daemon.runs("clock = 'fast'")),
            15,
            "a failed run of tick/fast",
        )
        assert clockd(daemon, "pause", "tick/later").returncode == 0
        remote = run_clockd(
            "jobs", "--json", "--url", f"127.0.0.1:{daemon.port}", cwd=tmp_path, env=CLEAN
        )
        assert remote.returncode == 0, remote.stderr
        by_clock = {
            (job["name"], clock["name"]): clock
            for job in json.loads(remote.stdout)
            for clock in job["clocks"]
        }
        fast = by_clock[("tick", "fast")]
        assert fast["last_run"]["state"] == "failed"
        assert fast["last_run"]["error"] == "exit code 3"
        assert fast["last_fire"] is not None
        assert fast["next_fire"] > fast["last_fire"]
        later = by_clock[("tick", "later")]
        assert (later["paused"], later["last_run"], later["last_fire"]) == (True, None, None)
        assert later["next_fire"].endswith("T06:00:00+00:00")

        table = clockd(daemon, "jobs")  # the local view, from the config and the database
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == ["NEXT", "LAST", "FIRE", "LAST", "RUN", "JOB/CLOCK"]
        fast_line = next(line for line in lines if "tick/fast" in line)
        assert " failed " in fast_line
        later_line = next(line for line in lines if "tick/later" in line)
        assert later_line.split()[-2:] == ["tick/later", "paused"]
        assert lines[-1].split() == ["-", "-", "-", "manual", "triggered", "only"]
        assert "\x1b[" not in table.stdout  # no colour in a pipe


def test_reload_applies_a_good_config_and_refuses_a_bad_one(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, CONFIG.replace('interval = "1s"', 'interval = "1h"')) as daemon:
        wait_for_api(daemon)
        text = daemon.config_path.read_text()
        daemon.config_path.write_text(text + '\n[jobs.added]\ncommand = ["true"]\n')
        done = clockd(daemon, "reload")
        assert (done.returncode, done.stdout) == (0, "reloaded: 4 jobs, 3 clocks\n")
        api = f"http://127.0.0.1:{daemon.port}/api/v1"
        assert "added" in {job["name"] for job in httpx.get(f"{api}/jobs").json()["jobs"]}

        daemon.config_path.write_text(text.replace("[jobs.manual]", "[jobs.manual]\nretires = 1"))
        refused = clockd(daemon, "reload")
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            "clockd: the new config is refused; the old schedule keeps running",
            f"  {daemon.config_path}: jobs.manual: unknown key 'retires' (did you mean 'retries'?)",
        ]
        answer = httpx.post(f"{api}/reload")
        assert answer.status_code == 422
        assert answer.json()["details"] == [
            {
                "message": f"{daemon.config_path}: jobs.manual: unknown key 'retires' "
                "(did you mean 'retries'?)"
            }
        ]
        assert "added" in {job["name"] for job in httpx.get(f"{api}/jobs").json()["jobs"]}


def test_backfill_dry_run_needs_no_daemon_and_takes_p(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, CONFIG)  # written, never started
    done = clockd(
        daemon, "backfill", "daily", "--clock", "morning", "--from", "2026-03-01",
        "--to", "2026-03-02", "--dry-run", "--json", "-p", "n=5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [(f["time"], f["parameters"]) for f in plan["fires"]] == [
        ("2026-03-01T06:00:00+00:00", {"day": "2026-03-01", "n": 5}),
        ("2026-03-02T06:00:00+00:00", {"day": "2026-03-02", "n": 5}),
    ]
    assert not daemon.database.exists(), "a dry run writes nothing"
    unreachable = clockd(
        daemon, "backfill", "daily", "--clock", "morning", "--from", "2026-03-01",
        "--to", "2026-03-02",
    )  # fmt: skip
    assert unreachable.returncode == 1
    assert "did not answer: start it, or use --local" in unreachable.stderr


def test_backfill_local_runs_the_fires_here_once_each(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, CONFIG)  # never started: the fires run in the CLI
    args = ("backfill", "daily", "--clock", "morning", "--from", "2026-03-01", "--to")
    first = clockd(daemon, *args, "2026-03-03", "--local", "--concurrency", "2", "-p", "n=7")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "3 runs created, 0 skipped (already had a run)"
    second = clockd(daemon, *args, "2026-03-04", "--local", "-p", "n=700")
    assert second.returncode == 1  # the new run failed (n >= 100)
    assert second.stdout.splitlines()[-1] == "1 run created, 3 skipped (already had a run)"
    assert "(2026-03-04T06:00:00+00:00) failed: exit code 1" in second.stderr
    rows = read_runs(daemon.database)
    assert [(r["scheduled_time"][:10], r["parameters"]["n"], r["state"]) for r in rows] == [
        ("2026-03-01", 7, "succeeded"),
        ("2026-03-02", 7, "succeeded"),
        ("2026-03-03", 7, "succeeded"),
        ("2026-03-04", 700, "failed"),
    ]
    assert {r["trigger"] for r in rows} == {"backfill"}
    assert {r["daemon"] for r in rows} == {f"cli@{__import__('socket').gethostname()}"}


def test_backfill_past_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, CONFIG)
    done = clockd(
        daemon, "backfill", "daily", "--clock", "morning", "--from", "1990-01-01",
        "--to", "2026-01-01", "--dry-run",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "clockd: backfill of about 13,000 fires refused: at most 10,000 a backfill; "
        "narrow the range or split it"
    )


def test_next_agrees_with_the_daemons_anchor_and_marks_paused_clocks(tmp_path: Path) -> None:
    config = CONFIG.replace('interval = "1s"', 'interval = "1h"')
    with DaemonProcess(tmp_path, config) as daemon:
        wait_for_api(daemon)
        assert clockd(daemon, "pause", "tick/later").returncode == 0
        api = httpx.get(f"http://127.0.0.1:{daemon.port}/api/v1/jobs/tick").json()
        planned = {clock["name"]: clock["next_fire"] for clock in api["clocks"]}
    time.sleep(1.1)  # a second later: `next` anchored at its own now would differ
    done = clockd(daemon, "next", "tick", "-n", "2", "--json")
    assert done.returncode == 0, done.stderr
    fires = json.loads(done.stdout)
    fast = [f for f in fires if f["clock"] == "fast"]
    assert fast[0]["time"] == planned["fast"]
    assert "no start" not in done.stderr
    table = clockd(daemon, "next", "tick", "--clock", "later", "-n", "1")
    assert "later (paused)" in table.stdout
    assert "clock 'later' is paused" in table.stderr
    assert [f.get("paused") for f in json.loads(
        clockd(daemon, "next", "tick", "--clock", "later", "-n", "1", "--json").stdout
    )] == [True]  # fmt: skip
