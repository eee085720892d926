"""`clockd import-crontab`: a crontab becomes TOML that `clockd check` accepts."""

from __future__ import annotations

import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.config.crontab import import_crontab

NOW = datetime(2026, 3, 1, tzinfo=UTC)

CRONTAB = r"""# m h  dom mon dow   command
SHELL=/bin/bash
MAILTO=ops@example.com
PATH=/usr/local/bin:/usr/bin:/bin

# Nightly backup, quietly.
30 2 * * * cd /srv && ./backup.sh --full > /dev/null 2>&1
@reboot /usr/local/bin/warm-cache
0 * * * * echo "tick" | logger -t clockd%with stdin
0 3 * * 1-5 date +\%Y-\%m-\%d >> /var/log/dates.log

CRON_TZ=America/New_York
@daily /usr/bin/python3 /opt/reports/report.py --region us
15 6 * * * /usr/bin/python3 /opt/reports/report.py --region us
0 0 30 2 * /bin/true
*/10 * * * * /usr/bin/python3 /opt/reports/report.py --region us --quick
REPORT_MODE=fast
0 12 * * * /usr/bin/python3 /opt/reports/report.py --region us
"""


@pytest.fixture
def imported() -> tuple[dict, str, list[str]]:
    result = import_crontab(CRONTAB, source="crontab.txt", timezone="Europe/Berlin")
    return tomllib.loads(result.toml), result.toml, result.warnings


def test_each_line_becomes_a_shell_job(imported: tuple[dict, str, list[str]]) -> None:
    data, _, _ = imported
    backup = data["jobs"]["backup"]
    assert backup["command"] == [
        "/bin/bash",
        "-c",
        "cd /srv && ./backup.sh --full > /dev/null 2>&1",
    ]
    assert backup["env"] == {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    assert backup["clocks"] == [{"cron": "30 2 * * *", "catchup": "none"}]
    assert data["daemon"] == {"timezone": "Europe/Berlin"}


def test_escaped_percent_is_a_literal_percent(imported: tuple[dict, str, list[str]]) -> None:
    data, _, _ = imported
    assert data["jobs"]["date"]["command"][2] == "date +%Y-%m-%d >> /var/log/dates.log"


def test_cron_tz_applies_to_the_lines_below_it(imported: tuple[dict, str, list[str]]) -> None:
    data, _, _ = imported
    assert "timezone" not in data["jobs"]["backup"]["clocks"][0]
    assert {c["timezone"] for c in data["jobs"]["report"]["clocks"]} == {"America/New_York"}


def test_the_same_command_becomes_one_job_with_several_clocks(
    imported: tuple[dict, str, list[str]],
) -> None:
    data, _, _ = imported
    assert [c["cron"] for c in data["jobs"]["report"]["clocks"]] == ["@daily", "15 6 * * *"]
    # Another command, and the same command with more environment, are other jobs.
    assert data["jobs"]["report-2"]["command"][2].endswith("--quick")
    assert data["jobs"]["report-3"]["env"]["REPORT_MODE"] == "fast"


def test_unsupported_lines_are_reported_and_kept_as_comments(
    imported: tuple[dict, str, list[str]],
) -> None:
    _, text, warnings = imported
    assert [w.split(": ", 2)[:2] for w in warnings] == [
        ["crontab.txt:8", "@reboot is not supported"],
        ["crontab.txt:9", "a % in the command sends the rest as its stdin, which clockd does not support; write \\% for a literal %"],
        ["crontab.txt:15", "invalid cron expression '0 0 30 2 *'"],
    ]  # fmt: skip
    assert "# NOT IMPORTED (line 8, @reboot is not supported" in text
    assert "@reboot /usr/local/bin/warm-cache" in text
    assert "# MAILTO=ops@example.com (line 3): clockd sends no mail; use on_failure hooks" in text
    assert "# Nightly backup, quietly." in text


def test_the_output_passes_check(tmp_path: Path, imported: tuple[dict, str, list[str]]) -> None:
    _, text, _ = imported
    path = tmp_path / "imported.toml"
    path.write_text(text)
    config = load_config(path, environ={}, now=NOW)
    assert sorted(config.jobs) == ["backup", "date", "report", "report-2", "report-3"]
    assert config.clock_count == 6
    # The imported clock fires like cron did: 02:30 Berlin wall time.
    nightly = config.jobs["backup"].clocks[0]
    assert nightly.next_fire(NOW).isoformat() == "2026-03-01T01:30:00+00:00"


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("/usr/local/bin/backup.sh --full", "backup"),
        ("cd /srv && ./sync-files.py", "sync-files"),
        ("python3 -u /opt/etl/load_data.py", "load-data"),
        ("nice -n 10 flock -n /tmp/x /usr/bin/rsync -a a b", "rsync"),
        ("FOO=1 /bin/run", "run"),
        ("cd /tmp", "job"),
    ],
)
def test_job_names_come_from_the_program(command: str, name: str) -> None:
    data = tomllib.loads(import_crontab(f"0 1 * * * {command}\n").toml)
    assert list(data["jobs"]) == [name]


