"""The daemon's parts in a CLI process: what `clockd run` and `backfill --local` run runs with.

`LocalSession` opens the store (a writer and a reader, as the daemon does), an executor that
echoes each log line here, a `Service` recording this process as the runs' owner, and a
`Firing` for backfills. It writes the database only where `check_may_write` allows.

When the CLI may write a database directly (the rule of issue 16, README "Who writes the
database"): only as the owner of the database file. A write by another user — root, most
often — could leave a `-wal` or `-shm` file the daemon's user cannot open, which locks the
daemon out. Whether a daemon holds the database is told by its lock file `<db>.lock`
(`SQLiteStore.lock_for_daemon` holds a `flock` on it while `clockd serve` runs).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scheduler.errors import UserError

if TYPE_CHECKING:
    from scheduler.daemon.service import Service
    from scheduler.models import Config
    from scheduler.running.executor import Executor
    from scheduler.scheduling.firing import Firing
    from scheduler.storage.base import RunStore
    from scheduler.storage.reader import StoreReader
    from scheduler.storage.records import LogLine, RunRecord
    from scheduler.storage.writer import StoreWriter


def owner_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def write_refusal(database: str) -> str | None:
    """Why this process may not write `database` directly, or None when it may: a file (or a
    server URL, which has its own users) that does not exist yet, or one this user owns."""
    from scheduler.storage import is_url

    if is_url(database):
        return None
    path = Path(database)
    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"the database {path} cannot be read: {error.strerror}"
    if owner == os.geteuid():
        return None
    name = owner_name(owner)
    return (
        f"the database {path} belongs to {name}, not {owner_name(os.geteuid())}: a write "
        f"could leave files its daemon cannot open; run this as {name} "
        f"(sudo -u {name} clockd ...) or through the daemon's API"
    )


def check_may_write(database: str, *, what: str) -> None:
    """UserError when `write_refusal` refuses."""
    reason = write_refusal(database)
    if reason is not None:
        raise UserError(f"{what} writes the run history, but {reason}")


def daemon_holds(database: str) -> bool:
    """Whether a `clockd serve` holds the SQLite database (its lock file is locked). Never
    creates the lock file; False for a database server (it has no such file)."""
    from scheduler.storage import is_url

    if is_url(database):
        return False
    lock = Path(database).with_name(Path(database).name + ".lock")
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


class LocalSession:
    """`async with LocalSession(config, echo=...) as session:` — `session.service` creates runs,
    `session.firing` claims backfill fires, `session.executor` runs them here."""

    def __init__(
        self,
        config: Config,
        *,
        echo: Callable[[LogLine], None] | None,
        on_event: Callable[[str, RunRecord], None] | None = None,
        max_concurrent_runs: int | None = None,
        what: str = "clockd run",
    ) -> None:
        self.config = config
        self.echo = echo
        self.on_event = on_event
        self.max_concurrent_runs = max_concurrent_runs
        self.what = what
        self.service: Service
        self.executor: Executor
        self.firing: Firing
        self._store: RunStore
        self._writer: StoreWriter
        self._reader: StoreReader

    async def __aenter__(self) -> LocalSession:
        import dataclasses

        from scheduler.daemon.service import Service
        from scheduler.models import Identity
        from scheduler.running.environment import hidden_variables_of
        from scheduler.running.executor import Executor
        from scheduler.scheduling.clockbook import ClockBook
        from scheduler.scheduling.firing import Firing
        from scheduler.storage import open_configured_store
        from scheduler.storage.reader import StoreReader
        from scheduler.storage.writer import StoreWriter

        settings = self.config.daemon
        check_may_write(settings.database, what=self.what)
        if self.max_concurrent_runs is not None:
            settings = dataclasses.replace(settings, max_concurrent_runs=self.max_concurrent_runs)
        self._store = open_configured_store(settings, wait=False)
        states = self._store.clock_states()
        self._writer = StoreWriter(self._store)
        self._writer.start()
        self._reader = StoreReader(
            lambda: open_configured_store(settings, readonly=True, wait=False),
            on_loop=not self._store.blocking,
        )
        config = self.config
        identity = Identity.for_cli()
        hidden = hidden_variables_of(lambda: config)
        self._backends = None
        if config.executors:  # a job of a Dask executor runs on its cluster (spec 9)
            from scheduler.running.backends import Backends

            self._backends = Backends(lambda: config, identity, hidden_env=hidden)
        self.executor = Executor(
            self._writer,
            settings,
            api_url=None,
            child_token=None,
            echo=self.echo,
            on_event=self.on_event,
            hidden_env=hidden,
            backend_for=self._backends.for_job if self._backends else None,
        )
        writer = self._writer
        book = ClockBook(
            states=states,
            save=lambda anchors: writer.submit(lambda store: store.set_anchors(anchors), "anchors"),
        )
        self.firing = Firing(
            self._writer,
            self.executor,
            book,
            lambda: config.jobs,
            catchup_limit=settings.catchup_limit,
            identity=identity,
        )
        self.service = Service(
            config,
            self._writer,
            self._reader,
            self.executor,
            book=book,
            firing=self.firing,
            identity=identity,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._backends is not None:
            await self._backends.close()
        left = await asyncio.to_thread(self._writer.close, 30.0)
        if left:
            click.echo(f"clockd: {left} history writes could not be stored", err=True)
        self._reader.close()
        self._store.close()

    async def wait_for(self, run_id: int) -> Any:
        """The run's final record once the executor is idle."""
        await self.executor.wait_idle()
        return await self.service.get_run(run_id)
