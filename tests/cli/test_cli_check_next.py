"""`clockd check` and `clockd next` as a user runs them: output, exit codes, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scheduler.cli import main
from tests.conftest import ROOT

BERLIN = """
[daemon]
timezone = "Europe/Berlin"

[jobs.report]
command = ["python3", "report.py", "--x", "{{ x }}"]

[jobs.report.parameters.x]
type = "integer"

[jobs.report.parameters.day]
type = "date"
default = "{{ scheduled_time.subtract(days=1).to_date_string() }}"

[jobs.report.parameters.key]
type = "string"
secret = true
default = "env:REPORT_KEY"

[[jobs.report.clocks]]
name = "nightly"
cron = "30 2 * * *"
parameters = { x = 1 }

[[jobs.report.clocks]]
name = "hourly"
cron = "0 * * * *"
parameters = { x = 2 }

[[jobs.report.clocks]]
name = "half-hourly"
cron = "*/30 * * * *"
parameters = { x = 3 }
enabled = false

[jobs.world]
command = ["true"]

[[jobs.world.clocks]]
name = "tokyo"
cron = "0 9 * * *"
timezone = "Asia/Tokyo"

[[jobs.world.clocks]]
name = "new-york"
cron = "0 9 * * *"
timezone = "America/New_York"

[jobs.poll]
command = ["true"]

