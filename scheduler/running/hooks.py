"""A run's `on_success` / `on_failure` hooks: argv templates run in the daemon after the run.

Hooks are rendered with the masked parameters ("***") and get the run's base environment with
the masked parameters (`environment.hook_env`), never a secret. What a hook prints becomes
clockd lines in the run's log, each masked with the run's masker (a hook may read a secret
itself). A hook never changes the run's state.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scheduler.models import RunState
from scheduler.running.environment import (
    hook_env,
    render_argv,
    resolve_program,
    run_timezone,
    template_context,
)
from scheduler.running.local.process import LogLimiter, RunProcess, describe_exit
from scheduler.running.masking import NO_SECRETS, Masker
from scheduler.timesource import SYSTEM_TIME, TimeSource

if TYPE_CHECKING:
    from clocks.parameters import ResolvedParameters
    from scheduler.models import Job
    from scheduler.running.backend import Outcome
    from scheduler.running.environment import DaemonEnvironment
    from scheduler.running.runlog import LineSink
    from scheduler.storage.records import RunRecord

HOOK_LOG_BYTES = 64 * 1024


def hook_for(job: Job, state: RunState) -> tuple[str, tuple[str, ...]] | None:
    """Which hook a run that ended in `state` gets: `on_success` after succeeded,
    `on_failure` after failed and timed_out, none after cancelled, skipped or crashed."""
    if state == RunState.succeeded:
        return ("on_success", job.on_success) if job.on_success else None
    if state in (RunState.failed, RunState.timed_out):
        return ("on_failure", job.on_failure) if job.on_failure else None
    return None


async def after_run(
    job: Job,
    record: RunRecord,
    resolved: ResolvedParameters,
    outcome: Outcome,
    *,
    environment: DaemonEnvironment,
    log: LineSink,
    timezone: str,
    timeout: timedelta,
    time_source: TimeSource = SYSTEM_TIME,
) -> None:
    """The hook of a run that ended with `outcome` (`hook_for`), with the run's names
    (`template_context`; `timezone` is the daemon's, for a run without a clock), its base
    environment with its masked parameters (`hook_env`), and its masker. Never raises."""
    hook = hook_for(job, outcome.state)
    if hook is None:
        return
    kind, templates = hook
    masked = resolved.masked()
    state = outcome.state.value

    def context() -> dict[str, Any]:
        zone = run_timezone(job, record.clock, timezone)
        extra = {"state": state, "error": outcome.error, "exit_code": outcome.exit_code}
        return template_context(record, masked, zone, for_hook=True, **extra)

    try:
        await run_hook(
            kind,
            templates,
            context=context,
            env=hook_env(environment.base(job.name, job.env), record, masked, state),
            cwd=job.workdir,
            log=log,
            timeout=timeout,
            time_source=time_source,
            masker=outcome.masker,
        )
    except Exception as error:  # around each hook: nothing a hook does changes the run
        log(time_source.now(), "clockd", f"[clockd: {kind}: hook failed inside clockd: {error!r}]")


async def run_hook(
    kind: str,
    templates: tuple[str, ...],
    *,
    context: Callable[[], Mapping[str, Any]],
    env: Mapping[str, str],
    cwd: Any,
    log: LineSink,
    timeout: timedelta,
    time_source: TimeSource = SYSTEM_TIME,
    masker: Masker = NO_SECRETS,
) -> None:
    """Run one hook; its output and any failure become clockd lines in the run's log.

    `context()` builds the template names (`environment.template_context`); a failure there
    or in rendering is logged and the hook is not run.
    """

    def note(text: str) -> None:
        log(time_source.now(), "clockd", f"[clockd: {kind}: {text}]")

    try:
        argv = list(resolve_program(render_argv(kind, templates, context())))
    except Exception as error:  # around each hook: nothing a hook does changes the run
        note(f"hook not run: {error}")
        return
    mask = masker.mask
    limiter = LogLimiter(
        HOOK_LOG_BYTES,
        lambda moment, stream, text: log(moment, "clockd", f"{kind}: {mask(text)}"),
        time_source=time_source,
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
        limiter.finish()
        note(f"hook killed after {timeout.total_seconds():g}s")
        return
    limiter.finish()  # the tail of its output, once it ended
    code = waiting.result()
    if code != 0:
        note(f"hook failed: {describe_exit(code)}")
