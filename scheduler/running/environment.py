"""What a run is given: its environment, its argv, its name, and the names templates see.

Spec 3 and 7: a run's environment is the daemon's, minus what a run must not inherit (below),
plus the job's `env`, plus the `CLOCKD_*` run variables. Its argv items are templates rendered
one by one, never joined, never through a shell. Secrets reach a run's process only through
its environment (`CLOCKD_PARAMETERS`, `CLOCKD_PARAM_<NAME>`): argv is visible to every user
in `ps`, so argv, the run name and hooks are rendered with the masked parameters ("***").
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clocks.templates import TemplateError, render

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Config, Job
    from scheduler.running.backend import Attempt
    from scheduler.storage.sqlite.store import RunRecord

# Every process of a run carries its owner (a daemon instance, or a `clockd run` process,
# `scheduler.models.Identity`) with its CLOCKD_RUN_ID: a process that left the run's group
# can still be found and told apart from another daemon's run of the same id.
OWNER_ENV = "CLOCKD_OWNER"
# Never inherited by a run: systemd's channels belong to the daemon, and the run variables
# of a daemon that was itself started inside a run would be stale.
DROPPED_ENV = frozenset(
    {
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "CLOCKD_PARAMETERS",
        "CLOCKD_RUN_ID",
        "CLOCKD_JOB",
        "CLOCKD_CLOCK",
        "CLOCKD_SCHEDULED_TIME",
        "CLOCKD_API_URL",
        "CLOCKD_TOKEN",
        "CLOCKD_PYRUNNER_SPEC",
        OWNER_ENV,
        "CLOCKD_KEEPER",  # marks the processes of runs on a Dask worker (dask/keeper.py)
    }
)
# Prefixes never inherited: stale parameters of an enclosing run, and libpq's variables,
# which hold the database credentials (spec 7).
DROPPED_PREFIXES = ("CLOCKD_PARAM_", "PG")


# -- a run's `clockd` --------------------------------------------------------------------------
#
# A command (or hook) whose program is `clockd` runs the daemon's own clockd, the one beside
# the interpreter that runs the daemon (a venv's bin/clockd), whatever the run's PATH says:
# the daemon is often started as `.venv/bin/clockd serve` or from a unit's ExecStart, with
# its venv on no PATH. Only argv[0] is resolved; the PATH runs get is left alone, so which
# `python3` (or anything else) a job finds does not change.


@lru_cache(maxsize=1)
def own_clockd() -> tuple[str, ...]:
    """The argv that starts this installation's clockd: its `clockd` script beside this
    interpreter, else this interpreter running `scheduler.cli`."""
    script = Path(sys.executable).parent / "clockd"
    if os.access(script, os.X_OK) and script.is_file():
        return (str(script),)
    return (sys.executable, "-m", "scheduler.cli")


def resolve_program(argv: Sequence[str]) -> Sequence[str]:
    """`argv` with a bare `clockd` program replaced by `own_clockd()`; any other as is."""
    if argv and argv[0] == "clockd":
        return [*own_clockd(), *argv[1:]]
    return argv


def env_name(parameter: str) -> str:
    """`CLOCKD_PARAM_<NAME>`: upper case, anything but letters, digits and _ becomes _."""
    return "CLOCKD_PARAM_" + re.sub(r"[^A-Za-z0-9_]", "_", parameter).upper()


def base_env(
    environ: Mapping[str, str], job_env: Mapping[str, str], hidden: frozenset[str] = frozenset()
) -> dict[str, str]:
    """`environ` without the dropped variables and the `hidden` ones (named by secret
    references), then the job's `env` (the config's word wins, PG* included)."""
    env = {
        key: value
        for key, value in environ.items()
        if key not in DROPPED_ENV and key not in hidden and not key.startswith(DROPPED_PREFIXES)
    }
    env.update(job_env)
    return env


def add_run_variables(env: dict[str, str], attempt: Attempt, values: Mapping[str, Any]) -> None:
    """Spec 3: the parameters (`values`, secrets resolved) and the run's `CLOCKD_*` names,
    set in `env` (the caller's own copy: no second copy per run)."""
    env["CLOCKD_PARAMETERS"] = json.dumps(values, ensure_ascii=False)
    for name, value in values.items():
        env[env_name(name)] = value if isinstance(value, str) else json.dumps(value)
    env["CLOCKD_RUN_ID"] = str(attempt.run_id)
    env["CLOCKD_JOB"] = attempt.job
    env["CLOCKD_CLOCK"] = attempt.clock or ""
    env["CLOCKD_SCHEDULED_TIME"] = attempt.scheduled_time.astimezone(UTC).isoformat()
    if attempt.api_url:
        env["CLOCKD_API_URL"] = attempt.api_url
    if attempt.child_token:
        env["CLOCKD_TOKEN"] = attempt.child_token
    if attempt.owner:  # marks every process of the run, also one that leaves its group
        env[OWNER_ENV] = attempt.owner


def hook_env(
    base: Mapping[str, str], record: RunRecord, masked: Mapping[str, Any], state: str
) -> dict[str, str]:
    """A hook's environment: the run's base, the run's names, its masked parameters, its state."""
    env = dict(base)
    env["CLOCKD_RUN_ID"] = str(record.id)
    env["CLOCKD_JOB"] = record.job
    env["CLOCKD_CLOCK"] = record.clock or ""
    env["CLOCKD_SCHEDULED_TIME"] = record.scheduled_time.isoformat()
    env["CLOCKD_PARAMETERS"] = json.dumps(masked, ensure_ascii=False)
    env["CLOCKD_STATE"] = state
    if record.owner:
        env[OWNER_ENV] = record.owner
    return env


class DaemonEnvironment:
    """The daemon's environment as its runs and hooks inherit it.

    `environ` is the daemon's whole environment: secret references are resolved from it.
    `hidden()` names the variables that secret references name (`hidden_variables`); it is
    asked on every run, so it must be cheap (`hidden_variables_of` remembers its answer).
    `base(job)` is built once per job and shared by its runs: a reload brings new `Job`
    objects (and their `env` dicts), which builds it again.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        hidden: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self._hidden = hidden
        self._bases: dict[str, tuple[Mapping[str, str], frozenset[str], dict[str, str]]] = {}

    def base(self, job: str, job_env: Mapping[str, str]) -> dict[str, str]:
        """The base of `job`'s runs; shared, so callers copy it before they change it."""
        hidden = self._hidden()
        cached = self._bases.get(job)
        if cached is None or cached[0] is not job_env or cached[1] != hidden:
            cached = (job_env, hidden, base_env(self.environ, job_env, hidden))
            self._bases[job] = cached
        return cached[2]


def hidden_variables(config: Config) -> frozenset[str]:
    """The variables that the config's secret references name (`env:NAME`): each secret
    parameter's `default`, its `references` (where declared) and the values clocks give it."""
    names: set[str] = set()
    for job in config.jobs.values():
        secrets = job.parameters.secrets
        if not secrets:
            continue
        for name in secrets:
            parameter = job.parameters[name]
            names.update(_env_names([parameter.default]))
            names.update(_env_names(getattr(parameter, "references", None) or ()))
        for clock in job.clocks:
            names.update(_env_names(v for k, v in clock.parameter_defaults.items() if k in secrets))
    names.update(_env_names([getattr(config.daemon, "database_password", None)]))
    return frozenset(names)


def _env_names(references: Any) -> list[str]:
    return [
        reference[4:]
        for reference in references
        if isinstance(reference, str) and reference.startswith("env:") and len(reference) > 4
    ]


def hidden_variables_of(current: Callable[[], Config]) -> Callable[[], frozenset[str]]:
    """`hidden_variables` of the config `current()` returns, computed again only when that
    config is another object (a reload): `DaemonEnvironment(hidden=...)` asks on every run."""
    last: list[Any] = [None, frozenset()]

    def hidden() -> frozenset[str]:
        config = current()
        if config is not last[0]:
            last[:] = [config, hidden_variables(config)]
        names: frozenset[str] = last[1]
        return names

    return hidden


# --- templates -----------------------------------------------------------------------------


def template_context(
    record: RunRecord,
    masked: Mapping[str, Any],
    timezone: str,
    *,
    for_hook: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """Names for argv, run_name and hook templates: each parameter (masked), `parameters`,
    `scheduled_time` (pendulum, in the clock's zone), `job`, `clock`, `run_id`, `name`.

    In argv and run_name a parameter wins over a run name of the same spelling (`{{ name }}`
    is the parameter `name` when the job declares one); in hooks the run's names win and
    parameters stay reachable as `parameters.NAME`.
    """
    from clocks.parameters import render_context

    run_names: dict[str, Any] = render_context(
        scheduled_time=record.scheduled_time,
        timezone=timezone,
        job=record.job,
        clock=record.clock,
        run_id=record.id,
    )
    run_names["name"] = record.name
    run_names.update(extra)
    run_names["parameters"] = dict(masked)
    if for_hook:
        return {**masked, **run_names}
    return {**run_names, **masked}


def render_argv(label: str, templates: Sequence[str], context: Mapping[str, Any]) -> list[str]:
    """Each argv item rendered on its own (never joined, never a shell). TemplateError names
    the item: "command[2]: dynamic value '{{ nope }}' does not render: ..."."""
    argv = []
    for index, item in enumerate(templates):
        try:
            argv.append(render(item, context) if "{{" in item or "{%" in item else item)
        except TemplateError as error:
            raise TemplateError(
                f"{label}[{index}]: {error}", value=item, reason=error.reason
            ) from None
    return argv


def run_timezone(job: Job, clock: str | None, default: str) -> str:
    """The zone of a run's templates: its clock's, else the daemon's."""
    found = job.clock(clock) if clock else None
    return found.timezone if found is not None else default


def command_argv(
    job: Job, record: RunRecord, resolved: ResolvedParameters, default_timezone: str
) -> Sequence[str]:
    """A command job's argv, rendered with the masked parameters (TemplateError otherwise).
    Without templates it is the job's own tuple: nothing to build per run."""
    assert job.command is not None, f"job {job.name} has no command"
    if not any("{{" in item or "{%" in item for item in job.command):
        return job.command
    zone = run_timezone(job, record.clock, default_timezone)
    return render_argv("command", job.command, template_context(record, resolved.masked(), zone))


def run_name(
    job: Job, record: RunRecord, resolved: ResolvedParameters, default_timezone: str
) -> str | None:
    """The job's `run_name` rendered for a run, with the masked parameters (TemplateError);
    None when the job has none or the run has a name already."""
    if record.name is not None or not job.run_name:
        return None
    zone = run_timezone(job, record.clock, default_timezone)
    return render(job.run_name, template_context(record, resolved.masked(), zone))
