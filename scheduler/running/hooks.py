"""A run's environment and argv, and its `on_success` / `on_failure` hooks.

Secrets reach a run's process only through its environment (`CLOCKD_PARAMETERS`,
`CLOCKD_PARAM_<NAME>`): argv is visible to every user in `ps`, so argv items and hooks are
rendered with the masked parameters ("***"). Secret references are resolved here, in the
daemon process, right before the spawn, into the child's environment only — never stored,
logged or rendered.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from scheduler.running.local.process import LogLimiter, RunProcess, describe_exit
from scheduler.running.secrets import SecretError, resolve_secret

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Job
    from scheduler.storage.sqlite.store import RunRecord

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
    }
)
HOOK_LOG_BYTES = 64 * 1024


def env_name(parameter: str) -> str:
    """`CLOCKD_PARAM_<NAME>`: upper case, anything but letters, digits and _ becomes _."""
    return "CLOCKD_PARAM_" + re.sub(r"[^A-Za-z0-9_]", "_", parameter).upper()


def resolve_secrets(
    resolved: ResolvedParameters, environ: Mapping[str, str], *, base_dir: Any = None
) -> dict[str, Any]:
    """The values with every secret reference replaced by the secret (SecretError otherwise)."""
    values = dict(resolved.values)
    for name in sorted(resolved.secrets):
        reference = values.get(name)
        if reference is None:
            continue
        try:
            values[name] = resolve_secret(str(reference), environ, base_dir=base_dir)
        except SecretError as error:
            raise SecretError(
                error.reference, f"secret parameter '{name}': {error.problem}"
            ) from None
    return values


def base_env(environ: Mapping[str, str], job: Job) -> dict[str, str]:
    env = {
        key: value
        for key, value in environ.items()
        if key not in DROPPED_ENV and not key.startswith("CLOCKD_PARAM_")
    }
    env.update(job.env)
    return env


def run_env(
    *,
    environ: Mapping[str, str],
    job: Job,
    base: Mapping[str, str] | None = None,
    record: RunRecord,
    values: Mapping[str, Any],
    api_url: str | None,
    child_token: str | None,
) -> dict[str, str]:
    """Spec 3: the daemon's environment, the job's `env`, then the `CLOCKD_*` variables."""
    env = dict(base) if base is not None else base_env(environ, job)
    env["CLOCKD_PARAMETERS"] = json.dumps(values, ensure_ascii=False)
    for name, value in values.items():
        env[env_name(name)] = value if isinstance(value, str) else json.dumps(value)
    env["CLOCKD_RUN_ID"] = str(record.id)
    env["CLOCKD_JOB"] = record.job
    env["CLOCKD_CLOCK"] = record.clock or ""
    env["CLOCKD_SCHEDULED_TIME"] = record.scheduled_time.astimezone(UTC).isoformat()
    if api_url:
        env["CLOCKD_API_URL"] = api_url
    if child_token:
        env["CLOCKD_TOKEN"] = child_token
    return env


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


def render_argv(label: str, templates: tuple[str, ...], context: Mapping[str, Any]) -> list[str]:
    """Each argv item rendered on its own (never joined, never a shell). TemplateError names
    the item: "command[2]: dynamic value '{{ nope }}' does not render: ..."."""
    from clocks.templates import TemplateError, render

    argv = []
    for index, item in enumerate(templates):
        try:
            argv.append(render(item, context) if "{{" in item or "{%" in item else item)
        except TemplateError as error:
            raise TemplateError(
                f"{label}[{index}]: {error}", value=item, reason=error.reason
            ) from None
    return argv


async def run_hook(
    kind: str,
    templates: tuple[str, ...],
    *,
    context: Mapping[str, Any],
    env: Mapping[str, str],
    cwd: Any,
    log: Callable[[datetime, str, str], None],
    timeout: timedelta,
) -> None:
    """Run one hook; its output and any failure become clockd lines in the run's log.

    It never raises and never changes the run's state.
    """
    from clocks.templates import TemplateError

    def note(text: str) -> None:
        log(datetime.now(UTC), "clockd", f"[clockd: {kind}: {text}]")

    try:
        argv = render_argv(kind, templates, context)
    except TemplateError as error:
        note(f"hook not run: {error}")
        return
    limiter = LogLimiter(
        HOOK_LOG_BYTES, lambda moment, stream, text: log(moment, "clockd", f"{kind}: {text}")
    )
    process = RunProcess(argv, env=env, cwd=cwd, log=limiter)
    try:
        await process.start()
    except OSError as error:
        note(f"hook could not start '{argv[0]}': {error.strerror or error}")
        return
    waiting = asyncio.ensure_future(process.wait())
    done, _ = await asyncio.wait({waiting}, timeout=timeout.total_seconds())
    if not done:
        process.kill_group(signal.SIGKILL)
        await waiting
        note(f"hook killed after {timeout.total_seconds():g}s")
        return
    code = waiting.result()
    if code != 0:
        note(f"hook failed: {describe_exit(code)}")
