"""Loading a valid config: where it is found, what the frozen models hold, includes and paths."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.config import find_config_path, load_config
from scheduler.config.keys import CLOCK_KEYS, DAEMON_KEYS, JOB_KEYS
from scheduler.errors import UserError
from scheduler.problems import ConfigError

NOW = datetime(2026, 3, 1, tzinfo=UTC)

FULL = """
[daemon]
database = "state/clockd.db"
timezone = "Europe/Berlin"
listen = "0.0.0.0:9000"
token_file = "secrets/token"
max_concurrent_runs = 4
shutdown_grace = "1m"
log_format = "json"
include = ["jobs.d/*.toml"]
catchup_limit = 10

[jobs.report]
description = "Build the sales report"
command = ["python3", "report.py", "--x", "{{ x }}", "--day", "{{ day }}"]
workdir = "work"
env = { REPORT_BUCKET = "s3://example" }
timeout = "10m"
retries = 2
retry_delay = "30s"
max_active_runs = 3
overlap = "queue"
run_name = "report-{{ x }}"
on_failure = ["notify-send", "failed {{ parameters.x }}"]

[jobs.report.parameters.x]
type = "integer"
minimum = 0

[jobs.report.parameters.day]
type = "date"
default = "{{ scheduled_time.subtract(days=1).to_date_string() }}"

[[jobs.report.clocks]]
interval = "1m"
parameters = { x = 9 }

[[jobs.report.clocks]]
name = "large"
cron = "30 2 * * *"
start = 2026-03-29T02:30:00
end = "2027-01-01"
catchup = "all"
jitter = "5s"
parameters = { x = 99 }

[[jobs.report.clocks]]
name = "offset"
interval = "1h"
start = "2026-01-01T00:00:00-05:00"
timezone = "America/New_York"
enabled = false
parameters = { x = 1 }

[[jobs.report.clocks]]
name = "year-end"
at = ["2026-12-31T23:00:00", 2027-12-31T23:00:00+00:00]
parameters = { x = 1 }

# A required parameter and no clocks: valid, it can only be triggered with a value.
[jobs.manual]
target = "mypkg.tasks:rebuild"
python = "/opt/venv/bin/python"

[jobs.manual.parameters.index]
type = "string"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "jobs.d").mkdir()
    (tmp_path / "jobs.d" / "cleanup.toml").write_text(
        '[jobs.cleanup]\ncommand = ["purge"]\nworkdir = "data"\n'
        '[[jobs.cleanup.clocks]]\ncron = "@daily"\n'
    )
    path = tmp_path / "clockd.toml"
    path.write_text(FULL)
    return path


def test_it_builds_daemon_settings_with_paths_relative_to_the_file(config_file: Path) -> None:
    daemon = load_config(config_file, environ={}, now=NOW).daemon
    assert daemon.database == str(config_file.parent / "state" / "clockd.db")
    assert daemon.token_file == config_file.parent / "secrets" / "token"
    assert daemon.timezone == "Europe/Berlin"
    assert daemon.listen == "0.0.0.0:9000"
    assert daemon.max_concurrent_runs == 4
    assert daemon.shutdown_grace == timedelta(minutes=1)
    assert daemon.log_format == "json"
    assert daemon.catchup_limit == 10


def test_daemon_defaults_follow_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text("")
    config = load_config(path, environ={}, now=NOW)
    assert config.jobs == {}
    assert config.daemon.database == str(tmp_path / "clockd.db")
    assert config.daemon.listen == "127.0.0.1:8787"
    assert config.daemon.token_file is None
    assert (config.daemon.max_concurrent_runs, config.daemon.log_format) == (16, "text")
    assert config.daemon.shutdown_grace == timedelta(seconds=30)


