"""on_success / on_failure hooks (scheduler/running/hooks.py) with real processes."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clocks.parameters import ParameterSet, ResolvedParameters
from scheduler.models import Job, RunState
from scheduler.running.backend import Outcome
from scheduler.running.environment import DaemonEnvironment
from scheduler.running.hooks import after_run, hook_for, run_hook
from scheduler.running.masking import Masker
from scheduler.timesource import FixedTime
from tests.running.test_environment import record

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Log:
    """A run's line sink: (time, stream, text) as the write-behind gets them."""

    def __init__(self) -> None:
        self.lines: list[tuple[datetime, str, str]] = []

    def __call__(self, moment: datetime, stream: str, text: str) -> None:
        self.lines.append((moment, stream, text))

    @property
    def texts(self) -> list[str]:
        return [text for _, _, text in self.lines]


def hook(templates: tuple[str, ...], *, timeout: float = 10, **options: Any) -> Log:
    log = Log()
    options.setdefault("context", dict)
    options.setdefault("env", {"PATH": "/usr/bin:/bin"})
    options.setdefault("cwd", None)
    asyncio.run(
        run_hook("on_failure", templates, log=log, timeout=timedelta(seconds=timeout), **options)
    )
    return log


def test_a_hooks_output_becomes_clockd_lines_named_for_the_hook() -> None:
    log = hook(("sh", "-c", "echo one; echo two >&2"))
    assert sorted(log.texts) == ["on_failure: one", "on_failure: two"]
    assert {stream for _, stream, _ in log.lines} == {"clockd"}


def test_a_hooks_output_is_masked_with_the_runs_masker() -> None:
    log = hook(("echo", "token=tok-12345"), masker=Masker(["tok-12345"]))
    assert log.texts == ["on_failure: token=***"]


def test_a_failing_hook_is_noted_with_its_exit_and_the_time_source() -> None:
    log = hook(("sh", "-c", "exit 7"), time_source=FixedTime(NOW))
    assert log.lines == [(NOW, "clockd", "[clockd: on_failure: hook failed: exit code 7]")]


def test_a_hook_that_cannot_start_is_noted(tmp_path: Path) -> None:
    log = hook((str(tmp_path / "missing"),))
    assert log.texts == [
        f"[clockd: on_failure: hook could not start '{tmp_path / 'missing'}': "
        "No such file or directory]"
    ]


def test_a_hook_that_does_not_render_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    log = hook(("touch", str(marker), "{{ nope }}"))
    assert not marker.exists()
    (text,) = log.texts
    assert text.startswith("[clockd: on_failure: hook not run: on_failure[2]: ")


def test_a_hook_past_its_timeout_is_killed(tmp_path: Path) -> None:
    log = hook(("sleep", "30"), timeout=0.2)
    assert log.texts == ["[clockd: on_failure: hook killed after 0.2s]"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (RunState.succeeded, ("on_success", ("ok",))),
        (RunState.failed, ("on_failure", ("bad",))),
        (RunState.timed_out, ("on_failure", ("bad",))),
        (RunState.cancelled, None),
        (RunState.skipped, None),
        (RunState.crashed, None),
    ],
    ids=lambda value: getattr(value, "value", None) or "",
)
def test_which_hook_follows_which_final_state(
    state: RunState, expected: tuple[str, tuple[str, ...]] | None
) -> None:
    job = Job(
        name="j",
        parameters=ParameterSet(),
        command=("true",),
        on_success=("ok",),
        on_failure=("bad",),
    )
    assert hook_for(job, state) == expected


def test_after_run_gives_the_hook_the_runs_names_environment_and_workdir(tmp_path: Path) -> None:
    out = tmp_path / "hook.json"
    code = (
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith(('CLOCKD_', 'JOB_', 'PG'))}\n"
        "json.dump({'argv': sys.argv[2:], 'env': env, 'cwd': os.getcwd()}, open(sys.argv[1], 'w'))\n"
    )
    job = Job(
        name="report",
        parameters=ParameterSet.from_declarations(
            {"x": {"type": "integer"}, "key": {"type": "string", "secret": True}}
        ),
        command=("true",),
        workdir=tmp_path,
        env={"JOB_LEVEL": "debug"},
        on_failure=(sys.executable, "-c", code, str(out), "{{ state }}: {{ error }}", "{{ key }}"),
    )
    resolved = ResolvedParameters(values={"x": 3, "key": "env:K"}, secrets=frozenset({"key"}))
    environment = DaemonEnvironment({"PATH": "/usr/bin:/bin", "PGPASSWORD": "db", "K": "v"})
    outcome = Outcome(RunState.failed, exit_code=4, error="exit code 4")
    log = Log()
    asyncio.run(
        after_run(
            job,
            record(clock=None, name="r-3"),
            resolved,
            outcome,
            environment=environment,
            log=log,
            timezone="UTC",
            timeout=timedelta(seconds=10),
        )
    )
    assert log.texts == []
    seen = json.loads(out.read_text())
    assert seen["argv"] == ["failed: exit code 4", "***"]
    assert seen["cwd"] == str(tmp_path)
    assert seen["env"] == {
        "JOB_LEVEL": "debug",
        "CLOCKD_RUN_ID": "7",
        "CLOCKD_JOB": "report",
        "CLOCKD_CLOCK": "",
        "CLOCKD_SCHEDULED_TIME": "2026-03-01T23:30:00+00:00",
        "CLOCKD_PARAMETERS": '{"x": 3, "key": "***"}',
        "CLOCKD_STATE": "failed",
    }


def test_after_run_runs_nothing_for_a_cancelled_run(tmp_path: Path) -> None:
    job = Job(name="j", parameters=ParameterSet(), command=("true",), on_failure=("false",))
    log = Log()
    asyncio.run(
        after_run(
            job,
            record(),
            ResolvedParameters(values={}),
            Outcome(RunState.cancelled, error="cancelled"),
            environment=DaemonEnvironment({}),
            log=log,
            timezone="UTC",
            timeout=timedelta(seconds=10),
        )
    )
    assert log.lines == []
