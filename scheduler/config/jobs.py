"""One `[jobs.NAME]` table → a Job with its parameters and clocks, or Problems."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.config.clock_tables import build_clock, clock_label
from scheduler.config.executors import job_placement
from scheduler.config.keys import JOB_KEYS
from scheduler.config.values import Section, describe, toml_key
from scheduler.models import DaemonSettings, Job
from scheduler.problems import Problem

if TYPE_CHECKING:
    from collections.abc import Mapping

    from clocks.base import Clock
    from clocks.calendar import Calendar
    from clocks.parameters import ParameterSet
    from scheduler.models import ExecutorSettings

JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
OVERLAP = ("allow", "skip", "queue")


def job_path(name: str) -> str:
    return f"jobs.{toml_key(name)}"


def build_job(
    name: str,
    table: Any,
    *,
    file: str,
    folder: Path,
    source: Path,
    daemon: DaemonSettings,
    problems: list[Problem],
    now: datetime,
    warnings: list[Problem] | None = None,
    executors: Mapping[str, ExecutorSettings] | None = None,
    calendars: Mapping[str, Calendar | None] | None = None,
) -> Job | None:
    """The job declared by `table` in `file`; None when it has problems (recorded).
    Warnings (valid but risky: a template in a shell's script) go to `warnings`."""
    path = job_path(name)
    if not isinstance(table, dict):
        problems.append(Problem(file, path, f"expected a table [{path}], got {describe(table)}"))
        return None
    section = Section(file, path, table, problems)
    if not JOB_NAME.match(name):
        section.report(f"invalid job name {describe(name)}: use letters, digits, '-' and '_'")
    section.check_keys(JOB_KEYS)

    command = section.strings("command")
    target = section.string("target")
    if section.has("command") and command is not None and not command:
        section.report("must not be empty: give the program and its arguments", "command")
    if section.has("command") and section.has("target"):
        section.report("has both command and target: give exactly one")
    elif not section.has("command") and not section.has("target"):
        section.report(
            "needs a command (argv array) or a target ('module:function'): neither given"
        )
    if target is not None and not TARGET.match(target):
        section.report(
            f"invalid target {describe(target)}: use 'package.module:function'", "target"
        )
    python = section.string("python", allow_empty=False)
    if python is not None and section.has("command"):
        section.report("only applies to a target; a command names its own program", "python")

    workdir_text = section.string("workdir", ".", allow_empty=False)
    timeout = section.duration("timeout", None, positive=True)
    retry_delay = section.duration("retry_delay", timedelta(seconds=30))
    job = {
        "description": section.string("description", ""),
        "env": section.string_table("env"),
        "retries": section.integer("retries", 0, minimum=0),
        "max_active_runs": section.integer("max_active_runs", 0, minimum=0),
        "keep_runs": section.integer("keep_runs", 0, minimum=1) or None,
        "overlap": section.choice("overlap", OVERLAP, "allow"),
        "run_name": section.string("run_name"),
        "on_success": section.strings("on_success", ()),
        "on_failure": section.strings("on_failure", ()),
        "enabled": section.boolean("enabled", True),
    }
    executor, resources, remote_workdir = job_placement(section, daemon, executors or {})
    parameters, broken = _build_parameters(section, daemon)
    if parameters is not None:
        _check_templates(section, {*parameters.names, *broken})
    if warnings is not None:
        _warn_shell_templates(section, warnings)
    first_fires: dict[str, tuple[datetime, datetime | None]] = {}
    clocks = _build_clocks(
        section, name, daemon, parameters, broken, now, first_fires, calendars or {}
    )
    if parameters is not None and not broken and clocks == ():
        _check_defaults(section, name, daemon, parameters, now)
    if warnings is not None and clocks:
        _warn_ended(section, clocks, first_fires, warnings)
    if section.seen_problem or broken or parameters is None or clocks is None:
        return None
    return Job(
        name=name,
        parameters=parameters,
        clocks=clocks,
        command=command,
        target=target,
        python=python,
        workdir=(folder / Path(workdir_text).expanduser()).absolute(),
        timeout=timeout,
        retry_delay=retry_delay or timedelta(0),
        source=source,
        first_fires=first_fires,
        executor=executor,
        resources=resources,
        remote_workdir=remote_workdir,
        **job,
    )


def _build_parameters(
    section: Section, daemon: DaemonSettings
) -> tuple[ParameterSet | None, set[str]]:
    """The job's ParameterSet, and the names of refused declarations (reported).

    With bad declarations the set of the good ones is still returned, so that the clocks'
    parameters are checked too and every problem is reported in one pass.
    """
    from clocks.parameters import ParameterError, ParameterSet

    declarations = section.table_of("parameters")
    tables = {}
    for pname, declaration in declarations.items():
        if isinstance(declaration, dict):
            tables[pname] = declaration
        else:
            section.report(
                f"expected a table [{section.path}.parameters.{toml_key(pname)}] with at least a type, "
                f"got {describe(declaration)}",
                f"parameters.{toml_key(pname)}",
            )
    try:
        parameters = ParameterSet.from_declarations(tables, max_bytes=daemon.max_parameters_bytes)
    except ParameterError as error:
        for problem in error.problems:
            key = f"parameters.{toml_key(problem.name)}" if problem.name else "parameters"
            section.report(problem.message, key)
        bad = {problem.name for problem in error.problems}
        good = {name: table for name, table in tables.items() if name not in bad}
        broken = set(declarations) - set(good)
        try:
            return ParameterSet.from_declarations(
                good, max_bytes=daemon.max_parameters_bytes
            ), broken
        except ParameterError:
            return None, broken
    return parameters, set(declarations) - set(tables)


# Names a run's templates can use besides the job's parameters (spec 2, 3): argv items and
# run_name get the render context; hooks also get the run's outcome.
HOOK_NAMES = ("name", "state", "error")


def _check_templates(section: Section, parameter_names: set[str]) -> None:
    """Templates in command, run_name and hooks must compile and use only known names."""
    from clocks.parameters import RESERVED_NAMES
    from clocks.templates import TemplateError, check_template

    names = {*parameter_names, *RESERVED_NAMES}
    for key, allowed in (
        ("command", names),
        ("run_name", names),
        ("on_success", names | set(HOOK_NAMES)),
        ("on_failure", names | set(HOOK_NAMES)),
    ):
        value = section.table.get(key)
        items = [(key, value)] if isinstance(value, str) else []
        if isinstance(value, list):
            items = [(f"{key}[{i}]", item) for i, item in enumerate(value) if isinstance(item, str)]
        for where, template in items:
            if "{" not in template:  # plain text: nothing to compile
                continue
            try:
                check_template(template, names=allowed)
            except TemplateError as error:
                section.report(error.message, where)


def _warn_ended(
    section: Section,
    clocks: tuple[Clock, ...],
    first_fires: Mapping[str, tuple[datetime, datetime | None]],
    warnings: list[Problem],
) -> None:
    """Spec 2.5: an rrule clock, or one under calendar/exclude/between, whose fires all lie in
    the past is a warning, not a refusal (its rules are fine; their time is over)."""
    for index, clock in enumerate(clocks):
        ruled = clock.kind == "rrule" or hasattr(clock, "filters")
        if ruled and clock.name in first_fires and first_fires[clock.name][1] is None:
            warnings.append(
                Problem(
                    section.file,
                    f"{section.path}.clocks[{index}]",
                    "all its fires lie in the past: it will not fire again",
                    clock.name,
                )
            )


def _warn_shell_templates(section: Section, warnings: list[Problem]) -> None:
    """A template inside the script string of `sh -c` & co. in command or hooks."""
    from scheduler.config.shell import shell_warnings

    for key in ("command", "on_success", "on_failure"):
        argv = section.table.get(key)
        if not isinstance(argv, list) or not all(isinstance(item, str) for item in argv):
            continue
        for index, message in shell_warnings(argv):
            warnings.append(Problem(section.file, f"{section.path}.{key}[{index}]", message))


def _build_clocks(
    section: Section,
    job: str,
    daemon: DaemonSettings,
    parameters: ParameterSet | None,
    broken: set[str],
    now: datetime,
    first_fires: dict[str, tuple[datetime, datetime | None]] | None = None,
    calendars: Mapping[str, Calendar | None] | None = None,
) -> tuple[Clock, ...] | None:
    if not section.has("clocks"):
        return ()
    tables = section.table["clocks"]
    if not isinstance(tables, list):
        section.report(
            f"expected an array of tables (write [[{section.path}.clocks]]), got {describe(tables)}",
            "clocks",
        )
        return None
    clocks: list[Clock] = []
    first_index: dict[str, int] = {}
    failed = False
    for index, table in enumerate(tables):
        where = Section(
            section.file,
            f"{section.path}.clocks[{index}]",
            table if isinstance(table, dict) else {},
            section.problems,
            label=clock_label(table),
            nested=False,
        )
        if not isinstance(table, dict):
            where.report(f"expected a table, got {describe(table)}")
            failed = True
            continue
        clock = build_clock(
            where, index, default_timezone=daemon.timezone, calendars=calendars, now=now
        )
        name = where.table.get("name", f"clock-{index + 1}")
        if isinstance(name, str):
            if name in first_index:
                where.report(
                    f"duplicate clock name '{name}': clocks[{first_index[name]}] has it already; "
                    "names are unique within a job"
                )
            else:
                first_index[name] = index
        if clock is not None and parameters is not None:
            _check_clock(where, job, clock, parameters, broken, now, first_fires)
        if clock is None or where.seen_problem:
            failed = True
        else:
            clocks.append(clock)
    return None if failed else tuple(clocks)


def _check_clock(
    where: Section,
    job: str,
    clock: Clock,
    parameters: ParameterSet,
    broken: set[str],
    now: datetime,
    first_fires: dict[str, tuple[datetime, datetime | None]] | None = None,
) -> None:
    """Parameters a fire of this clock would get, and whether it fires at all.

    `broken` names parameters whose declaration was refused: their values are not checked.
    The first fire after `now` goes to `first_fires` (the planner starts from it).
    """
    from clocks.errors import ClockError
    from clocks.parameters import ParameterError
    from clocks.resolution import Resolver

    probe = clock.anchored(now)
    try:
        upcoming = probe.next_fire(now)
    except ClockError as error:
        where.report(error.message)
        return
    if upcoming is None and clock.kind == "cron" and clock.end is None:
        expression = getattr(clock, "expression", "")
        where.report(f"invalid cron expression '{expression}': never fires")
        return
    if probe is clock and first_fires is not None:
        first_fires[clock.name] = (now, upcoming)

    given = {k: v for k, v in clock.parameter_defaults.items() if k not in broken}
    static = parameters.check_names(given)
    unexpected = [p for p in static if p.kind == "unexpected"]
    if unexpected:
        where.report(_unexpected_message(unexpected))
    job_table = where.path.split(".clocks[")[0]
    missing = set()
    for problem in static:
        if problem.kind == "required":
            missing.add(problem.name)
            where.report(
                f"required parameter '{problem.name}' has no default; give it a default under "
                f"[{job_table}.parameters.{toml_key(problem.name)}] "
                "or set it in this clock's parameters"
            )
        elif problem.kind != "unexpected":
            where.report(problem.message)
    # The values that are there are checked too (every problem at once, spec 2.2): an
    # unexpected name does not hide `x = -1` below its minimum.
    given = {k: v for k, v in given.items() if k in parameters}

    sample = upcoming or now
    # Renders each dynamic value once, for this sample fire, under the daemon's template
    # budget: one that exceeds it is refused here, not at its first fire.
    resolver = Resolver(job, parameters, clock=clock.name, timezone=clock.timezone, values=given)
    try:
        resolver.resolve(sample)
    except ParameterError as error:
        from clocks.localtime import get_zone

        shown = sample.astimezone(get_zone(clock.timezone)).isoformat()
        for problem in error.problems:
            if problem.kind == "required" and problem.name in missing:
                continue  # reported above, with where to give it
            sample_note = (
                f" (for a fire at {shown})" if problem.kind in ("render", "invalid") else ""
            )
            where.report(problem.message + sample_note)


def _check_defaults(
    section: Section, job: str, daemon: DaemonSettings, parameters: ParameterSet, now: datetime
) -> None:
    """A job without clocks: the defaults it has must render (within the template budget)
    and fit (required ones may be absent)."""
    from clocks.parameters import ParameterError
    from clocks.resolution import Resolver

    try:
        Resolver(job, parameters, timezone=daemon.timezone).resolve(now)
    except ParameterError as error:
        for problem in error.problems:
            if problem.kind != "required":
                key = f"parameters.{toml_key(problem.name)}" if problem.name else "parameters"
                section.report(problem.message, key)


def _unexpected_message(problems: list[Any]) -> str:
    """`unexpected parameters: dummy, other (did you mean 'day'?)` (spec 2.1)."""
    names = [p.name + (f" ({p.hint})" if getattr(p, "hint", "") else "") for p in problems]
    return f"unexpected parameters: {', '.join(names)}"


def sample_now(now: datetime | None) -> datetime:
    """`now` as an aware UTC whole second (the current time when None)."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).replace(microsecond=0)