def test_it_builds_jobs(config_file: Path) -> None:
    config = load_config(config_file, environ={}, now=NOW)
    assert list(config.jobs) == ["report", "manual", "cleanup"]
    job = config.jobs["report"]
    assert job.command == ("python3", "report.py", "--x", "{{ x }}", "--day", "{{ day }}")
    assert job.target is None
    assert job.workdir == config_file.parent / "work"
    assert job.env == {"REPORT_BUCKET": "s3://example"}
    assert (job.timeout, job.retry_delay) == (timedelta(minutes=10), timedelta(seconds=30))
    assert (job.retries, job.max_active_runs, job.overlap) == (2, 3, "queue")
    assert job.run_name == "report-{{ x }}"
    assert job.on_failure == ("notify-send", "failed {{ parameters.x }}")
    assert job.on_success == ()
    assert job.parameters.names == ("x", "day")
    assert job.source == config_file
    manual = config.jobs["manual"]
    assert (manual.command, manual.target, manual.python) == (
        None,
        "mypkg.tasks:rebuild",
        "/opt/venv/bin/python",
    )
    assert manual.clocks == ()
    assert manual.parameters["index"].required
    assert config.clock_count == 5


def test_clock_names_default_to_clock_n_and_zones_to_the_daemon(config_file: Path) -> None:
    clocks = load_config(config_file, environ={}, now=NOW).jobs["report"].clocks
    assert [c.name for c in clocks] == ["clock-1", "large", "offset", "year-end"]
    assert [c.kind for c in clocks] == ["interval", "cron", "interval", "dates"]
    assert [c.timezone for c in clocks] == [
        "Europe/Berlin",
        "Europe/Berlin",
        "America/New_York",
        "Europe/Berlin",
    ]
    assert clocks[0].parameter_defaults == {"x": 9}
    assert (clocks[1].catchup, clocks[1].jitter) == ("all", timedelta(seconds=5))
    assert clocks[2].enabled is False


def test_an_interval_clock_without_start_stays_unanchored(config_file: Path) -> None:
    clock = load_config(config_file, environ={}, now=NOW).jobs["report"].clocks[0]
    assert clock.start is None


def test_naive_times_are_wall_time_in_the_clock_zone_and_offsets_are_kept(
    config_file: Path,
) -> None:
    clocks = load_config(config_file, environ={}, now=NOW).jobs["report"].clocks
    # Berlin skips 02:00-03:00 on 2026-03-29: a start at 02:30 is 03:00+02:00 = 01:00Z.
    assert clocks[1].start == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # A date-only end is midnight in the clock's zone (CET, +01:00).
    assert clocks[1].end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    # With an offset: taken as given.
    assert clocks[2].start == datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    # Fixed dates: naive = Berlin wall time (+01:00 in winter), aware = as given.
    assert [fire.isoformat() for fire in clocks[3].fires(NOW)] == [
        "2026-12-31T22:00:00+00:00",
        "2027-12-31T23:00:00+00:00",
    ]


def test_included_jobs_resolve_paths_against_their_own_folder(config_file: Path) -> None:
    config = load_config(config_file, environ={}, now=NOW)
    cleanup = config.jobs["cleanup"]
    included = config_file.parent / "jobs.d" / "cleanup.toml"
    assert cleanup.workdir == included.parent / "data"
    assert cleanup.source == included
    assert config.files == (config_file, included)


def test_workdir_defaults_to_the_declaring_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    path.write_text('[jobs.a]\ncommand = ["true"]\n')
    assert load_config(path, environ={}, now=NOW).jobs["a"].workdir == tmp_path


def test_find_config_prefers_the_explicit_path_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text("")
    (tmp_path / "b.toml").write_text("")
    (tmp_path / "clockd.toml").write_text("")
    assert find_config_path("a.toml", {"CLOCKD_CONFIG": "b.toml"}) == Path("a.toml")
    assert find_config_path(None, {"CLOCKD_CONFIG": "b.toml"}) == Path("b.toml")
    assert find_config_path(None, {}) == Path("clockd.toml")


def test_find_config_explains_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        UserError, match=r"config file 'nope.toml' \(from --config\) does not exist"
    ):
        find_config_path("nope.toml", {})
    with pytest.raises(UserError, match=r"from \$CLOCKD_CONFIG"):
        find_config_path(None, {"CLOCKD_CONFIG": "gone.toml"})
    if not Path("/etc/clockd/clockd.toml").exists():
        with pytest.raises(UserError, match="no config file found"):
            find_config_path(None, {})


