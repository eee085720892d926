"""`scheduler.context`: what code running inside a clockd run knows about that run.

    from scheduler import context
    if context.in_run:
        print(context.job, context.clock, context.run_id, context.scheduled_time)
        day = context.parameters["day"]

Read lazily from the `CLOCKD_*` environment the executor gives every run (spec 3). Outside a
run, `in_run` is False, the attributes are None and `parameters` is empty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class RunContext:
    """The current run, from the environment (`environ` defaults to `os.environ`)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @property
    def _env(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @property
    def in_run(self) -> bool:
        return "CLOCKD_RUN_ID" in self._env

    @property
    def run_id(self) -> int | None:
        value = self._env.get("CLOCKD_RUN_ID")
        return int(value) if value else None

    @property
    def job(self) -> str | None:
        return self._env.get("CLOCKD_JOB") or None

    @property
    def clock(self) -> str | None:
        """The clock that fired this run; None for a manual run."""
        return self._env.get("CLOCKD_CLOCK") or None

    @property
    def scheduled_time(self) -> datetime | None:
        value = self._env.get("CLOCKD_SCHEDULED_TIME")
        if not value:
            return None
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)

    @property
    def parameters(self) -> dict[str, Any]:
        """The resolved parameters as JSON values (dates as ISO strings, secrets resolved)."""
        value = self._env.get("CLOCKD_PARAMETERS")
        return json.loads(value) if value else {}

    @property
    def api_url(self) -> str | None:
        return self._env.get("CLOCKD_API_URL") or None

    @property
    def token(self) -> str | None:
        """The token that lets this run start child runs."""
        return self._env.get("CLOCKD_TOKEN") or None

    def __repr__(self) -> str:
        if not self.in_run:
            return "<RunContext: not inside a clockd run>"
        return f"<RunContext job={self.job!r} clock={self.clock!r} run_id={self.run_id}>"


context = RunContext()


def __getattr__(name: str) -> Any:
    # `from scheduler import context` yields this module once it is imported (the import
    # system sets the package attribute), so the module answers like the object does.
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return getattr(context, name)
    except AttributeError:
        raise AttributeError(f"module 'scheduler.context' has no attribute '{name}'") from None
