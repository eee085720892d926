"""Shell completion of job and clock names, for click's completion (README "Shell completion").

    eval "$(_CLOCKD_COMPLETE=bash_source clockd)"     # in ~/.bashrc (zsh_source, fish_source)

The names come from the config the command would read (-c, $CLOCKD_CONFIG, ./clockd.toml,
/etc/clockd/clockd.toml), read as plain TOML with its includes and not validated: completion
must be quick and must work while the config has a problem.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem


def _config_path(ctx: click.Context) -> Path | None:
    from scheduler.config.find import locate_config

    explicit = None
    context: click.Context | None = ctx
    while context is not None and explicit is None:
        explicit = context.params.get("config_path")
        context = context.parent
    try:
        return locate_config(explicit, os.environ)
    except Exception:  # completion never fails loudly
        return None


def _read(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, ValueError):
        return {}


def configured_jobs(ctx: click.Context) -> dict[str, list[str]]:
    """Job name → its clock names ("clock-N" when unnamed), from the main file and includes."""
    main = _config_path(ctx)
    if main is None:
        return {}
    document = _read(main)
    documents = [document]
    daemon = document.get("daemon")
    patterns = daemon.get("include", []) if isinstance(daemon, dict) else []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        if isinstance(pattern, str):
            joined = os.path.join(os.path.dirname(main), os.path.expanduser(pattern))
            documents += [_read(Path(match)) for match in sorted(glob.glob(joined))]
    jobs: dict[str, list[str]] = {}
    for content in documents:
        tables = content.get("jobs")
        if not isinstance(tables, dict):
            continue
        for name, table in tables.items():
            clocks = table.get("clocks", []) if isinstance(table, dict) else []
            jobs[name] = [
                str(clock.get("name", f"clock-{index + 1}"))
                for index, clock in enumerate(clocks if isinstance(clocks, list) else [])
                if isinstance(clock, dict)
            ]
    return jobs


def complete_job(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    return [CompletionItem(name) for name in configured_jobs(ctx) if name.startswith(incomplete)]


def complete_clock(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The clocks of the job named on the line (or of every job)."""
    jobs = configured_jobs(ctx)
    job = ctx.params.get("job") or ctx.params.get("job_name")
    names = jobs.get(job, []) if job else [c for clocks in jobs.values() for c in clocks]
    return [CompletionItem(name) for name in dict.fromkeys(names) if name.startswith(incomplete)]


def complete_target(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """JOB or JOB/CLOCK (pause, resume)."""
    jobs = configured_jobs(ctx)
    if "/" in incomplete:
        job, _, start = incomplete.partition("/")
        return [
            CompletionItem(f"{job}/{clock}")
            for clock in jobs.get(job, [])
            if clock.startswith(start)
        ]
    found = [CompletionItem(name) for name in jobs if name.startswith(incomplete)]
    found += [
        CompletionItem(f"{name}/{clock}")
        for name, clocks in jobs.items()
        if name == incomplete
        for clock in clocks
    ]
    return found