def test_commands_that_may_do_without_a_config_share_the_same_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler.cli.address import locate_daemon
    from scheduler.config import locate_config

    monkeypatch.chdir(tmp_path)
    if not Path("/etc/clockd/clockd.toml").exists():
        assert locate_config(None, {}) is None
    # `clockd trigger -c nope.toml` says what `clockd check -c nope.toml` says
    with pytest.raises(UserError) as caught:
        locate_daemon(None, "nope.toml", environ={})
    assert caught.value.message == "config file 'nope.toml' (from --config) does not exist"
    (tmp_path / "clockd.toml").write_text('[daemon]\nlisten = "127.0.0.1:9999"\n')
    assert locate_config(None, {}) == Path("clockd.toml")
    assert locate_daemon(None, None, environ={}).url == "http://127.0.0.1:9999"


def test_load_config_uses_clockd_config_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text('[jobs.a]\ncommand = ["true"]\n')
    assert list(load_config(environ={"CLOCKD_CONFIG": str(path)}, now=NOW).jobs) == ["a"]


@pytest.mark.timeout(10)
def test_every_never_firing_expression_is_refused_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "clockd.toml"
    clocks = "".join(
        f'[[jobs.a.clocks]]\ncron = "{expr}"\n'
        for expr in ("0 0 30 2 *", "0 0 31 2,4 *", "0 0 30,31 2 *", "0 0 31 11 *")
    )
    path.write_text('[jobs.a]\ncommand = ["true"]\n' + clocks)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, now=NOW)
    assert len(caught.value.problems) == 4
    assert all("never fires" in p.message for p in caught.value.problems)


# --- any mistake is a Problem, never a traceback ------------------------------------


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


_TEXTS = st.sampled_from(
    ["", "x", "5m", "0s", "1mo", "@daily", "61 * * * *", "0 0 30 2 *", "*/7 * * * *",
     "Europe/Berlin", "Nope/Zone", "2026-03-29T02:30:00", "2026-01-01", "{{ x }}",
     "{{ scheduled_time }}", "{{", "env:X", "allow", "latest", "json", "0.0.0.0:80",
     "integer", "date", "mod:fn"]
)  # fmt: skip
_VALUES = st.recursive(
    st.one_of(
        _TEXTS,
        st.integers(-3, 100),
        st.booleans(),
        st.floats(-1, 10, allow_nan=False),
        st.just(datetime(2026, 3, 29, 2, 30)),
        st.just(date(2026, 1, 1)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["x", "type", "default", "secret"]), inner, max_size=3),
    ),
    max_leaves=6,
)


def _tables(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(st.sampled_from([*keys, "bogus"]), _VALUES, max_size=6)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    daemon=_tables(DAEMON_KEYS),
    job=_tables(tuple(k for k in JOB_KEYS if k not in ("parameters", "clocks"))),
    declaration=st.dictionaries(
        st.sampled_from(["type", "default", "secret", "minimum", "enum"]), _VALUES, max_size=4
    ),
    clocks=st.lists(_tables(CLOCK_KEYS), max_size=3),
)
def test_any_value_anywhere_is_a_problem_never_a_crash(
    tmp_path: Path,
    daemon: dict[str, object],
    job: dict[str, object],
    declaration: dict[str, object],
    clocks: list[dict[str, object]],
) -> None:
    lines = ["[daemon]", *(f"{k} = {_toml(v)}" for k, v in daemon.items() if k != "include")]
    lines += ["[jobs.j]", *(f"{k} = {_toml(v)}" for k, v in job.items())]
    lines += ["[jobs.j.parameters.x]", *(f"{k} = {_toml(v)}" for k, v in declaration.items())]
    for clock in clocks:
        lines += ["[[jobs.j.clocks]]", *(f"{k} = {_toml(v)}" for k, v in clock.items())]
    path = tmp_path / "clockd.toml"
    path.write_text("\n".join(lines) + "\n")
    problems: list[str] = []
    try:
        config = load_config(path, environ={}, now=NOW)
    except ConfigError as error:  # anything else fails the test, with its traceback
        problems = [problem.render() for problem in error.problems]
    else:
        assert list(config.jobs) == ["j"]
        return
    assert problems
    assert all(line.startswith(f"{path}: ") for line in problems)