def test_system_crontab_lines_name_a_user() -> None:
    result = import_crontab(
        "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n", system=True
    )
    data = tomllib.loads(result.toml)
    assert data["jobs"]["run-parts"]["command"][2] == "cd / && run-parts --report /etc/cron.hourly"
    assert "ran as user 'root'" in result.toml


def test_commands_with_quotes_and_backslashes_survive(tmp_path: Path) -> None:
    line = r"""0 1 * * * printf '%s\n' "a \"b\" c" | tr a-z A-Z"""
    result = import_crontab(line.replace("%", "\\%") + "\n")
    data = tomllib.loads(result.toml)
    assert data["jobs"]["printf"]["command"][2] == r"""printf '%s\n' "a \"b\" c" | tr a-z A-Z"""


def test_import_crontab_command_round_trip(tmp_path: Path, clockd_bin: list[str]) -> None:
    crontab = tmp_path / "crontab"
    crontab.write_text(CRONTAB)
    result = subprocess.run(
        [*clockd_bin, "import-crontab", str(crontab), "--timezone", "UTC"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) == 3  # @reboot, %, February 30th
    imported = tmp_path / "clockd.toml"
    imported.write_text(result.stdout)
    checked = subprocess.run(
        [*clockd_bin, "check", str(imported)], capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout) == (0, "5 jobs, 6 clocks OK\n")


def test_random_delay_becomes_jitter_and_macros_may_be_followed_by_a_tab() -> None:
    result = import_crontab("RANDOM_DELAY=7\n@hourly\t/usr/bin/poll --all\n0 * * * * /bin/a\n")
    data = tomllib.loads(result.toml)
    assert data["jobs"]["poll"]["clocks"] == [
        {"cron": "@hourly", "jitter": "7m", "catchup": "none"}
    ]
    assert data["jobs"]["poll"]["command"][2] == "/usr/bin/poll --all"
    assert "env" not in data["jobs"]["poll"]  # a scheduling setting, not the command's environment


def test_a_line_that_is_not_cron_is_reported() -> None:
    result = import_crontab("@every 5m /bin/true\n* * * /bin/true\n")
    assert [w.split(": ")[1] for w in result.warnings] == ["not a cron line", "not a cron line"]
    assert "jobs" not in tomllib.loads(result.toml)


# --- issue 16, bug 9 ------------------------------------------------------------------------


def test_import_exits_1_when_no_line_could_be_converted(
    tmp_path: Path, clockd_bin: list[str]
) -> None:
    crontab = tmp_path / "crontab"
    crontab.write_text("@reboot /usr/bin/x\n0 0 30 2 * /usr/bin/y\n")
    done = subprocess.run(
        [*clockd_bin, "import-crontab", str(crontab)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert (
        done.stderr.splitlines()[-1] == f"clockd: {crontab}: no line could be converted (2 refused)"
    )
    kept = crontab.read_text().replace(
        "@reboot /usr/bin/x\n", "@reboot /usr/bin/x\n5 4 * * * /usr/bin/z\n"
    )
    crontab.write_text(kept)
    partly = subprocess.run(
        [*clockd_bin, "import-crontab", str(crontab)], capture_output=True, text=True
    )
    assert partly.returncode == 0, partly.stderr


def test_system_import_warns_that_jobs_run_as_the_daemons_user(
    tmp_path: Path, clockd_bin: list[str]
) -> None:
    crontab = tmp_path / "crontab"
    crontab.write_text("0 6 * * * root /usr/bin/backup\n*/5 * * * * www-data /usr/bin/poll\n")
    done = subprocess.run(
        [*clockd_bin, "import-crontab", "--system", "--timezone", "UTC", str(crontab)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"warning: {crontab}: its lines ran as 'root', 'www-data'; clockd runs every job as "
        "the daemon's own user: check that it may do what they did (the user is kept as a "
        "comment on each clock)\n"
    )


def test_jobs_only_leaves_out_daemon_and_names_each_clocks_zone(tmp_path: Path) -> None:
    result = import_crontab(
        "0 6 * * * /usr/bin/backup\nCRON_TZ=Asia/Tokyo\n0 9 * * * /usr/bin/report\n",
        timezone="Europe/Berlin",
        jobs_only=True,
    )
    document = tomllib.loads(result.toml)
    assert "daemon" not in document
    assert [c["timezone"] for job in document["jobs"].values() for c in job["clocks"]] == [
        "Europe/Berlin",
        "Asia/Tokyo",
    ]
    # pasted below a config's own [daemon] table, it passes check
    config = tmp_path / "clockd.toml"
    config.write_text('[daemon]\ntimezone = "UTC"\nlisten = ""\n\n' + result.toml)
    assert set(load_config(config).jobs) == {"backup", "report"}