[[jobs.poll.clocks]]
name = "every-5m"
interval = "5m"
"""


def clockd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def berlin(tmp_path: Path) -> str:
    path = tmp_path / "clockd.toml"
    path.write_text(BERLIN)
    return str(path)


def fires(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = clockd(capsys, "next", *args, "--json")
    assert code == 0, err
    return json.loads(out)


# --- check --------------------------------------------------------------------------


def test_check_counts_jobs_and_clocks(capsys: pytest.CaptureFixture[str], berlin: str) -> None:
    assert clockd(capsys, "check", "-c", berlin) == (0, "3 jobs, 6 clocks OK\n", "")


def test_check_takes_the_config_as_an_argument(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    assert clockd(capsys, "check", berlin)[:2] == (0, "3 jobs, 6 clocks OK\n")


def test_check_refuses_two_different_configs(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    code, _, err = clockd(capsys, "check", berlin, "-c", "other.toml")
    assert code == 2
    assert "two configs given" in err


def test_check_reports_every_problem_on_stderr_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("clockd.toml").write_text(
        '[jobs.a]\ncommand = ["true"]\nretires = 1\n[[jobs.a.clocks]]\ncron = "61 * * * *"\n'
    )
    code, out, err = clockd(capsys, "check")  # found as ./clockd.toml
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "clockd.toml: jobs.a: unknown key 'retires' (did you mean 'retries'?)",
        "clockd.toml: jobs.a.clocks[0]: invalid cron expression '61 * * * *': minute 61 is out of range 0-59",
    ]


def test_check_warns_about_a_template_inside_a_shell_script_and_still_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("clockd.toml").write_text(
        '[jobs.echo]\ncommand = ["sh", "-c", "echo {{ msg }}"]\n'
        'on_failure = ["/bin/bash", "-lc", "notify \'{{ error }}\'"]\n'
        '[jobs.echo.parameters.msg]\ntype = "string"\ndefault = "hi"\n'
        '[jobs.safe]\ncommand = ["sh", "-c", "echo \\"$1\\"", "sh", "{{ job }}"]\n'
    )
    code, out, err = clockd(capsys, "check")
    assert (code, out) == (0, "2 jobs, 0 clocks OK\n")
    assert err.splitlines() == [
        "warning: clockd.toml: jobs.echo.command[2]: a template inside the script of 'sh -c' is "
        "injectable: a value with a quote, ';' or '$(...)' runs as shell code; pass it as an "
        'argument of the script instead: ["sh", "-c", "echo \\"$1\\"", "sh", "{{ msg }}"]',
        "warning: clockd.toml: jobs.echo.on_failure[2]: a template inside the script of 'bash -lc' "
        "is injectable: a value with a quote, ';' or '$(...)' runs as shell code; pass it as an "
        'argument of the script instead: ["/bin/bash", "-lc", "notify \\"$1\\"", "bash", "{{ error }}"]',
    ]


def test_check_names_a_missing_config_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.toml"
    assert clockd(capsys, "check", "-c", str(missing)) == (
        1,
        "",
        f"clockd: config file '{missing}' (from --config) does not exist\n",
    )


EXAMPLES = sorted((ROOT / "config").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_config_passes_check(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = clockd(capsys, "check", str(path))
    assert code == 0
    # The examples name programs of their own world (post-message, /opt/catalogue/...):
    # only "missing on this machine" warnings, never a problem or another warning.
    for line in err.splitlines():
        assert line.startswith("warning: config/"), line
        assert line.endswith(
            ("is not an executable file on this machine", "(the PATH its runs get)")
        ), line
    assert out.endswith(("clocks OK\n", "clock OK\n"))


# --- next ---------------------------------------------------------------------------


def test_next_follows_berlin_spring_forward(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET (+01:00) jumps to 03:00 CEST (+02:00).
    # "30 2 * * *" is fixed-time: 02:30 does not exist, it fires once right after the gap.
    # "0 * * * *" is wildcard: the skipped 02:00 does not fire.
    result = fires(capsys, "report", "-c", berlin, "--after", "2026-03-29T00:00:00", "-n", "5")
    day = "2026-03-28"
    assert result == [
        {"time": "2026-03-29T01:00:00+01:00", "clock": "hourly", "parameters": {"x": 2, "day": day, "key": "***"}},
        {"time": "2026-03-29T03:00:00+02:00", "clock": "nightly", "parameters": {"x": 1, "day": day, "key": "***"}},
        {"time": "2026-03-29T03:00:00+02:00", "clock": "hourly", "parameters": {"x": 2, "day": day, "key": "***"}},
        {"time": "2026-03-29T04:00:00+02:00", "clock": "hourly", "parameters": {"x": 2, "day": day, "key": "***"}},
        {"time": "2026-03-29T05:00:00+02:00", "clock": "hourly", "parameters": {"x": 2, "day": day, "key": "***"}},
    ]  # fmt: skip


def test_next_follows_berlin_fall_back_for_a_named_clock(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST (+02:00) goes back to 02:00 CET (+01:00).
    # "*/30 * * * *" is wildcard: both passes of the repeated hour fire. The clock is
    # disabled, so it is listed only when named.
    result = fires(
        capsys,
        "report",
        "-c",
        berlin,
        "--clock",
        "half-hourly",
        "--after",
        "2026-10-25T01:45",
        "-n",
        "5",
    )
    assert [(f["time"], f["clock"]) for f in result] == [
        ("2026-10-25T02:00:00+02:00", "half-hourly"),
        ("2026-10-25T02:30:00+02:00", "half-hourly"),
        ("2026-10-25T02:00:00+01:00", "half-hourly"),
        ("2026-10-25T02:30:00+01:00", "half-hourly"),
        ("2026-10-25T03:00:00+01:00", "half-hourly"),
    ]
    assert {f["parameters"]["day"] for f in result} == {"2026-10-24"}


def test_next_fixed_time_fires_once_in_the_repeated_hour(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    result = fires(
        capsys, "report", "-c", berlin, "--clock", "nightly", "--after", "2026-10-25", "-n", "2"
    )
    assert [f["time"] for f in result] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_next_reads_a_naive_after_in_each_clocks_own_zone(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    # 08:00 in Tokyo and 08:00 in New York: each clock's next 09:00 is that same day.
    result = fires(
        capsys, "world", "-c", berlin, "--clock", "tokyo", "--after", "2026-06-01T08:00", "-n", "1"
    ) + fires(
        capsys,
        "world",
        "-c",
        berlin,
        "--clock",
        "new-york",
        "--after",
        "2026-06-01T08:00",
        "-n",
        "1",
    )
    assert [f["time"] for f in result] == ["2026-06-01T09:00:00+09:00", "2026-06-01T09:00:00-04:00"]


def test_next_merges_clocks_of_different_zones_with_a_naive_after(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    # Tokyo's 09:00 on June 1st is 00:00Z, New York's is 13:00Z; Tokyo's next is June 2nd 00:00Z.
    result = fires(capsys, "world", "-c", berlin, "--after", "2026-06-01T08:00", "-n", "3")
    assert [(f["time"], f["clock"]) for f in result] == [
        ("2026-06-01T09:00:00+09:00", "tokyo"),
        ("2026-06-01T09:00:00-04:00", "new-york"),
        ("2026-06-02T09:00:00+09:00", "tokyo"),
    ]


def test_next_merges_clocks_in_time_order_after_an_instant(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    result = fires(capsys, "report", "-c", berlin, "--after", "2026-03-29T00:30:00Z", "-n", "3")
    # 00:30Z is 01:30+01:00: the hourly fire at 01:00 is before it, then the gap.
    assert [(f["time"], f["clock"]) for f in result] == [
        ("2026-03-29T03:00:00+02:00", "nightly"),
        ("2026-03-29T03:00:00+02:00", "hourly"),
        ("2026-03-29T04:00:00+02:00", "hourly"),
    ]


def test_next_lists_fires_strictly_after(capsys: pytest.CaptureFixture[str], berlin: str) -> None:
    result = fires(
        capsys,
        "report",
        "-c",
        berlin,
        "--clock",
        "hourly",
        "--after",
        "2026-06-01T10:00",
        "-n",
        "1",
    )
    assert result[0]["time"] == "2026-06-01T11:00:00+02:00"


def test_next_anchors_an_interval_without_start_at_now_and_says_so(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    code, out, err = clockd(capsys, "next", "poll", "-c", berlin, "--json", "-n", "2")
    assert code == 0
    assert "clock 'every-5m' has no start: anchored at now" in err
    first, second = (json.loads(out)[i]["time"] for i in range(2))
    from datetime import datetime, timedelta

    assert datetime.fromisoformat(second) - datetime.fromisoformat(first) == timedelta(minutes=5)


def test_next_prints_a_table_for_people(capsys: pytest.CaptureFixture[str], berlin: str) -> None:
    code, out, _ = clockd(
        capsys, "next", "report", "-c", berlin, "--after", "2026-03-29T00:00:00", "-n", "2"
    )
    assert code == 0
    assert "2026-03-29T01:00:00+01:00" in out
    assert "nightly" in out
    assert "key=***" in out
    assert "REPORT_KEY" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "clockd: unknown job 'nope': the jobs are poll, report, world\n"),
        (
            ["report", "--clock", "weekly"],
            "clockd: job 'report' has no clock 'weekly': its clocks are nightly, hourly, half-hourly\n",
        ),
    ],
    ids=["job", "clock"],
)
def test_next_names_the_known_jobs_and_clocks(
    capsys: pytest.CaptureFixture[str], berlin: str, args: list[str], message: str
) -> None:
    assert clockd(capsys, "next", *args, "-c", berlin) == (1, "", message)


def test_next_refuses_a_bad_after_as_a_usage_error(
    capsys: pytest.CaptureFixture[str], berlin: str
) -> None:
    code, _, err = clockd(capsys, "next", "report", "-c", berlin, "--after", "tomorrow")
    assert code == 2
    assert "'tomorrow' is not a date or date-time" in err


# --- start-up cost ------------------------------------------------------------------

SERVER_SIDE = {"apscheduler", "starlette", "uvicorn", "httpx", "sqlite_utils", "prometheus_client"}


def imported_by(args: list[str]) -> set[str]:
    """Top-level module names imported by `clockd ARGS` in a fresh interpreter."""
    code = (
        "import sys, json\n"
        "from scheduler.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('MODULES=' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(json.loads(result.stderr.rsplit("MODULES=", 1)[1]))


def test_help_imports_no_heavy_library() -> None:
    heavy = SERVER_SIDE | {"croniter", "jinja2", "pendulum", "rich"}
    assert not heavy & imported_by(["--help"])


def test_check_and_next_json_import_nothing_of_the_server(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(BERLIN)
    for args in (["check", str(path)], ["next", "report", "-c", str(path), "--json"]):
        modules = imported_by(args)
        assert "clocks" in modules  # the command did run
        assert not (SERVER_SIDE | {"rich"}) & modules, args


def test_next_imports_rich_only_for_its_table(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(BERLIN)
    assert "rich" in imported_by(["next", "report", "-c", str(path)])


def test_next_names_the_fire_whose_parameters_do_not_resolve(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Valid now (the sample fire renders), refused for the first fire in 2030.
    path = tmp_path / "clockd.toml"
    path.write_text(
        '[jobs.a]\ncommand = ["true"]\n[jobs.a.parameters.n]\ntype = "integer"\n'
        'default = "{{ 1 // (scheduled_time.year - 2030) }}"\n'
        '[[jobs.a.clocks]]\nname = "daily"\ncron = "0 0 * * *"\n'
    )
    code, out, err = clockd(capsys, "next", "a", "-c", str(path), "--after", "2029-12-30T12:00")
    assert (code, out) == (1, "")
    assert err.startswith(
        "clockd: job 'a': clock 'daily': a fire after 2029-12-31T00:00:00+00:00 cannot get its "
        "parameters: parameter 'n': dynamic value"
    )
    assert len(err.splitlines()) == 1


def test_check_reads_clockd_config_from_the_environment(
    capsys: pytest.CaptureFixture[str], berlin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOCKD_CONFIG", berlin)
    assert clockd(capsys, "check") == (0, "3 jobs, 6 clocks OK\n", "")


def test_next_of_a_job_without_clocks_is_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(
        '[jobs.manual]\ncommand = ["true"]\n[jobs.manual.parameters.x]\ntype = "integer"\n'
    )
    code, out, err = clockd(capsys, "next", "manual", "-c", str(path), "--json")
    assert (code, json.loads(out)) == (0, [])
    assert "job 'manual' has no clocks: it runs only when triggered" in err


# --- issue 16: every problem of a clock, counts, JSON, this machine -------------------------


def test_check_reports_every_problem_of_one_clock(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(
        textwrap.dedent(
            """
            [jobs.report]
            command = ["echo", "{{ x }}"]

            [jobs.report.parameters.x]
            type = "integer"
            minimum = 0

            [[jobs.report.clocks]]
            name = "a"
            at = ["2030-01-01T00:00:00Z"]
            parameters = { x = -1, dummy = 2 }

            [[jobs.report.clocks]]
            name = "b"
            cron = "61 * * * *"
            retires = 3
            parameters = { x = 1 }
            """
        )
    )
    code, _, err = clockd(capsys, "check", str(path))
    assert code == 1
    assert err.splitlines() == [
        f'{path}: jobs.report.clocks[0] ("a"): unexpected parameters: dummy',
        f"{path}: jobs.report.clocks[0] (\"a\"): parameter 'x': -1 is less than the minimum "
        "of 0 (for a fire at 2030-01-01T00:00:00+00:00)",
        f"{path}: jobs.report.clocks[1] (\"b\"): unknown key 'retires': allowed keys are name, "
        "interval, cron, at, rrule, timezone, start, end, parameters, catchup, jitter, enabled, "
        "labels, calendar, on_closed_day, between, exclude",
        f"{path}: jobs.report.clocks[1] (\"b\"): invalid cron expression '61 * * * *': "
        "minute 61 is out of range 0-59",
    ]


def test_check_says_1_job_and_1_clock(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text('[jobs.a]\ncommand = ["true"]\n[[jobs.a.clocks]]\ncron = "0 6 * * *"\n')
    assert clockd(capsys, "check", str(path))[1] == "1 job, 1 clock OK\n"


def test_check_warns_about_what_this_machine_lacks_and_still_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text(
        '[jobs.a]\ncommand = ["no-such-program-of-clockd"]\nworkdir = "gone"\n'
        '[jobs.b]\ncommand = ["./local.sh"]\n'
        '[jobs.c]\ncommand = ["sh", "-c", "true"]\n'
        '[jobs.d]\ncommand = ["clockd", "trigger", "c"]\n'
    )
    code, out, err = clockd(capsys, "check", str(path))
    assert (code, out) == (0, "4 jobs, 0 clocks OK\n")
    assert err.splitlines() == [
        f"warning: {path}: jobs.a.workdir: '{tmp_path / 'gone'}' is not a folder on this machine",
        f"warning: {path}: jobs.a.command[0]: 'no-such-program-of-clockd' is not found on this "
        "machine's PATH (the PATH its runs get)",
        f"warning: {path}: jobs.b.command[0]: './local.sh' is not an executable file on this "
        "machine",
    ]


def test_check_json_gives_every_problem_and_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text('[jobs.a]\ncommand = ["true"]\nretires = 1\n[jobs.b]\nnope = 1\n')
    code, out, _ = clockd(capsys, "check", str(path), "--json")
    assert code == 1
    answer = json.loads(out)
    assert answer["ok"] is False
    assert [p["path"] for p in answer["problems"]] == ["jobs.a", "jobs.b", "jobs.b"]
    assert answer["problems"][0]["text"] == (
        f"{path}: jobs.a: unknown key 'retires' (did you mean 'retries'?)"
    )
    path.write_text('[jobs.a]\ncommand = ["no-such-program-of-clockd"]\n')
    code, out, _ = clockd(capsys, "check", str(path), "--json")
    answer = json.loads(out)
    assert (code, answer["ok"], answer["jobs"], answer["clocks"]) == (0, True, 1, 0)
    assert [w["path"] for w in answer["warnings"]] == ["jobs.a.command[0]"]
