"""`python -m scheduler.pyrunner` in a real child interpreter, and `scheduler.context`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scheduler.context import RunContext
from tests.conftest import ROOT


def run_pyrunner(
    spec: dict[str, Any], *, via_stdin: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    environ.pop("CLOCKD_PYRUNNER_SPEC", None)
    text = json.dumps(spec)
    if not via_stdin:
        environ["CLOCKD_PYRUNNER_SPEC"] = text
    return subprocess.run(
        [sys.executable, "-m", "scheduler.pyrunner"],
        input=text if via_stdin else "",
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=60,
    )


def test_dates_and_datetimes_arrive_as_python_objects_and_the_result_is_written(
    tmp_path: Path,
) -> None:
    result_file = tmp_path / "result.json"
    done = run_pyrunner(
        {
            "target": "tests.targets:describe",
            "parameters": {"day": "2026-02-28", "moment": "2026-03-01T10:00:00+01:00", "count": 3},
            "types": {"day": "date", "moment": "datetime", "count": "integer"},
            "result_file": str(result_file),
        }
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "describe day=2026-02-28 count=3\n"
    assert json.loads(result_file.read_text()) == {
        "day_type": "date",
        "day": "2026-02-28",
        "next_day": "2026-03-01",
        "moment_utc": "2026-03-01T09:00:00+00:00",
        "moment_aware": True,
        "count": 3,
    }


def test_the_spec_can_come_on_stdin_and_async_targets_are_awaited(tmp_path: Path) -> None:
    result_file = tmp_path / "result.json"
    done = run_pyrunner(
        {
            "target": "tests.targets:async_double",
            "parameters": {"x": 21},
            "result_file": str(result_file),
        },
        via_stdin=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(result_file.read_text()) == 42


def test_an_exception_exits_1_with_its_traceback_on_stderr(tmp_path: Path) -> None:
    result_file = tmp_path / "result.json"
    done = run_pyrunner(
        {
            "target": "tests.targets:boom",
            "parameters": {"message": "bad day"},
            "result_file": str(result_file),
        }
    )
    assert done.returncode == 1
    assert done.stdout == "about to fail\n"
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("RuntimeError: bad day")
    assert not result_file.exists()


def test_an_unknown_target_is_one_phrased_line() -> None:
    done = run_pyrunner({"target": "tests.targets:nope", "parameters": {}})
    assert done.returncode == 1
    assert (
        done.stderr
        == "clockd pyrunner: target 'tests.targets:nope': 'tests.targets' has no 'nope'\n"
    )
    done = run_pyrunner({"target": "no_such_module_xyz:f", "parameters": {}})
    assert (
        done.stderr
        == "clockd pyrunner: target 'no_such_module_xyz:f': module 'no_such_module_xyz' not found\n"
    )


def test_a_return_value_that_is_not_json_fails_the_run(tmp_path: Path) -> None:
    done = run_pyrunner(
        {
            "target": "tests.targets:returns_object",
            "parameters": {},
            "result_file": str(tmp_path / "r.json"),
        }
    )
    assert done.returncode == 1
    assert "is not JSON" in done.stderr


def test_sys_exit_codes_pass_through() -> None:
    assert (
        run_pyrunner({"target": "tests.targets:exit_with", "parameters": {"code": 4}}).returncode
        == 4
    )
    assert (
        run_pyrunner({"target": "tests.targets:exit_with", "parameters": {"code": 0}}).returncode
        == 0
    )


def test_context_reads_the_run_environment() -> None:
    context = RunContext(
        {
            "CLOCKD_RUN_ID": "12",
            "CLOCKD_JOB": "report",
            "CLOCKD_CLOCK": "nightly",
            "CLOCKD_SCHEDULED_TIME": "2026-03-01T09:00:00+00:00",
            "CLOCKD_PARAMETERS": '{"x": 9}',
            "CLOCKD_API_URL": "http://127.0.0.1:8787",
        }
    )
    assert context.in_run
    assert (context.run_id, context.job, context.clock) == (12, "report", "nightly")
    assert context.scheduled_time == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert context.parameters == {"x": 9}
    assert context.api_url == "http://127.0.0.1:8787"
    assert context.token is None


def test_context_outside_a_run_is_empty() -> None:
    context = RunContext({})
    assert not context.in_run
    assert (context.run_id, context.job, context.clock, context.scheduled_time) == (None,) * 4
    assert context.parameters == {}


def test_scheduler_context_is_lazy_and_reads_the_environment_inside_a_target(
    tmp_path: Path,
) -> None:
    result_file = tmp_path / "result.json"
    done = run_pyrunner(
        {
            "target": "tests.targets:context_snapshot",
            "parameters": {},
            "result_file": str(result_file),
        },
        env={
            "CLOCKD_RUN_ID": "7",
            "CLOCKD_JOB": "j",
            "CLOCKD_CLOCK": "",
            "CLOCKD_SCHEDULED_TIME": "2026-01-01T00:00:00+00:00",
            "CLOCKD_PARAMETERS": "{}",
        },
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(result_file.read_text()) == {
        "job": "j",
        "clock": None,
        "run_id": 7,
        "scheduled_time": "2026-01-01T00:00:00+00:00",
        "parameters": {},
    }
