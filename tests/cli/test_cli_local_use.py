"""The CLI without a daemon (issue 16): history while the config has a problem elsewhere,
`clockd run` and Ctrl-C, every `-p` problem at once, who may write the database."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import clockd_argv, read_runs, run_clockd

pytestmark = pytest.mark.timeout(90)

CONFIG = """
[daemon]
database = "state/clockd.db"
listen = "127.0.0.1:1"

[jobs.hello]
command = ["sh", "-c", "echo hello"]

[jobs.slow]
command = ["sh", "-c", "echo started; sleep 30"]

[jobs.report]
command = ["echo", "{{ x }}"]

[jobs.report.parameters.x]
type = "integer"
minimum = 0

[jobs.report.parameters.day]
type = "date"

[[jobs.report.clocks]]
name = "daily"
cron = "0 6 * * *"
parameters = { x = 1, day = "2026-01-01" }
"""

CLEAN = {"CLOCKD_API_URL": "", "CLOCKD_URL": "", "CLOCKD_TOKEN": "", "CLOCKD_CONFIG": ""}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "clockd.toml").write_text(textwrap.dedent(CONFIG))
    return tmp_path


def clockd(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_clockd(*args, "-c", str(project / "clockd.toml"), cwd=project, env=CLEAN)


def test_run_reports_every_p_problem_at_once(project: Path) -> None:
    done = clockd(project, "run", "report", "-p", "x=-3", "-p", "day=yesterday", "-p", "dumy=1")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "clockd: job 'report': unexpected parameters: dumy; "
        "parameter 'day': 'yesterday' is not a date (write it like 2026-03-01); "
        "parameter 'x': -3 is less than the minimum of 0"
    )
    assert read_runs(project / "state" / "clockd.db") == []


def test_history_is_readable_while_a_job_has_a_typo(project: Path) -> None:
    assert clockd(project, "run", "hello").returncode == 0
    config = project / "clockd.toml"
    config.write_text(config.read_text().replace("[jobs.hello]\n", "[jobs.hello]\nretires = 2\n"))
    assert clockd(project, "check").returncode == 1
    for args in (["runs"], ["show", "1"], ["logs", "1"]):
        done = clockd(project, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "warning: the config has 1 problem(s) outside [daemon]" in done.stderr
        assert "jobs.hello: unknown key 'retires' (did you mean 'retries'?)" in done.stderr
    assert "hello" in clockd(project, "logs", "1").stdout


def test_history_refuses_a_problem_in_daemon_itself(project: Path) -> None:
    config = project / "clockd.toml"
    config.write_text(config.read_text().replace('listen = "127.0.0.1:1"', 'listen = "nowhere"'))
    done = clockd(project, "runs")
    assert done.returncode == 1
    assert "daemon.listen: invalid address 'nowhere'" in done.stderr


def test_ctrl_c_on_run_cancels_it_and_exits_130(project: Path) -> None:
    process = subprocess.Popen(
        [*clockd_argv(), "run", "slow", "-c", str(project / "clockd.toml")],
        cwd=project,
        env={**os.environ, **CLEAN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().split(" ", 1)[1].strip() == "started"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Ctrl-C: cancelling run 1" in err
    [row] = read_runs(project / "state" / "clockd.db")
    assert row["state"] == "cancelled"


def test_pause_without_a_daemon_is_refused_to_another_user_than_the_owner(
    project: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the database to another user")
    assert clockd(project, "run", "hello").returncode == 0
    database = project / "state" / "clockd.db"
    for path in database.parent.iterdir():
        os.chown(path, 65534, 65534)  # nobody's, as a daemon's under its own user
    done = clockd(project, "pause", "report")
    assert done.returncode == 1
    assert "did not answer" in done.stderr
    assert f"the database {database} belongs to nobody, not root" in done.stderr
    assert "sudo -u nobody clockd" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert {p.name: p.stat().st_uid for p in database.parent.iterdir()} == {
        p.name: 65534 for p in database.parent.iterdir()
    }, "nothing of root's was left beside the database"
    refused_run = clockd(project, "run", "hello")
    assert refused_run.returncode == 1
    assert "clockd run writes the run history, but the database" in refused_run.stderr
