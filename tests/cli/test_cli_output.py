"""What people read (issue 16, "CLI output"): the runs table in 80 columns, outcomes in words
without Python reprs, colours on a terminal only."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.cli.output import compact_time, describe_end, run_duration, use_colour
from scheduler.cli.runs_table import runs_lines, wide_lines
from tests.helpers import clockd_argv, run_clockd

NOW = datetime(2026, 3, 5, 14, 10, 0, tzinfo=UTC)


def run(**fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": 7,
        "job": "report",
        "clock": "small",
        "name": None,
        "trigger": "clock",
        "state": "succeeded",
        "parameters": {"x": 9},
        "scheduled_time": "2026-03-05T14:03:00+00:00",
        "created_at": "2026-03-05T14:03:00+00:00",
        "started_at": "2026-03-05T14:03:00.100000+00:00",
        "ended_at": "2026-03-05T14:03:02.600000+00:00",
        "attempt": 1,
        "exit_code": 0,
        "error": None,
        "parent_id": None,
        "result": None,
        "daemon": "host-a",
        "worker": None,
    }
    record.update(fields)
    return record


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": "succeeded"}, "succeeded"),
        ({"state": "failed", "exit_code": 4, "error": "exit code 4"}, "failed: exit code 4"),
        (
            {"state": "timed_out", "exit_code": -15, "error": "timed out after 2s"},
            "timed out after 2s (SIGTERM)",
        ),
        (
            {"state": "timed_out", "exit_code": -9, "error": "timed out after 1m30s"},
            "timed out after 1m30s (SIGKILL)",
        ),
        ({"state": "cancelled", "exit_code": -15, "error": "cancelled"}, "cancelled"),
        (
            {"state": "failed", "error": "cannot start 'clockd': No such file or directory"},
            "failed: cannot start 'clockd': No such file or directory",
        ),
        (
            {"state": "skipped", "error": "previous run 3 still active"},
            "skipped: previous run 3 still active",
        ),
    ],
    ids=["succeeded", "exit", "timeout", "timeout-kill", "cancelled", "no-start", "skipped"],
)
def test_an_outcome_is_said_in_words(fields: dict[str, object], expected: str) -> None:
    assert describe_end(run(**fields)) == expected


def test_times_are_compact_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    import time

    time.tzset()
    try:
        assert compact_time("2026-03-05T14:03:07+00:00", NOW) == "15:03:07"
        assert compact_time("2026-01-20T08:00:00+00:00", NOW) == "Jan 20 09:00"
        assert compact_time("2025-12-31T23:30:00+00:00", NOW) == "Jan 01 00:30"  # in Berlin
        assert compact_time("2024-06-01T10:00:00+00:00", NOW) == "2024-06-01 12:00"
        assert compact_time(None, NOW) == "-"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_durations_are_never_python_reprs() -> None:
    assert run_duration(run(), NOW) == "2.5s"
    long = run(ended_at="2026-03-05T15:33:02.600000+00:00")
    assert run_duration(long, NOW) == "1h30m2s"
    assert run_duration(run(started_at=None, ended_at=None), NOW) == "-"


def test_runs_fit_80_columns_with_name_parent_and_error_below() -> None:
    records = [
        run(
            id=12345,
            job="a-rather-long-job-name",
            clock="and-a-long-clock",
            state="failed",
            error="exit code 4: " + "e" * 200,
            parameters={"text": "x" * 300, "n": 3},
            name="report-9-20260305",
            parent_id=12000,
        ),
        run(),
    ]
    lines = runs_lines(records, now=NOW, colour=False)
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]
    assert lines[0].split() == ["ID", "JOB/CLOCK", "STATE", "SCHEDULED", "TOOK", "PARAMETERS"]
    assert lines[1].endswith("…")  # parameters cut to the width left
    assert lines[2].strip().startswith("name report-9-20260305 · parent 12000 · error: exit code 4")
    assert "report/small" in lines[3]
    assert "x=9" in lines[3]


def test_wide_runs_keep_every_column_in_full() -> None:
    records = [run(state="failed", error="exit code 4: " + "e" * 100, parameters={"t": "y" * 150})]
    header, line = wide_lines(records, now=NOW, colour=False)
    assert header.split()[:4] == ["ID", "JOB", "CLOCK", "NAME"]
    assert "y" * 150 in line
    assert line.endswith("exit code 4: " + "e" * 100)


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_colour(Terminal(), environ={}) is True
    assert use_colour(Terminal(), environ={"NO_COLOR": "1"}) is False
    assert use_colour(io.StringIO(), environ={}) is False
    coloured = runs_lines([run(state="failed", error="exit code 1")], now=NOW, colour=True)
    assert "\x1b[31mfailed" in coloured[1]


CONFIG = """
[daemon]
database = "clockd.db"
listen = ""

[jobs.fail]
command = ["sh", "-c", "exit 2"]
"""


@pytest.mark.timeout(60)
def test_runs_colours_states_on_a_real_terminal_unless_no_color(tmp_path: Path) -> None:
    (tmp_path / "clockd.toml").write_text(textwrap.dedent(CONFIG))
    clean = {"CLOCKD_URL": "", "CLOCKD_API_URL": "", "CLOCKD_CONFIG": "", "NO_COLOR": ""}
    assert run_clockd("run", "fail", cwd=tmp_path, env=clean).returncode == 1

    def on_a_terminal(extra: dict[str, str]) -> str:
        leader, follower = pty.openpty()
        try:
            subprocess.run(
                [*clockd_argv(), "runs"],
                cwd=tmp_path,
                env={**os.environ, **clean, "TERM": "xterm", **extra},
                stdout=follower,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=True,
            )
            return os.read(leader, 65536).decode()
        finally:
            os.close(leader)
            os.close(follower)

    assert "\x1b[31mfailed" in on_a_terminal({})
    assert "\x1b[" not in on_a_terminal({"NO_COLOR": "1"})
    piped = run_clockd("runs", cwd=tmp_path, env=clean)
    assert "failed" in piped.stdout
    assert "\x1b[" not in piped.stdout
