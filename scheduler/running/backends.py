"""Which backend runs a job: the executor's local one, or one per `[executors.NAME]` (spec 9).

    backends = Backends(lambda: config, identity, public_url=config.daemon.public_url)
    executor = Executor(..., backend_for=backends.for_job)   # None → the local backend
    ...
    await backends.close()

A remote backend is made on first use (or by `connect_all`), so `distributed` is imported
only when a job needs it. Executor settings are read when that happens: a reload that
changes an existing executor's settings applies after a restart (as `[daemon]` does), one
that adds an executor makes it usable at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scheduler.models import LOCAL_EXECUTOR

if TYPE_CHECKING:
    from scheduler.models import Config, Identity, Job
    from scheduler.running.backend import RunBackend

log = logging.getLogger("clockd.executor")


class Backends:
    """Remote run backends by executor name (module docstring)."""

    def __init__(
        self,
        config: Callable[[], Config],
        identity: Identity,
        *,
        public_url: str | None = None,
        hidden_env: Callable[[], frozenset[str]] = frozenset,
        kill_grace: timedelta = timedelta(seconds=5),
    ) -> None:
        self.config = config
        self.identity = identity
        self.public_url = public_url
        self.hidden_env = hidden_env
        self.kill_grace = kill_grace
        self.remote: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def for_job(self, job: Job) -> RunBackend | None:
        """The job's remote backend; None for a local job."""
        if job.executor == LOCAL_EXECUTOR:
            return None
        backend = self.remote.get(job.executor)
        if backend is None:
            backend = self._make(job.executor)
        return backend  # type: ignore[no-any-return]

    def _make(self, name: str) -> Any:
        from scheduler.running.dask.backend import DaskBackend

        config = self.config()
        backend = DaskBackend(
            config.executors[name],
            self.identity,
            public_url=self.public_url,
            hidden_env=self.hidden_env,
            max_log_bytes=config.daemon.max_log_bytes,
            kill_grace=self.kill_grace,
        )
        self.remote[name] = backend
        return backend

    def connect_all(self) -> None:
        """In the background: connect to every executor that a job uses, and stop what an
        earlier instance of this daemon left running on its workers (a restarted daemon does
        not re-attach those runs; they are marked crashed). A scheduler that cannot be
        reached now is tried again by the first run that needs it."""
        config = self.config()
        used = {job.executor for job in config.jobs.values()} - {LOCAL_EXECUTOR}
        for name in sorted(used & set(config.executors)):
            backend = self.remote.get(name) or self._make(name)
            task = asyncio.get_running_loop().create_task(self._stop_leftovers(backend))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _stop_leftovers(self, backend: Any) -> None:
        from scheduler.running.dask.connection import DaskUnreachable

        try:
            keys = await backend.connection.stop_leftovers(self.identity.name, self.identity.owner)
        except DaskUnreachable as error:
            log.warning("%s; its runs will fail until it can be reached", error)
            return
        except Exception as error:
            log.warning(
                "cannot stop leftover runs on executor=%s: %r", backend.settings.name, error
            )
            return
        if keys:
            log.warning(
                "stopped runs an earlier instance left on executor=%s tasks=%s",
                backend.settings.name,
                keys,
            )

    async def close(self) -> None:
        """Disconnect from every cluster (after the executor stopped its runs)."""
        for task in list(self._tasks):
            task.cancel()
        for backend in self.remote.values():
            await backend.close()
