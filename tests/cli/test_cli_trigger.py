"""`clockd trigger`, `cancel`, `pause`, `resume` and `backfill` against a real daemon."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DaemonProcess, free_port, read_runs, run_clockd, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
token_file = "token"

[jobs.echo]
command = ["sh", "-c", "echo \\"n=$0 tags=$1\\"; echo second line", "{{ n }}", "{{ tags }}"]

[jobs.echo.parameters.n]
type = "integer"
maximum = 100

[jobs.echo.parameters.tags]
type = "array"
default = []

[jobs.fail]
command = ["sh", "-c", "echo about to fail; exit 4"]

[jobs.sleepy]
command = ["sleep", "30"]

[jobs.daily]
command = ["echo", "{{ day }}"]

[jobs.daily.parameters.day]
type = "date"
default = "{{ scheduled_time.to_date_string() }}"

[[jobs.daily.clocks]]
name = "morning"
cron = "0 6 * * *"
catchup = "none"

[[jobs.daily.clocks]]
name = "evening"
cron = "0 18 * * *"
catchup = "none"
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("trigger")
    (tmp / "token").write_text("cli-token\n")
    with DaemonProcess(tmp, CONFIG) as process:
        yield wait_for_api(process)


def clockd(
    daemon: DaemonProcess, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {"CLOCKD_API_URL": "", "CLOCKD_TOKEN": "", "CLOCKD_URL": "", "CLOCKD_RUN_ID": ""}
    return run_clockd(
        *args, "-c", str(daemon.config_path), cwd=daemon.tmp, env={**clean, **(env or {})}
    )


def run_row(daemon: DaemonProcess, run_id: int) -> dict:
    [row] = daemon.runs("id = ?", (run_id,))
    return row


def test_trigger_prints_the_run_id_and_converts_p_values(daemon: DaemonProcess) -> None:
    done = clockd(daemon, "trigger", "echo", "-p", "n=3", "-p", 'tags=["a", "b"]')
    assert done.returncode == 0, done.stderr
    run_id = int(done.stdout.strip())
    row = run_row(daemon, run_id)
    assert row["parameters"] == {"n": 3, "tags": ["a", "b"]}
    assert row["trigger"] == "api"
    assert row["parent_id"] is None


def test_params_json_and_p_together(daemon: DaemonProcess) -> None:
    done = clockd(
        daemon, "trigger", "echo", "--params-json", '{"n": 1, "tags": ["j"]}', "-p", "n=2"
    )
    assert done.returncode == 0, done.stderr
    assert run_row(daemon, int(done.stdout))["parameters"] == {"n": 2, "tags": ["j"]}


def test_watch_streams_the_log_and_exits_0_on_success(daemon: DaemonProcess) -> None:
    done = clockd(daemon, "trigger", "echo", "-p", "n=5", "--watch")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    run_id = int(lines[0])
    assert lines[1:] == ["n=5 tags=[]", "second line"]
    assert f"run {run_id} succeeded" in done.stderr


def test_watch_exits_1_when_the_run_fails(daemon: DaemonProcess) -> None:
    done = clockd(daemon, "trigger", "fail", "--watch")
    assert done.returncode == 1
    assert "about to fail" in done.stdout
    assert f"run {int(done.stdout.splitlines()[0])} failed: exit code 4" in done.stderr


def test_refused_parameters_exit_1_with_each_problem(daemon: DaemonProcess) -> None:
    before = len(daemon.runs())
    done = clockd(daemon, "trigger", "echo", "-p", "n=lots", "-p", "bogus=1")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "parameters refused" in done.stderr
    assert "\n  parameter 'n': 'lots' is not an integer" in done.stderr
    assert "\n  unexpected parameter 'bogus'" in done.stderr
    assert len(daemon.runs()) == before


def test_usage_errors_exit_2(daemon: DaemonProcess) -> None:
    done = clockd(daemon, "trigger", "echo", "-p", "novalue")
    assert done.returncode == 2
    assert "NAME=VALUE" in done.stderr


def test_url_option_and_clockd_url_env(daemon: DaemonProcess, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{daemon.port}"
    # no config at all: the token comes from CLOCKD_TOKEN only inside a run, so expect 401 …
    bare = run_clockd(
        "trigger", "echo", "-p", "n=1", "--url", url, cwd=tmp_path, env={"CLOCKD_CONFIG": ""}
    )
    assert bare.returncode == 1
    assert "bearer token" in bare.stderr
    # … and inside a run (CLOCKD_API_URL + CLOCKD_TOKEN) it is found in the environment.
    fake_run = {"CLOCKD_API_URL": url, "CLOCKD_TOKEN": "cli-token", "CLOCKD_CONFIG": ""}
    inside = run_clockd("trigger", "echo", "-p", "n=9", cwd=tmp_path, env=fake_run)
    assert inside.returncode == 0, inside.stderr
    assert run_row(daemon, int(inside.stdout))["parameters"]["n"] == 9


def test_unreachable_daemon_is_one_clear_line(tmp_path: Path) -> None:
    done = run_clockd("trigger", "echo", "--url", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("clockd: the daemon at http://127.0.0.1:")
    assert "Traceback" not in done.stderr


def test_trigger_imports_no_daemon_machinery(daemon: DaemonProcess) -> None:
    code = (
        "import sys\n"
        "from scheduler.cli import main\n"
        "try:\n"
        f"    main(['trigger', 'echo', '-p', 'n=1', '-c', {str(daemon.config_path)!r}])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "heavy = ('httpx', 'starlette', 'uvicorn', 'apscheduler', 'jinja2', 'pendulum', 'rich', 'jsonschema', 'sqlite_utils', 'croniter')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=daemon.tmp, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_cancel_command(daemon: DaemonProcess) -> None:
    started = clockd(daemon, "trigger", "sleepy")
    run_id = int(started.stdout)
    wait_until(lambda: run_row(daemon, run_id)["state"] == "running", 10, "running")
    done = clockd(daemon, "cancel", str(run_id))
    assert done.returncode == 0, done.stderr
    wait_until(lambda: run_row(daemon, run_id)["state"] == "cancelled", 10, "cancelled")
    missing = clockd(daemon, "cancel", "999999")
    assert missing.returncode == 1
    assert "unknown run 999999" in missing.stderr


def test_pause_and_resume_through_the_daemon(daemon: DaemonProcess) -> None:
    import httpx

    def clocks() -> dict[str, bool]:
        job = httpx.get(
            f"http://127.0.0.1:{daemon.port}/api/v1/jobs/daily",
            headers={"Authorization": "Bearer cli-token"},
        ).json()
        return {c["name"]: c["paused"] for c in job["clocks"]}

    done = clockd(daemon, "pause", "daily/morning")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clock morning of job daily paused"
    assert clocks() == {"morning": True, "evening": False}
    assert clockd(daemon, "pause", "daily").returncode == 0
    assert clocks() == {"morning": True, "evening": True}
    assert clockd(daemon, "resume", "daily").returncode == 0
    assert clockd(daemon, "resume", "daily/morning").returncode == 0
    assert clocks() == {"morning": False, "evening": False}
    unknown = clockd(daemon, "pause", "daily/noon")
    assert unknown.returncode == 1
    assert "noon" in unknown.stderr


def test_backfill_dry_run_then_real(daemon: DaemonProcess) -> None:
    before = len(daemon.runs())
    dry = clockd(
        daemon,
        "backfill",
        "daily",
        "--clock",
        "morning",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
        "--dry-run",
    )
    assert dry.returncode == 0, dry.stderr
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        assert f"{day}T06:00:00+00:00" in dry.stdout
        assert f"│ day={day}" in dry.stdout
    assert len(daemon.runs()) == before, "a dry run creates no run"
    real = clockd(
        daemon,
        "backfill",
        "daily",
        "--clock",
        "morning",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
    )
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip().splitlines()[-1] == "3 runs created, 0 skipped (already had a run)"
    rows = daemon.runs("trigger = 'backfill' AND clock = 'morning'")
    assert sorted(r["parameters"]["day"] for r in rows) == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]
    again = clockd(
        daemon,
        "backfill",
        "daily",
        "--clock",
        "morning",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
    )
    assert again.stdout.strip().splitlines()[-1] == "0 runs created, 3 skipped (already had a run)"


def test_pause_without_a_daemon_writes_the_database(tmp_path: Path) -> None:
    text = CONFIG.replace('token_file = "token"\n', "")
    daemon = DaemonProcess(tmp_path, text)
    # the daemon is not running: pause writes the store directly and says so
    done = run_clockd(
        "pause",
        "daily/evening",
        "-c",
        str(daemon.config_path),
        cwd=tmp_path,
        env={"CLOCKD_URL": "", "CLOCKD_API_URL": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "no connection error before a success (issue 16, bug 4)"
    assert done.stdout == (
        f"clock evening of job daily paused in the database {daemon.database} "
        "(no daemon answered; the daemon applies it when it starts)\n"
    )
    with daemon:
        import httpx

        wait_for_api(daemon)
        job = httpx.get(f"http://127.0.0.1:{daemon.port}/api/v1/jobs/daily").json()
        assert {c["name"]: c["paused"] for c in job["clocks"]} == {
            "morning": False,
            "evening": True,
        }
    assert read_runs(daemon.database) == []
    assert os.path.exists(daemon.database)
