"""`[executors.NAME]` tables, `[daemon] executor` and `public_url`, and a job's placement
(spec 9): which executor runs it, the Dask resources it needs, the workdir on a worker.

Only names and values are checked here: nothing connects to a cluster, and `distributed`
is not imported (`clockd check` stays fast).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scheduler.config.keys import EXECUTOR_KEYS
from scheduler.config.values import Section, describe, toml_key
from scheduler.models import LOCAL_EXECUTOR, ExecutorSettings
from scheduler.problems import Problem

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scheduler.models import DaemonSettings

EXECUTOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Dask's own transports a daemon can reach: plain TCP, TLS, and the same over websockets.
DASK_SCHEMES = ("tcp", "tls", "ws", "wss")
_TLS_SCHEMES = ("tls", "wss")


def build_executors(
    section: Section, folder: Path, daemon: DaemonSettings, warnings: list[Problem]
) -> dict[str, ExecutorSettings]:
    """`[executors.*]` of the main file; the default executor of `[daemon]` must be one of
    them (or "local"); a Dask executor without `[daemon] public_url` is a warning."""
    executors: dict[str, ExecutorSettings] = {}
    for name, table in section.table.items():
        path = f"executors.{toml_key(name)}"
        if not isinstance(table, dict):
            section.report(f"expected a table [{path}], got {describe(table)}", toml_key(name))
            continue
        where = Section(section.file, path, table, section.problems)
        if name == LOCAL_EXECUTOR:
            where.report(
                "'local' is the built-in executor (runs on this machine): pick another name"
            )
            continue
        if not EXECUTOR_NAME.match(name):
            where.report(
                f"invalid executor name {describe(name)}: use letters, digits, '-' and '_'"
            )
            continue
        settings = _executor(where, name, folder)
        if settings is not None:
            executors[name] = settings
    if daemon.executor != LOCAL_EXECUTOR and daemon.executor not in executors:
        section.problems.append(
            Problem(section.file, "daemon.executor", unknown_executor(daemon.executor, executors))
        )
    if executors and not daemon.public_url:
        warnings.append(
            Problem(
                section.file,
                "daemon",
                "Dask executors are configured but public_url is not: runs on workers get "
                f"CLOCKD_API_URL from listen ('{daemon.listen}'), which other machines cannot "
                "reach; set public_url to this daemon's address as workers see it",
            )
        )
    return executors


def _executor(where: Section, name: str, folder: Path) -> ExecutorSettings | None:
    from datetime import timedelta

    where.check_keys(EXECUTOR_KEYS)
    address = where.string("dask", allow_empty=False)
    if address is None and not where.has("dask"):
        where.report('needs dask = "tcp://HOST:8786", the address of a Dask scheduler')
    scheme = None
    if address is not None:
        scheme = _check_address(where, address)
    files = {key: _path(where, key, folder) for key in ("tls_ca_file", "tls_cert", "tls_key")}
    if (files["tls_cert"] is None) != (files["tls_key"] is None):
        where.report("tls_cert and tls_key go together: give both or neither")
    if any(files.values()) and scheme is not None and scheme not in _TLS_SCHEMES:
        where.report(
            f"TLS files are given but the address is {scheme}://: use tls://HOST:PORT", "dask"
        )
    settings = ExecutorSettings(
        name=name,
        dask=address or "",
        max_concurrent_runs=where.integer("max_concurrent_runs", 0, minimum=0),
        connect_timeout=where.duration("connect_timeout", timedelta(seconds=10), positive=True)
        or timedelta(seconds=10),
        **files,
    )
    return None if where.seen_problem else settings


def _check_address(where: Section, address: str) -> str | None:
    """The scheme of a Dask scheduler address, or None with a problem reported."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in DASK_SCHEMES or not parts.hostname or port is None or parts.path:
        where.report(
            f"invalid Dask scheduler address {describe(address)}: use "
            "'tcp://HOST:PORT' (or tls://, ws://, wss://), such as 'tcp://dask.example:8786'",
            "dask",
        )
        return None
    return parts.scheme


def _path(where: Section, key: str, folder: Path) -> Path | None:
    text = where.string(key, "")
    if not text:
        return None
    return (folder / Path(text).expanduser()).absolute()


def unknown_executor(name: str, executors: Mapping[str, Any]) -> str:
    """`unknown executor 'clustr' (did you mean 'cluster'?)`, else the names there are."""
    import difflib

    names = [LOCAL_EXECUTOR, *executors]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"unknown executor '{name}' (did you mean '{close[0]}'?)"
    return (
        f"unknown executor '{name}': declare [executors.{toml_key(name)}] or use one of: "
        + ", ".join(names)
    )


def check_public_url(section: Section) -> str | None:
    """`[daemon] public_url`: an http(s) URL that runs on other machines reach the API at."""
    url: str = section.string("public_url", "")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        section.report(
            f"invalid URL {describe(url)}: use this daemon's API address as workers reach it, "
            "such as 'http://host-a.example:8787'",
            "public_url",
        )
        return None
    return url.rstrip("/")


def job_placement(
    section: Section, daemon: DaemonSettings, executors: Mapping[str, ExecutorSettings]
) -> tuple[str, dict[str, float], Path | None]:
    """A job's executor (its own `executor`, else `[daemon] executor`), its Dask `resources`
    and, for a Dask job, the workdir on a worker (the configured one when absolute)."""
    executor = section.string("executor", daemon.executor, allow_empty=False)
    if section.has("executor") and executor != LOCAL_EXECUTOR and executor not in executors:
        section.report(unknown_executor(executor, executors), "executor")
    resources = _resources(section)
    if resources and executor == LOCAL_EXECUTOR:
        section.report(
            "resources are Dask worker resources, but this job runs on the local executor: "
            'set executor = "NAME" of an [executors.NAME], or remove resources',
            "resources",
        )
    remote_workdir = None
    if executor != LOCAL_EXECUTOR:
        given = Path(section.string("workdir", ".") or ".").expanduser()
        remote_workdir = given if given.is_absolute() else None
    return executor, resources, remote_workdir


def _resources(section: Section) -> dict[str, float]:
    table = section.table_of("resources")
    resources = {}
    for name, amount in table.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
            section.report(
                f"expected a positive number of {describe(name)}, got {describe(amount)}",
                f"resources.{toml_key(name)}",
            )
            continue
        resources[name] = float(amount)
    return resources
