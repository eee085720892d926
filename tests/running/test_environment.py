"""A run's environment, argv, name and template names (scheduler/running/environment.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clocks.cron import CronClock
from clocks.parameters import Parameter, ParameterSet, ResolvedParameters
from clocks.templates import TemplateError
from scheduler.models import Config, DaemonSettings, Job
from scheduler.running.backend import Attempt
from scheduler.running.environment import (
    DaemonEnvironment,
    add_run_variables,
    base_env,
    command_argv,
    env_name,
    hidden_variables,
    hidden_variables_of,
    hook_env,
    run_name,
    template_context,
)
from scheduler.storage.records import RunRecord

SCHEDULED = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def record(**fields: Any) -> RunRecord:
    values: dict[str, Any] = {
        "id": 7,
        "job": "report",
        "clock": None,
        "name": None,
        "trigger": "manual",
        "state": "pending",
        "parameters": {},
        "scheduled_time": SCHEDULED,
        "created_at": SCHEDULED,
        "started_at": None,
        "ended_at": None,
        "attempt": 0,
        "exit_code": None,
        "error": None,
        "parent_id": None,
        "result": None,
        "lateness": None,
        "secret_refs": {},
    }
    values.update(fields)
    return RunRecord(**values)


def job(name: str = "report", parameters: dict[str, Any] | None = None, **fields: Any) -> Job:
    return Job(name=name, parameters=ParameterSet.from_declarations(parameters or {}), **fields)


# --- environment -------------------------------------------------------------------------------


def test_the_base_drops_daemon_channels_stale_run_variables_pg_and_hidden_names() -> None:
    environ = {
        "HOME": "/home/clockd",
        "PATH": "/usr/bin",
        "NOTIFY_SOCKET": "/run/systemd/notify",
        "WATCHDOG_USEC": "30000000",
        "LISTEN_FDS": "2",
        "CLOCKD_RUN_ID": "41",
        "CLOCKD_TOKEN": "parent-token",
        "CLOCKD_PARAM_OLD": "stale",
        "CLOCKD_CONFIG": "/etc/clockd/clockd.toml",
        "PGPASSWORD": "db-secret",
        "PGHOST": "db.example",
        "PGSERVICEFILE": "/etc/pg_service.conf",
        "REPORT_API_KEY": "k-123",
        "OTHER_KEY": "kept",
        "XPG": "not a libpq name",
    }
    env = base_env(environ, {"JOB_LEVEL": "debug"}, frozenset({"REPORT_API_KEY"}))
    assert env == {
        "HOME": "/home/clockd",
        "PATH": "/usr/bin",
        "CLOCKD_CONFIG": "/etc/clockd/clockd.toml",
        "OTHER_KEY": "kept",
        "XPG": "not a libpq name",
        "JOB_LEVEL": "debug",
    }


def test_the_jobs_own_env_wins_over_every_drop() -> None:
    env = base_env({"PGHOST": "daemon-db", "A": "1"}, {"PGHOST": "job-db"}, frozenset())
    assert env == {"A": "1", "PGHOST": "job-db"}


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ("x", "CLOCKD_PARAM_X"),
        ("api_key", "CLOCKD_PARAM_API_KEY"),
        ("day-of-week", "CLOCKD_PARAM_DAY_OF_WEEK"),
        ("a.b c", "CLOCKD_PARAM_A_B_C"),
        ("Größe", "CLOCKD_PARAM_GR__E"),
    ],
    ids=["plain", "underscore", "dash", "dot-and-space", "non-ascii"],
)
def test_parameter_variables_are_upper_case_with_other_characters_as_underscores(
    parameter: str, expected: str
) -> None:
    assert env_name(parameter) == expected


def attempt(**fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "run_id": 7,
        "number": 1,
        "job": "report",
        "clock": "nightly",
        "scheduled_time": SCHEDULED,
        "command": ("true",),
        "parameters": {},
        "env": {},
        "workdir": Path("/srv"),
    }
    values.update(fields)
    return Attempt(**values)


def test_run_variables_hold_each_parameter_and_the_runs_names() -> None:
    env = {"HOME": "/home/clockd"}
    values = {"x": 9, "day": "2026-02-28", "tags": ["a", "b"], "flag": True, "key": "s3cr3t"}
    add_run_variables(env, attempt(api_url="http://127.0.0.1:8787", child_token="tok"), values)
    assert json.loads(env.pop("CLOCKD_PARAMETERS")) == values
    assert env == {
        "HOME": "/home/clockd",
        "CLOCKD_PARAM_X": "9",
        "CLOCKD_PARAM_DAY": "2026-02-28",
        "CLOCKD_PARAM_TAGS": '["a", "b"]',
        "CLOCKD_PARAM_FLAG": "true",
        "CLOCKD_PARAM_KEY": "s3cr3t",
        "CLOCKD_RUN_ID": "7",
        "CLOCKD_JOB": "report",
        "CLOCKD_CLOCK": "nightly",
        "CLOCKD_SCHEDULED_TIME": "2026-03-01T23:30:00+00:00",
        "CLOCKD_API_URL": "http://127.0.0.1:8787",
        "CLOCKD_TOKEN": "tok",
    }


def test_without_api_or_clock_the_run_gets_an_empty_clock_and_no_api_variables() -> None:
    env: dict[str, str] = {}
    add_run_variables(env, attempt(clock=None), {})
    assert env == {
        "CLOCKD_PARAMETERS": "{}",
        "CLOCKD_RUN_ID": "7",
        "CLOCKD_JOB": "report",
        "CLOCKD_CLOCK": "",
        "CLOCKD_SCHEDULED_TIME": "2026-03-01T23:30:00+00:00",
    }


def test_a_hook_gets_the_base_the_masked_parameters_and_the_state() -> None:
    env = hook_env({"HOME": "/h"}, record(clock="c"), {"key": "***", "x": 1}, "failed")
    assert env == {
        "HOME": "/h",
        "CLOCKD_RUN_ID": "7",
        "CLOCKD_JOB": "report",
        "CLOCKD_CLOCK": "c",
        "CLOCKD_SCHEDULED_TIME": "2026-03-01T23:30:00+00:00",
        "CLOCKD_PARAMETERS": '{"key": "***", "x": 1}',
        "CLOCKD_STATE": "failed",
    }


def test_the_daemon_environment_builds_a_jobs_base_once_and_again_after_a_reload() -> None:
    hidden = {"names": frozenset({"A_KEY"})}
    daemon_env = DaemonEnvironment(
        {"A_KEY": "secret", "B": "b", "PGUSER": "clockd"}, lambda: hidden["names"]
    )
    job_env = {"J": "1"}
    first = daemon_env.base("report", job_env)
    assert first == {"B": "b", "J": "1"}
    assert daemon_env.base("report", job_env) is first  # shared by the job's runs
    reloaded = daemon_env.base("report", {"J": "2"})  # a reload: a new Job, a new env dict
    assert reloaded == {"B": "b", "J": "2"}
    hidden["names"] = frozenset({"B"})  # a reload that references another variable
    assert daemon_env.base("report", {"J": "2"}) == {"A_KEY": "secret", "J": "2"}
    assert daemon_env.environ["A_KEY"] == "secret"  # secrets still resolve from all of it


# --- hidden variables ---------------------------------------------------------------------------


def config_of(jobs: list[Job], tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "clockd.toml",
        daemon=DaemonSettings(database=tmp_path / "clockd.db"),
        jobs={j.name: j for j in jobs},
    )


def test_hidden_variables_are_those_the_configs_secret_references_name(tmp_path: Path) -> None:
    report = job(
        "report",
        {
            "api_key": {"type": "string", "secret": True, "default": "env:REPORT_API_KEY"},
            "cert": {"type": "string", "secret": True, "default": "file:/etc/cert.pem"},
            "token": {"type": "string", "secret": True},
            "region": {"type": "string", "default": "env:NOT_A_SECRET"},
        },
        command=("true",),
        clocks=(
            CronClock(
                name="eu",
                expression="0 * * * *",
                parameter_defaults={"token": "env:EU_TOKEN", "region": "eu"},
            ),
        ),
    )
    plain = job("plain", {"x": {"type": "integer", "default": 1}}, command=("true",))
    config = config_of([report, plain], tmp_path)
    assert hidden_variables(config) == frozenset({"REPORT_API_KEY", "EU_TOKEN"})


def test_hidden_variables_include_listed_references_where_parameters_have_them(
    tmp_path: Path,
) -> None:
    """`references` (spec 2.1) comes with another change; read it when a parameter has it."""

    @dataclasses.dataclass(frozen=True)
    class ListingParameter(Parameter):
        references: tuple[str, ...] = ()

    api_key = ListingParameter(
        name="api_key",
        type="string",
        schema={"type": "string"},
        default="env:KEY_US",
        secret=True,
        references=("env:KEY_US", "env:KEY_EU", "file:/k"),
    )
    report = Job(name="report", parameters=ParameterSet([api_key]), command=("true",))
    assert hidden_variables(config_of([report], tmp_path)) == frozenset({"KEY_US", "KEY_EU"})


def test_hidden_variables_of_computes_again_only_for_another_config(tmp_path: Path) -> None:
    secret = {"k": {"type": "string", "secret": True, "default": "env:FIRST"}}
    configs = [config_of([job("a", secret, command=("true",))], tmp_path)]
    hidden = hidden_variables_of(lambda: configs[-1])
    first = hidden()
    assert first == frozenset({"FIRST"})
    assert hidden() is first
    secret_b = {"k": {"type": "string", "secret": True, "default": "env:SECOND"}}
    configs.append(config_of([job("a", secret_b, command=("true",))], tmp_path))
    assert hidden() == frozenset({"SECOND"})


# --- argv, run names, template names -------------------------------------------------------------


def test_argv_items_are_rendered_one_by_one_with_masked_values_and_never_joined() -> None:
    report = job(
        parameters={"x": {"type": "integer"}, "msg": {"type": "string"}, "key": {"type": "string"}},
        command=("report", "--x", "{{ x }}", "{{ msg }}", "--key={{ key }}", "$(touch pwned)"),
    )
    resolved = ResolvedParameters(
        values={"x": 9, "msg": "two words; rm -rf /", "key": "env:K"}, secrets=frozenset({"key"})
    )
    argv = command_argv(report, record(), resolved, "UTC")
    assert list(argv) == [
        "report",
        "--x",
        "9",
        "two words; rm -rf /",
        "--key=***",
        "$(touch pwned)",
    ]


def test_a_command_without_templates_is_the_jobs_own_argv() -> None:
    report = job(command=("report", "--all"))
    assert command_argv(report, record(), ResolvedParameters(values={}), "UTC") is report.command


def test_an_argv_item_that_does_not_render_is_named() -> None:
    report = job(command=("report", "{{ nope }}"))
    with pytest.raises(TemplateError) as raised:
        command_argv(report, record(), ResolvedParameters(values={}), "UTC")
    assert str(raised.value).startswith("command[1]: ")
    assert "nope" in str(raised.value)


def test_run_names_use_the_clocks_zone_and_masked_values() -> None:
    report = job(
        parameters={"x": {"type": "integer"}, "key": {"type": "string", "secret": True}},
        command=("true",),
        run_name="report-{{ x }}-{{ key }}-{{ scheduled_time.format('YYYYMMDD HH:mm') }}",
        clocks=(CronClock(name="berlin", expression="0 * * * *", timezone="Europe/Berlin"),),
    )
    resolved = ResolvedParameters(values={"x": 9, "key": "env:K"}, secrets=frozenset({"key"}))
    assert run_name(report, record(), resolved, "UTC") == "report-9-***-20260301 23:30"
    # 23:30 UTC is 00:30 the next day in Berlin (+01:00 in March before the change)
    by_clock = run_name(report, record(clock="berlin"), resolved, "UTC")
    assert by_clock == "report-9-***-20260302 00:30"


def test_a_run_with_a_name_or_a_job_without_run_name_gets_none() -> None:
    named = job(command=("true",), run_name="n-{{ run_id }}")
    empty = ResolvedParameters(values={})
    assert run_name(named, record(name="given"), empty, "UTC") is None
    assert run_name(job(command=("true",)), record(), empty, "UTC") is None
    assert run_name(named, record(), empty, "UTC") == "n-7"


def test_template_names_let_parameters_win_in_argv_and_the_runs_names_win_in_hooks() -> None:
    masked = {"name": "Ada", "job": "a parameter called job"}
    the_record = record(name="greet-Ada")
    for_argv = template_context(the_record, masked, "UTC")
    assert (for_argv["name"], for_argv["job"]) == ("Ada", "a parameter called job")
    for_hook = template_context(the_record, masked, "UTC", for_hook=True, state="failed")
    assert (for_hook["name"], for_hook["job"], for_hook["state"]) == (
        "greet-Ada",
        "report",
        "failed",
    )
    assert for_hook["parameters"] == masked
    assert (for_hook["run_id"], for_hook["clock"]) == (7, None)
