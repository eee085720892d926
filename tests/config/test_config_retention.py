"""[daemon] keep_runs_for, per job keep_runs and sizes for max_log_bytes: read, and refused
with a located problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.config.values import parse_size
from tests.config.test_config_refusals import NOW, problems_in

JOB = '[jobs.report]\ncommand = ["true"]\n'


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10 * 1024 * 1024),
        ("512KB", 512 * 1024),
        ("1GB", 1 << 30),
        ("1.5 MiB", 3 * 512 * 1024),
        ("4096", 4096),
        ("100b", 100),
        ("ten", None),
        ("10 TB", None),
        ("-1MB", None),
        ("", None),
    ],
    ids=lambda value: str(value),
)
def test_parse_size_takes_binary_units(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_retention_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(
        '[daemon]\nkeep_runs_for = "90d"\nmax_log_bytes = "512KB"\n' + JOB + "keep_runs = 500\n"
        '[jobs.other]\ncommand = ["true"]\n'
    )
    config = load_config(path, environ={}, now=NOW)
    assert config.daemon.keep_runs_for == timedelta(days=90)
    assert config.daemon.max_log_bytes == 512 * 1024
    assert config.jobs["report"].keep_runs == 500
    assert config.jobs["other"].keep_runs is None


def test_defaults_keep_history_forever_and_logs_up_to_10_mib(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text("[daemon]\nmax_log_bytes = 2048\n" + JOB)
    config = load_config(path, environ={}, now=NOW)
    assert config.daemon.keep_runs_for is None
    assert config.daemon.max_log_bytes == 2048
    assert config.jobs["report"].keep_runs is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[daemon]\nmax_log_bytes = "10 parsecs"\n' + JOB,
            "clockd.toml: daemon.max_log_bytes: '10 parsecs' is not a size: write a number of "
            "bytes or '512KB', '10MB', '1GB' (KB MB GB are KiB MiB GiB)",
        ),
        (
            "[daemon]\nmax_log_bytes = 0\n" + JOB,
            "clockd.toml: daemon.max_log_bytes: 0 bytes is too small: the minimum is 1",
        ),
        (
            '[daemon]\nkeep_runs_for = "0s"\n' + JOB,
            None,  # a zero duration: refused, wording from the duration reader
        ),
        (
            "[daemon]\nkeep_runs_for = 90\n" + JOB,
            "clockd.toml: daemon.keep_runs_for: expected a duration such as '30s', '10m' or "
            "'1h30m', got 90",
        ),
        (
            JOB + "keep_runs = 0\n",
            "clockd.toml: jobs.report.keep_runs: 0 is too small: the minimum is 1",
        ),
        (
            JOB + 'keep_runs = "500"\n',
            "clockd.toml: jobs.report.keep_runs: expected an integer, got '500'",
        ),
    ],
    ids=["bad-size", "zero-size", "zero-age", "age-not-a-string", "keep-zero", "keep-string"],
)
def test_bad_retention_values_are_refused(tmp_path: Path, text: str, expected: str | None) -> None:
    problems = problems_in(tmp_path, text)
    assert len(problems) == 1
    if expected is None:
        assert problems[0].startswith("clockd.toml: daemon.keep_runs_for: ")
    else:
        assert problems == [expected]


def test_clockd_check_reports_a_bad_retention_value(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "clockd.toml"
    path.write_text('[daemon]\nkeep_runs_for = "forever"\n' + JOB)
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "daemon.keep_runs_for" in result.stderr
    assert "Traceback" not in result.stderr
