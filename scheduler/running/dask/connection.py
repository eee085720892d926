"""The daemon's link to one Dask scheduler: a `distributed.Client` on the daemon's loop.

Connected on first use (and in the background when the daemon starts), again after it was
lost: a client whose connection dropped has cancelled its futures, so it is closed and the
next run connects anew. An unreachable scheduler raises `DaskUnreachable` after the
executor's `connect_timeout`; each run waiting for it fails with that message, and other
jobs keep firing (nothing here blocks the loop).

`distributed` is imported here, on first use, never by `clockd check` or a daemon without
Dask executors: its import is slow and it configures logging. Its loggers then write
through clockd's handler, in `log_format` (`adopt_dask_loggers`).

The worker-to-daemon messages of every run arrive on one topic per daemon name
(`clockd:NAME`, stable across restarts, so the scheduler keeps one bounded event log for
it) and are handed to `on_event(message)`. On connecting it registers `RerunGuard`, the
scheduler plugin that keeps Dask from starting an attempt twice (`reruns.py`): a scheduler
that refuses it (clockd not installed there) is unreachable for clockd, with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client

    from scheduler.models import ExecutorSettings

log = logging.getLogger("clockd.dask")

DASK_LOGGERS = ("distributed", "distributed.client", "distributed.gc", "bokeh", "tornado")
WORKER_CHECK_INTERVAL = 1.0  # seconds between two checks that running runs' workers live


class DaskUnreachable(Exception):
    """The executor's Dask scheduler cannot be reached; the message says which and why."""


def adopt_dask_loggers() -> None:
    """`distributed` configures its loggers on import (its own stderr handler when the root
    logger has none, INFO for "distributed"): they write through clockd's handler instead,
    warnings and errors only."""
    for name in DASK_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    logging.getLogger("distributed").setLevel(logging.WARNING)


class DaskConnection:
    """One executor's client (module docstring)."""

    def __init__(
        self,
        settings: ExecutorSettings,
        *,
        topic: str,
        on_event: Callable[[Any], None],
        alive_workers: Callable[[], Collection[str]] = frozenset,
        on_worker_gone: Callable[[str], None] = lambda address: None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.on_event = on_event
        self.alive_workers = alive_workers  # addresses of workers running our runs now
        self.on_worker_gone = on_worker_gone
        self._client: Client | None = None
        self._connecting: asyncio.Future[Client] | None = None
        self._background: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return self.settings.name

    def connected(self) -> Client | None:
        """The client when it is connected now (no wait), else None."""
        client = self._client
        return client if client is not None and client.status == "running" else None

    async def client(self) -> Client:
        """The connected client (DaskUnreachable when the scheduler cannot be reached)."""
        client = self._client
        if client is not None and client.status == "running":
            return client
        if client is not None:  # lost: its futures are cancelled; start over
            self._client = None
            with contextlib.suppress(Exception):
                await client.close(timeout=2)
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> Client:
        from distributed import Client

        adopt_dask_loggers()
        settings = self.settings
        address = settings.dask
        try:
            client: Client = await Client(
                address,
                asynchronous=True,
                security=self._security(),
                timeout=settings.connect_timeout.total_seconds(),
                set_as_default=False,
                name=f"clockd-{self.topic}",
            )
        except Exception as error:  # OSError, TimeoutError, TLS errors: said, never raised raw
            reason = str(error) or type(error).__name__
            raise DaskUnreachable(
                f"executor '{settings.name}': cannot reach the Dask scheduler at {address} "
                f"within {settings.connect_timeout.total_seconds():g}s ({reason})"
            ) from None
        from scheduler.running.dask.reruns import PLUGIN, RerunGuard

        try:
            await client.register_plugin(RerunGuard(), name=PLUGIN)
        except Exception as error:
            with contextlib.suppress(Exception):
                await client.close(timeout=2)
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else ""
            raise DaskUnreachable(
                f"executor '{settings.name}': the Dask scheduler at {address} cannot load "
                f"clockd's scheduler plugin ({type(error).__name__}: {reason}); is clockd "
                "installed beside the scheduler?"
            ) from None
        client.subscribe_topic(self.topic, self.on_event)
        self._client = client
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(
                self._watch(), name=f"clockd-dask-{settings.name}"
            )
        log.info("connected to the Dask scheduler executor=%s address=%s", settings.name, address)
        return client

    def _security(self) -> Any:
        settings = self.settings
        if not (settings.tls_ca_file or settings.tls_cert or settings.tls_key):
            return None
        from distributed.security import Security

        def text(path: Any) -> str | None:
            return None if path is None else str(path)

        return Security(
            tls_ca_file=text(settings.tls_ca_file),
            tls_client_cert=text(settings.tls_cert),
            tls_client_key=text(settings.tls_key),
            require_encryption=True,
        )

    async def _watch(self) -> None:
        """While connected: notice workers of running runs that left."""
        while not self._closed:
            await asyncio.sleep(WORKER_CHECK_INTERVAL)
            client = self._client
            if client is None or client.status != "running" or client.scheduler is None:
                continue
            try:
                addresses = sorted(set(self.alive_workers()))
                if addresses:
                    present = await client.scheduler.ncores(workers=addresses)
                    for address in addresses:
                        if address not in present:
                            self.on_worker_gone(address)
            except Exception as error:  # the next pass tries again
                log.debug("dask watch pass failed executor=%s: %r", self.name, error)

    async def stop_run(self, client: Client, address: str, key: str, reason: str) -> bool:
        """Ask the worker at `address` to stop the run of task `key` (SIGTERM to its group,
        SIGKILL after the grace); False when it does not run there (any more)."""
        from scheduler.running.dask.worker import stop_run

        answers = await client.run(stop_run, key, reason, workers=[address], on_error="return")
        return answers.get(address) is True

    async def stop_leftovers(self, daemon: str, keep_owner: str) -> list[str]:
        """Stop, on every worker, the runs of an earlier instance of daemon `daemon`."""
        from scheduler.running.dask.worker import stop_runs_of

        client = await self.client()
        answers = await client.run(stop_runs_of, daemon, keep_owner, on_error="return")
        return sorted(key for keys in answers.values() if isinstance(keys, list) for key in keys)

    async def close(self) -> None:
        """Disconnect (the scheduler then drops our tasks)."""
        self._closed = True
        if self._background is not None:
            self._background.cancel()
        client = self._client
        self._client = None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await client.close(timeout=5)
