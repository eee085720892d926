"""Refusal at load time (spec 2.2): every problem, each located by file and key path, worded exactly."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.problems import ConfigError

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
GOLDEN_CASES = sorted(path.stem for path in GOLDEN.glob("*.toml"))


def problems_of(path: Path | str, now: datetime = NOW) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, now=now)
    return [problem.render() for problem in caught.value.problems]


def problems_in(tmp_path: Path, text: str, name: str = "clockd.toml") -> list[str]:
    """The rendered problems of `text` saved as `name`, named as the user would type it."""
    (tmp_path / name).write_text(text)
    return [line.replace(f"{tmp_path}/", "") for line in problems_of(tmp_path / name)]


JOB = '[jobs.report]\ncommand = ["true"]\n'

# (config text, the one expected line), spec 2.2 and its neighbours.
REFUSALS = [
    (
        JOB + "retires = 2\n",
        "clockd.toml: jobs.report: unknown key 'retires' (did you mean 'retries'?)",
    ),
    (
        JOB + 'retries = "two"\n',
        "clockd.toml: jobs.report.retries: expected an integer, got 'two'",
    ),
    (
        JOB
        + '[jobs.report.parameters.x]\ntype = "integer"\n[[jobs.report.clocks]]\ncron = "@daily"\n'
        '[[jobs.report.clocks]]\ninterval = "1m"\nparameters = { x = 1 }\n'
        '[[jobs.report.clocks]]\nname = "nightly"\ncron = "0 2 * * *"\nparameters = { x = 2 }\n',
        "clockd.toml: jobs.report.clocks[0]: required parameter 'x' has no default; give it a default "
        "under [jobs.report.parameters.x] or set it in this clock's parameters",
    ),
    (
        JOB
        + '[[jobs.report.clocks]]\nname = "small"\ninterval = "1m"\nparameters = { dummy = 1 }\n',
        'clockd.toml: jobs.report.clocks[0] ("small"): unexpected parameters: dummy',
    ),
    (
        JOB + '[[jobs.report.clocks]]\ncron = "61 * * * *"\n',
        "clockd.toml: jobs.report.clocks[0]: invalid cron expression '61 * * * *': minute 61 is out of range 0-59",
    ),
    (
        '[jobs.report]\ndescription = "x"\n',
        "clockd.toml: jobs.report: needs a command (argv array) or a target ('module:function'): neither given",
    ),
    (
        JOB + 'target = "pkg.mod:run"\n',
        "clockd.toml: jobs.report: has both command and target: give exactly one",
    ),
    (
        '[jobs.report]\ncommand = ["python3", 3]\n',
        "clockd.toml: jobs.report.command[1]: expected a string, got 3",
    ),
    (
        JOB + 'overlap = "sometimes"\n',
        "clockd.toml: jobs.report.overlap: 'sometimes' is not allowed: use allow, skip or queue",
    ),
    (
        JOB + '[[jobs.report.clocks]]\ncron = "@daily"\ncatchup = "never"\n',
        "clockd.toml: jobs.report.clocks[0]: catchup: 'never' is not allowed: use none, latest or all",
    ),
    (
        '[daemon]\nlog_format = "xml"\n',
        "clockd.toml: daemon.log_format: 'xml' is not allowed: use text or json",
    ),
    (
        JOB + '[[jobs.report.clocks]]\ninterval = "5 parsecs"\n',
        "clockd.toml: jobs.report.clocks[0]: interval: invalid interval '5 parsecs': use a number and a unit "
        "(30s, 5m, 2h, 1d, 1w) or ISO 8601 (PT5M, P1D, P1M)",
    ),
    (
        JOB + 'timeout = "1mo"\n',
        "clockd.toml: jobs.report.timeout: duration '1mo' has months or years, which have no fixed length: use days or weeks",
    ),
    (
        JOB + '[[jobs.report.clocks]]\nname = "a"\n',
        'clockd.toml: jobs.report.clocks[0] ("a"): needs exactly one of interval, cron, at or rrule: none given',
    ),
    (
        JOB + '[[jobs.report.clocks]]\ncron = "@daily"\nat = ["2026-01-01T00:00:00"]\n',
        "clockd.toml: jobs.report.clocks[0]: needs exactly one of interval, cron, at or rrule: cron and at given",
    ),
    (
        JOB
        + '[[jobs.report.clocks]]\nname = "a"\ncron = "@daily"\n[[jobs.report.clocks]]\nname = "a"\ncron = "@hourly"\n',
        "clockd.toml: jobs.report.clocks[1] (\"a\"): duplicate clock name 'a': clocks[0] has it already; names are unique within a job",
    ),
    (
        JOB
        + '[[jobs.report.clocks]]\ninterval = "1h"\nstart = "2027-01-01"\nend = 2026-06-01T00:00:00\n',
        "clockd.toml: jobs.report.clocks[0]: start 2027-01-01 is after end 2026-06-01T00:00:00: nothing would fire; swap them or remove end",
    ),
    (
        JOB + '[[jobs.report.clocks]]\ncron = "@daily"\ntimezone = "Europe/Nowhere"\n',
        "clockd.toml: jobs.report.clocks[0]: timezone: unknown time zone 'Europe/Nowhere': use an IANA name "
        "such as 'UTC', 'Europe/Berlin' or 'America/New_York'",
    ),
    (
        '[daemon]\ntimezone = "Mars/Olympus"\n',
        "clockd.toml: daemon.timezone: unknown time zone 'Mars/Olympus': use an IANA name such as 'UTC', "
        "'Europe/Berlin' or 'America/New_York'",
    ),
    (
        JOB + '[[jobs.report.clocks]]\ncron = "0 0 30 2 *"\n',
        "clockd.toml: jobs.report.clocks[0]: invalid cron expression '0 0 30 2 *': never fires: February has no 30th",
    ),
    (
        '[daemon]\nlisten = "0.0.0.0:8787"\n',
        "clockd.toml: daemon.listen: '0.0.0.0:8787' is not a loopback address and no token_file is set: the daemon "
        "refuses to serve its API unauthenticated; set daemon.token_file or listen on 127.0.0.1",
    ),
    (
        '[daemon]\nlisten = "8787"\n',
        "clockd.toml: daemon.listen: invalid address '8787': use HOST:PORT such as '127.0.0.1:8787' or "
        "'[::1]:8787', or \"\" to turn the API off",
    ),
    (
        "[daemon]\nmax_concurrent_runs = 0\n",
        "clockd.toml: daemon.max_concurrent_runs: 0 is too small: the minimum is 1",
    ),
    (
        JOB + "retries = -1\n",
        "clockd.toml: jobs.report.retries: -1 is too small: the minimum is 0",
    ),
    (
        JOB + '[jobs.report.parameters.x]\ntype = "integr"\n',
        "clockd.toml: jobs.report.parameters.x: parameter 'x': unknown type 'integr' (did you mean 'integer'?): "
        "one of string, integer, number, boolean, date, datetime, array, object",
    ),
    (
        JOB + '[jobs.report.parameters.x]\ntype = "integer"\nminimum = 0\n'
        '[[jobs.report.clocks]]\ncron = "0 0 * * *"\nparameters = { x = "{{ scheduled_time.day * -1 }}" }\n',
        # The sample fire: the first after "now" (2026-03-01T00:00Z) is 2026-03-02 00:00.
        "clockd.toml: jobs.report.clocks[0]: parameter 'x': -2 is less than the minimum of 0 "
        "(for a fire at 2026-03-02T00:00:00+00:00)",
    ),
    (
        JOB + '[jobs.report.parameters.key]\ntype = "string"\nsecret = true\n'
        '[[jobs.report.clocks]]\ncron = "@daily"\nparameters = { key = "hunter2" }\n',
        "clockd.toml: jobs.report.clocks[0]: secret parameter 'key' takes a reference (env:NAME or file:PATH), never a value",
    ),
    (
        JOB + '[jobs.report.parameters.key]\ntype = "string"\nsecret = true\n'
        'default = "env:A_KEY"\nreferences = ["env:B_KEY"]\n',
        "clockd.toml: jobs.report.parameters.key: secret parameter 'key': default 'env:A_KEY' is not one "
        "of its references; add it to references (or remove references to allow the default only)",
    ),
    (
        JOB + '[jobs.report.parameters.key]\ntype = "string"\nsecret = true\n'
        'references = ["env:B_KEY", "hunter2"]\n',
        "clockd.toml: jobs.report.parameters.key: secret parameter 'key': references[1] is not a "
        "reference: write env:NAME or file:PATH",
    ),
    (
        JOB + '[jobs.report.parameters.key]\ntype = "string"\nreferences = ["env:B_KEY"]\n',
        "clockd.toml: jobs.report.parameters.key: parameter 'key': references apply only to a secret "
        "parameter (secret = true)",
    ),
    (
        # The payload as a default is rendered once under the template budget.
        JOB + '[jobs.report.parameters.msg]\ntype = "string"\n'
        "default = \"{% set x = range(20000)|list %}{% for i in x %}{{ x|join(',')|length }}{% endfor %}\"\n"
        '[[jobs.report.clocks]]\nname = "every"\ncron = "@daily"\n',
        "clockd.toml: jobs.report.clocks[0] (\"every\"): parameter 'msg': dynamic value "
        "'{% set x = range(20000)|list %}{% for i… %}{{ x|join(',')|length }}{% endfor %}' does not render: "
        "it needs more than the 50,000 steps a template may take (loop passes, calls and the size "
        "of what they work on) (for a fire at 2026-03-02T00:00:00+00:00)",
    ),
    (
        # a job without clocks: its defaults are checked at the parameter
        JOB + '[jobs.report.parameters.msg]\ntype = "string"\n'
        "default = \"{{ 'x'.center(10 ** 9) }}\"\n",
        "clockd.toml: jobs.report.parameters.msg: parameter 'msg': dynamic value "
        "'{{ 'x'.center(10 ** 9) }}' does not render: it would build a text of 1,000,000,001 "
        "characters, over the 1,048,576 a template may produce",
    ),
    (
        "[jobs]\nreport = 3\n",
        "clockd.toml: jobs.report: expected a table [jobs.report], got 3",
    ),
    (
        JOB + '[jobs.report.clocks]\ncron = "@daily"\n',
        "clockd.toml: jobs.report.clocks: expected an array of tables (write [[jobs.report.clocks]]), got a table",
    ),
    (
        '[jobs.report]\ncommand = ["report.py", "--day", "{{ dya }}"]\n'
        '[jobs.report.parameters.day]\ntype = "date"\ndefault = "2026-01-01"\n',
        "clockd.toml: jobs.report.command[2]: dynamic value '{{ dya }}' does not render: 'dya' is undefined",
    ),
    (
        JOB + 'on_failure = ["notify", "{{ error }} {{ state }} {{ parameters }} {{ oops }}"]\n',
        "clockd.toml: jobs.report.on_failure[1]: dynamic value '{{ error }} {{ state }} {{ parameters }} "
        "{{ oops }}' does not render: 'oops' is undefined",
    ),
    (
        '[daemon]\ninclude = ["missing.toml"]\n',
        "clockd.toml: daemon.include: included file 'missing.toml' does not exist",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    REFUSALS,
    ids=[expected.split(": ", 2)[-1][:50] for _, expected in REFUSALS],
)
def test_it_refuses_with_the_exact_message(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_in(tmp_path, text) == [expected]


def test_it_reports_all_five_mistakes_of_one_file() -> None:
    lines = problems_of(GOLDEN / "five_mistakes.toml")
    assert len(lines) == 5
    assert [line.split(": ")[1] for line in lines] == [
        "daemon.timezone",
        "jobs.backup.retries",
        "jobs.backup.overlap",
        'jobs.backup.clocks[0] ("nightly")',
        'jobs.backup.clocks[1] ("february")',
    ]


def test_it_reports_toml_syntax_errors_with_line_and_column(tmp_path: Path) -> None:
    text = '[daemon]\ntimezone = "UTC"\n\n[jobs.report]\ncommand = = ["x"]\n'
    assert problems_in(tmp_path, text) == [
        'clockd.toml: line 5, column 11: invalid TOML: invalid value; the line reads: command = = ["x"]'
    ]


def test_it_refuses_an_unknown_top_level_key(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "[job.report]\ncommand = ['x']\n") == [
        "clockd.toml: unknown key 'job' (did you mean 'jobs'?)"
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    lines = problems_in(tmp_path, JOB + "[[jobs.report.clocks]]\ncron = '@daily'\nzzz = 1\n")
    assert lines == [
        "clockd.toml: jobs.report.clocks[0]: unknown key 'zzz': allowed keys are name, interval, cron, at, "
        "rrule, timezone, start, end, parameters, catchup, jitter, enabled, labels, calendar, "
        "on_closed_day, between, exclude"
    ]


def test_it_refuses_duplicate_jobs_across_included_files(tmp_path: Path) -> None:
    (tmp_path / "jobs.d").mkdir()
    (tmp_path / "jobs.d" / "a.toml").write_text(JOB)
    (tmp_path / "jobs.d" / "b.toml").write_text("[daemon]\n" + JOB)
    (tmp_path / "clockd.toml").write_text('[daemon]\ninclude = ["jobs.d/*.toml"]\n' + JOB)
    lines = [line.replace(f"{tmp_path}/", "") for line in problems_of(tmp_path / "clockd.toml")]
    assert lines == [
        "jobs.d/b.toml: [daemon] settings belong in the main file; an included file holds only [jobs.*] and [calendars.*]",
        "jobs.d/a.toml: jobs.report: job 'report' is already defined in clockd.toml: job names are unique across files",
        "jobs.d/b.toml: jobs.report: job 'report' is already defined in clockd.toml: job names are unique across files",
    ]


def test_a_never_firing_cron_is_refused_quickly(tmp_path: Path) -> None:
    # Bounded: February 30th must not make the search run forever.
    lines = problems_in(tmp_path, JOB + '[[jobs.report.clocks]]\ncron = "0 0 31 4,6,9,11 *"\n')
    assert len(lines) == 1
    assert "never fires" in lines[0]


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_config_problems(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    expected = (GOLDEN / f"{case}.expected").read_text().splitlines()
    assert problems_of(f"{case}.toml") == expected


def test_check_prints_golden_problems_on_stderr_and_exits_1(clockd_bin: list[str]) -> None:
    # Not pinned to NOW: the spec examples hold whatever the date.
    result = subprocess.run(
        [*clockd_bin, "check", "spec_examples.toml"],
        capture_output=True,
        text=True,
        cwd=GOLDEN,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        result.stderr.splitlines() == (GOLDEN / "spec_examples.expected").read_text().splitlines()
    )


def _regenerate() -> None:
    import os

    os.chdir(GOLDEN)
    for case in GOLDEN_CASES:
        try:
            load_config(f"{case}.toml", environ={}, now=NOW)
        except ConfigError as error:
            (GOLDEN / f"{case}.expected").write_text(str(error) + "\n")
            print(f"wrote {case}.expected")


if __name__ == "__main__" and sys.argv[1:] == ["--regenerate"]:
    _regenerate()
