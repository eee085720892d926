"""Every run records the daemon that ran it (spec 3, 8: `daemon`), and who owns its process
(spec 7): a daemon instance, or the `clockd run` process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProcess, read_runs, run_clockd, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
NAME

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "every"
cron = "* * * * * *"
"""


def test_a_daemon_records_its_name_on_fires_and_api_runs(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, CONFIG.replace("NAME", 'name = "host-a"')) as daemon:
        wait_until(lambda: daemon.runs("trigger = 'clock'"), 10, "a fire")
        created = httpx.post(f"http://127.0.0.1:{daemon.port}/api/v1/jobs/tick/runs", json={})
        assert created.status_code == 201
        assert created.json()["daemon"] == "host-a"
        fire = daemon.runs("trigger = 'clock'")[0]
        assert fire["daemon"] == "host-a"
        assert fire["owner"].startswith("daemon:host-a:")
        api_run = daemon.runs("id = ?", (created.json()["id"],))[0]
        assert api_run["owner"] == fire["owner"]  # one instance


def test_the_environment_names_the_daemon_when_the_config_does_not(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path, CONFIG.replace("NAME", ""), env={"CLOCKD_NAME": "host-b"})
    with daemon:
        wait_until(lambda: daemon.runs("trigger = 'clock'"), 10, "a fire")
        assert daemon.runs("trigger = 'clock'")[0]["daemon"] == "host-b"


def test_clockd_run_records_itself_as_the_owner(tmp_path: Path) -> None:
    config = tmp_path / "clockd.toml"
    config.write_text(
        CONFIG.replace("{database}", str(tmp_path / "clockd.db"))
        .replace("{port}", "0")
        .replace('listen = "127.0.0.1:0"', 'listen = ""')
        .replace("NAME", "")
    )
    done = run_clockd("run", "tick", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [row] = read_runs(tmp_path / "clockd.db")
    host = socket.gethostname()
    assert row["daemon"] == f"cli@{host}"
    assert row["owner"].startswith(f"cli:{host}:")
    assert row["owner"].split(":")[2] != str(os.getpid())  # the command's own process
