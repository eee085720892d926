"""The keys each level of the config allows, and the "did you mean" for the others."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

TOP_KEYS = ("daemon", "executors", "calendars", "jobs")
INCLUDED_TOP_KEYS = ("jobs", "calendars")

DAEMON_KEYS = (
    "database",
    "timezone",
    "listen",
    "token_file",
    "max_concurrent_runs",
    "shutdown_grace",
    "log_format",
    "include",
    "max_parameters_bytes",
    "max_log_bytes",
    "keep_runs_for",
    "catchup_limit",
    "name",
    "database_password",
    "daemon_timeout",
    "executor",
    "public_url",
)

EXECUTOR_KEYS = (
    "dask",
    "tls_ca_file",
    "tls_cert",
    "tls_key",
    "max_concurrent_runs",
    "connect_timeout",
)

JOB_KEYS = (
    "description",
    "command",
    "target",
    "python",
    "workdir",
    "env",
    "timeout",
    "retries",
    "retry_delay",
    "max_active_runs",
    "overlap",
    "run_name",
    "on_success",
    "on_failure",
    "enabled",
    "parameters",
    "clocks",
    "executor",
    "resources",
    "keep_runs",
)

CLOCK_KINDS = ("interval", "cron", "at", "rrule")

CLOCK_KEYS = (
    "name",
    *CLOCK_KINDS,
    "timezone",
    "start",
    "end",
    "parameters",
    "catchup",
    "jitter",
    "enabled",
    "labels",
    "calendar",
    "on_closed_day",
    "between",
    "exclude",
)


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    """`unknown key 'retires' (did you mean 'retries'?)`, else the list of allowed keys."""
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    return f"unknown key '{key}': allowed keys are {', '.join(allowed)}"
