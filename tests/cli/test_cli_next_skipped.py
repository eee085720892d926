"""`clockd next --show-skipped`: the fires calendar, exclude and between removed or moved,
with the reason, in the text table and in --json (spec 2.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli_check_next import clockd, fires

CONFIG = """
[daemon]
timezone = "America/New_York"

[calendars.us]
holidays = "US"

[jobs.report]
command = ["true"]

[jobs.report.parameters.day]
type = "string"
default = "{{ scheduled_time.to_date_string() }}"

[[jobs.report.clocks]]
name = "first"
cron = "0 9 1 * *"
calendar = "us"
on_closed_day = "next_business_day"

[[jobs.report.clocks]]
name = "poll"
rrule = "FREQ=HOURLY;INTERVAL=4"
start = "2026-11-25T00:00:00"
calendar = "us"
between = ["08:00", "18:00"]
exclude = ["2026-11-27T12:00:00"]
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "clockd.toml"
    path.write_text(CONFIG)
    return str(path)


def test_json_lists_removed_and_moved_fires_with_the_reason(
    capsys: pytest.CaptureFixture[str], config: str
) -> None:
    got = fires(
        capsys,
        "report",
        "-c",
        config,
        "--after",
        "2026-11-25T07:00:00",
        "-n",
        "4",
        "--show-skipped",
    )
    assert got == [
        {"time": "2026-11-25T08:00:00-05:00", "clock": "poll", "parameters": {"day": "2026-11-25"}},
        {"time": "2026-11-25T12:00:00-05:00", "clock": "poll", "parameters": {"day": "2026-11-25"}},
        {"time": "2026-11-25T16:00:00-05:00", "clock": "poll", "parameters": {"day": "2026-11-25"}},
        {"time": "2026-11-25T20:00:00-05:00", "clock": "poll", "skipped": "outside 08:00–18:00"},
        {"time": "2026-11-26T00:00:00-05:00", "clock": "poll", "skipped": "closed: Thanksgiving Day (US)"},
        {"time": "2026-11-26T04:00:00-05:00", "clock": "poll", "skipped": "closed: Thanksgiving Day (US)"},
        {"time": "2026-11-26T08:00:00-05:00", "clock": "poll", "skipped": "closed: Thanksgiving Day (US)"},
        {"time": "2026-11-26T12:00:00-05:00", "clock": "poll", "skipped": "closed: Thanksgiving Day (US)"},
        {"time": "2026-11-26T16:00:00-05:00", "clock": "poll", "skipped": "closed: Thanksgiving Day (US)"},
        {"time": "2026-11-26T20:00:00-05:00", "clock": "poll", "skipped": "closed: Thanksgiving Day (US)"},
        {"time": "2026-11-27T00:00:00-05:00", "clock": "poll", "skipped": "outside 08:00–18:00"},
        {"time": "2026-11-27T04:00:00-05:00", "clock": "poll", "skipped": "outside 08:00–18:00"},
        {"time": "2026-11-27T08:00:00-05:00", "clock": "poll", "parameters": {"day": "2026-11-27"}},
    ]  # fmt: skip


def test_json_gives_a_moved_fire_its_original_time(
    capsys: pytest.CaptureFixture[str], config: str
) -> None:
    got = fires(
        capsys,
        "report",
        "-c",
        config,
        "--clock",
        "first",
        "--after",
        "2026-12-15",
        "-n",
        "2",
        "--show-skipped",
    )
    assert got == [
        {
            "time": "2027-01-04T09:00:00-05:00",
            "clock": "first",
            "parameters": {"day": "2027-01-04"},  # the moved time is the fire's scheduled_time
            "moved_from": "2027-01-01T09:00:00-05:00",
            "reason": "moved from 2027-01-01 (closed: New Year's Day (US))",
        },
        {
            "time": "2027-02-01T09:00:00-05:00",
            "clock": "first",
            "parameters": {"day": "2027-02-01"},
        },
    ]


def test_without_the_flag_next_lists_only_the_fires(
    capsys: pytest.CaptureFixture[str], config: str
) -> None:
    got = fires(
        capsys,
        "report",
        "-c",
        config,
        "--clock",
        "poll",
        "--after",
        "2026-11-25T17:00:00",
        "-n",
        "2",
    )
    assert [entry["time"] for entry in got] == [
        "2026-11-27T08:00:00-05:00",
        "2026-11-27T16:00:00-05:00",
    ]
    assert all("skipped" not in entry for entry in got)


def test_the_table_says_why(
    capsys: pytest.CaptureFixture[str], config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = clockd(
        capsys,
        "next",
        "report",
        "-c",
        config,
        "--after",
        "2026-11-26T10:00:00",
        "-n",
        "1",
        "--show-skipped",
    )
    assert code == 0
    assert "skipped: closed: Thanksgiving Day (US)" in out
    assert "skipped: excluded" not in out  # 2026-11-27T12:00 comes after the first kept fire
    code, out, _ = clockd(
        capsys,
        "next",
        "report",
        "-c",
        config,
        "--after",
        "2026-11-27T09:00:00",
        "-n",
        "1",
        "--show-skipped",
    )
    assert "skipped: excluded" in out
