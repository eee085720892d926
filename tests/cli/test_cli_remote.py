"""The CLI against a real daemon, as an operator uses it day to day (issue 16): history through
the API with no config, tokens from a file or the environment, outcomes in words, cancel of
an ended run, Ctrl-C on `trigger --watch`, every parameter problem at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DaemonProcess, clockd_argv, run_clockd, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
token_file = "token"

[jobs.echo]
command = ["sh", "-c", "echo hello $0", "{{ who }}"]

[jobs.echo.parameters.who]
type = "string"

[jobs.missing]
command = ["no-such-program-of-clockd"]

[jobs.slow]
command = ["sh", "-c", "echo started; sleep 30"]

[jobs.report]
command = ["echo", "{{ x }}", "{{ day }}"]

[jobs.report.parameters.x]
type = "integer"
minimum = 0

[jobs.report.parameters.day]
type = "date"

[jobs.report.parameters.size]
type = "integer"
"""

CLEAN = {
    "CLOCKD_API_URL": "",
    "CLOCKD_TOKEN": "",
    "CLOCKD_TOKEN_FILE": "",
    "CLOCKD_URL": "",
    "CLOCKD_RUN_ID": "",
    "CLOCKD_CONFIG": "",
    "NO_COLOR": "",
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("remote")
    (tmp / "token").write_text("remote-token\n")
    with DaemonProcess(tmp, CONFIG) as process:
        yield wait_for_api(process)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder with no config in it: what the remote commands run from."""
    return tmp_path


def with_config(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run_clockd(*args, "-c", str(daemon.config_path), cwd=daemon.tmp, env=CLEAN)


def remote(
    daemon: DaemonProcess, where: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**CLEAN, "CLOCKD_URL": f"http://127.0.0.1:{daemon.port}", **(env or {})}
    return run_clockd(*args, cwd=where, env=environment)


def trigger(daemon: DaemonProcess, *args: str) -> int:
    done = with_config(daemon, "trigger", *args)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.splitlines()[0])


def test_watch_of_a_run_that_cannot_start_prints_why(daemon: DaemonProcess) -> None:
    done = with_config(daemon, "trigger", "missing", "--watch")
    assert done.returncode == 1
    run_id = int(done.stdout.splitlines()[0])
    assert (
        f"run {run_id} failed: cannot start 'no-such-program-of-clockd': "
        "No such file or directory" in done.stderr
    )


def test_trigger_reports_every_parameter_problem(daemon: DaemonProcess) -> None:
    done = with_config(daemon, "trigger", "report", "-p", "x=-3", "-p", "day=yesterday")
    assert done.returncode == 1
    assert done.stderr.splitlines()[1:] == [
        "  parameter 'day': 'yesterday' is not a date (write it like 2026-03-01)",
        "  required parameter 'size' has no value",
        "  parameter 'x': -3 is less than the minimum of 0",
    ]


def test_runs_show_and_logs_read_through_the_api_without_a_config(
    daemon: DaemonProcess, elsewhere: Path
) -> None:
    run_id = trigger(daemon, "echo", "-p", "who=remote", "--watch")
    token = {"CLOCKD_TOKEN_FILE": str(daemon.tmp / "token")}
    listed = remote(daemon, elsewhere, "runs", "--json", "--job", "echo", env=token)
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert records[0]["id"] == run_id
    assert records[0]["parameters"] == {"who": "remote"}
    assert set(records[0]) >= {"id", "job", "clock", "name", "trigger", "state", "daemon"}

    shown = remote(daemon, elsewhere, "show", str(run_id), "--json", env=token)
    assert json.loads(shown.stdout)["state"] == "succeeded"

    log = remote(daemon, elsewhere, "logs", str(run_id), env=token)
    assert log.returncode == 0, log.stderr
    assert [line.split(" ", 2)[1:] for line in log.stdout.splitlines()] == [
        ["stdout", "hello remote"]
    ]
    # The daemon's own lines about this run (no clock: a manual run) show no Python repr.
    mentions = [line for line in daemon.log().splitlines() if f"run_id={run_id}" in line]
    assert any("clock=- " in line for line in mentions), mentions
    assert not [line for line in mentions if "None" in line]


def test_a_token_is_taken_from_every_documented_place(
    daemon: DaemonProcess, elsewhere: Path
) -> None:
    (elsewhere / "my-token").write_text("remote-token\n")
    url = f"http://127.0.0.1:{daemon.port}"
    without = remote(daemon, elsewhere, "runs", "--limit", "1")
    assert without.returncode == 1
    assert "token" in without.stderr
    for extra, env in (
        (["--token-file", str(elsewhere / "my-token")], {}),
        ([], {"CLOCKD_TOKEN_FILE": str(elsewhere / "my-token")}),
        ([], {"CLOCKD_TOKEN": "remote-token"}),
    ):
        done = remote(daemon, elsewhere, "runs", "--limit", "1", "--url", url, *extra, env=env)
        assert done.returncode == 0, (extra, env, done.stderr)


def test_cancel_of_an_ended_run_exits_1_and_says_so(daemon: DaemonProcess) -> None:
    run_id = trigger(daemon, "echo", "-p", "who=done", "--watch")
    done = with_config(daemon, "cancel", str(run_id))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"clockd: run {run_id} has already ended (succeeded): nothing to cancel"
    )


def test_ctrl_c_on_trigger_watch_stops_watching_and_the_run_goes_on(
    daemon: DaemonProcess,
) -> None:
    watcher = subprocess.Popen(
        [*clockd_argv(), "trigger", "slow", "--watch", "-c", str(daemon.config_path)],
        cwd=daemon.tmp,
        env={**os.environ, **CLEAN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        run_id = int(watcher.stdout.readline())
        assert watcher.stdout.readline().strip() == "started"  # it is watching the log
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=20)
    finally:
        watcher.kill()
    assert watcher.returncode == 130
    assert f"stopped watching run {run_id}; it goes on in the daemon" in err
    assert "Traceback" not in err
    [row] = daemon.runs("id = ?", (run_id,))
    assert row["state"] == "running"
    assert with_config(daemon, "cancel", str(run_id)).returncode == 0
    wait_until(lambda: daemon.runs("id = ?", (run_id,))[0]["state"] == "cancelled", 10, "cancelled")


def test_trigger_with_url_works_while_the_config_has_a_syntax_error(
    daemon: DaemonProcess, elsewhere: Path
) -> None:
    broken = elsewhere / "clockd.toml"
    broken.write_text('[daemon]\nlisten = "127.0.0.1:1"\n[jobs.x\n')
    done = run_clockd(
        "trigger",
        "echo",
        "-p",
        "who=x",
        "--url",
        f"http://127.0.0.1:{daemon.port}",
        "-c",
        str(broken),
        cwd=elsewhere,
        env={**CLEAN, "CLOCKD_TOKEN": "remote-token"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().isdigit()
    assert done.stderr == ""  # address and token known: the broken config is not needed
