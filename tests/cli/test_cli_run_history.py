"""`clockd run` (local, no daemon) and the history commands `runs`, `show`, `logs [--follow]`,
as a user types them: real subprocesses, a real SQLite file."""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import DaemonProcess, clockd_argv, read_runs, run_clockd, wait_until

pytestmark = pytest.mark.timeout(90)

CONFIG = """
[daemon]
database = "state/clockd.db"
listen = ""

[jobs.greet]
command = ["sh", "-c", "echo \\"hello $1 x=$CLOCKD_PARAM_X\\"; echo oops >&2", "sh", "{{ name }}"]

[jobs.greet.parameters.name]
type = "string"

[jobs.greet.parameters.x]
type = "integer"
default = 1

[[jobs.greet.clocks]]
name = "weekly"
cron = "0 9 * * MON"
parameters = { name = "from-clock", x = 7 }

[jobs.fail]
command = ["sh", "-c", "echo failing; exit 3"]

[jobs.short]
target = "textwrap:shorten"

[jobs.short.parameters.text]
type = "string"

[jobs.short.parameters.width]
type = "integer"
default = 12

[jobs.ticker]
command = ["sh", "-c", "for i in 1 2 3 4; do echo line-$i; sleep 0.4; done"]

[[jobs.ticker.clocks]]
name = "once"
at = ["AT"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "clockd.toml").write_text(
        textwrap.dedent(CONFIG).replace("AT", "2030-01-01T00:00:00Z")
    )
    return tmp_path


def clockd(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_clockd(*args, "-c", str(project / "clockd.toml"), cwd=project)


def test_run_streams_the_log_records_history_and_exits_0(project: Path) -> None:
    done = clockd(project, "run", "greet", "-p", "name=Ada", "-p", "x=3")
    assert done.returncode == 0, done.stderr
    assert "hello Ada x=3" in done.stdout
    assert "oops" in done.stderr
    assert "succeeded" in done.stderr
    [run] = read_runs(project / "state" / "clockd.db")
    assert (run["job"], run["trigger"], run["state"], run["clock"]) == (
        "greet",
        "manual",
        "succeeded",
        None,
    )
    assert run["parameters"] == {"name": "Ada", "x": 3}


def test_run_with_a_clock_uses_its_defaults_below_the_given_values(project: Path) -> None:
    done = clockd(project, "run", "greet", "--clock", "weekly", "--params-json", '{"x": 5}')
    assert done.returncode == 0, done.stderr
    assert "hello from-clock x=5" in done.stdout
    [run] = read_runs(project / "state" / "clockd.db")
    assert run["clock"] == "weekly"


def test_run_of_a_python_target_prints_its_result(project: Path) -> None:
    done = clockd(project, "run", "short", "-p", "text=one two three four five")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == '"one [...]"'
    [run] = read_runs(project / "state" / "clockd.db")
    assert json.loads(run["result"]) == "one [...]"


def test_run_of_a_failing_job_exits_1(project: Path) -> None:
    done = clockd(project, "run", "fail")
    assert done.returncode == 1
    assert "failing" in done.stdout
    assert read_runs(project / "state" / "clockd.db")[0]["state"] == "failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "greet"], "required parameter 'name' has no value"),
        (["run", "greet", "-p", "name=a", "-p", "dummy=1"], "unexpected parameters: dummy"),
        (["run", "greet", "-p", "name=a", "-p", "x=many"], "x"),
        (["run", "nope"], "unknown job 'nope'"),
        (["run", "greet", "--clock", "daily", "-p", "name=a"], "no clock 'daily'"),
        (["show", "999"], "unknown run 999"),
    ],
    ids=["missing", "unexpected", "badly-typed", "unknown-job", "unknown-clock", "unknown-run"],
)
def test_user_mistakes_are_one_line_without_traceback(
    project: Path, args: list[str], message: str
) -> None:
    if args[0] == "show":
        assert clockd(project, "run", "fail").returncode == 1  # the database exists
    done = clockd(project, *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_runs_show_and_logs_read_the_history(project: Path) -> None:
    assert clockd(project, "run", "greet", "-p", "name=Ada").returncode == 0
    assert clockd(project, "run", "fail").returncode == 1

    listed = json.loads(clockd(project, "runs", "--json").stdout)
    assert [(r["job"], r["state"]) for r in listed] == [("fail", "failed"), ("greet", "succeeded")]
    assert listed[1]["parameters"] == {"name": "Ada", "x": 1}
    assert listed[1]["scheduled_time"].endswith("+00:00")

    only = json.loads(clockd(project, "runs", "--json", "--state", "failed").stdout)
    assert [r["job"] for r in only] == ["fail"]
    assert (
        json.loads(clockd(project, "runs", "--json", "--job", "greet", "--limit", "1").stdout)[0][
            "job"
        ]
        == "greet"
    )

    table = clockd(project, "runs")
    assert table.returncode == 0
    assert "greet" in table.stdout
    assert '"Ada"' in table.stdout
    assert "daemon" in table.stdout.splitlines()[0]
    assert f"cli@{socket.gethostname()}" in table.stdout  # `clockd run` ran them (spec 3)

    shown = json.loads(clockd(project, "show", str(listed[1]["id"]), "--json").stdout)
    assert shown["id"] == listed[1]["id"]
    assert shown["trigger"] == "manual"
    assert "secret_refs" not in shown

    text = clockd(project, "show", str(listed[0]["id"])).stdout
    assert "failed" in text

    log = clockd(project, "logs", str(listed[1]["id"])).stdout.splitlines()
    assert [line.split(" ", 2)[1:] for line in log] == [
        ["stdout", "hello Ada x=1"],
        ["stderr", "oops"],
    ]


@pytest.mark.e2e
def test_logs_follow_streams_a_running_run_of_the_daemon_until_it_ends(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = textwrap.dedent(CONFIG).replace("AT", at).replace('"state/clockd.db"', '"{database}"')
    with DaemonProcess(tmp_path, config) as daemon:
        run = wait_until(
            lambda: [r for r in daemon.runs("job = 'ticker'") if r["state"] == "running"],
            10,
            "ticker running",
        )[0]
        started = time.monotonic()
        follow = subprocess.run(
            [*clockd_argv(), "logs", str(run["id"]), "--follow", "-c", str(daemon.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert follow.returncode == 0, follow.stderr
        assert [line.split()[-1] for line in follow.stdout.splitlines()] == [
            "line-1",
            "line-2",
            "line-3",
            "line-4",
        ]
        assert time.monotonic() - started > 0.5  # it waited for the run, not just printed and left
        listed = json.loads(
            run_clockd("runs", "--json", "-c", str(daemon.config_path), cwd=tmp_path).stdout
        )
        assert listed[0]["job"] == "ticker"
        assert listed[0]["state"] == "succeeded"
