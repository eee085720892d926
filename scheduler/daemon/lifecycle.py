"""`clockd serve`: start, reload, stop. One asyncio loop hosts APScheduler, the executor and uvicorn.

House rule 4: signal handlers only set a flag and wake the loop; the loop does the work.
The loop never sleeps more than ~1 s: each wake pings the watchdog, re-reads pause flags
(CLI changes), and compares wall and monotonic elapsed time to notice clock jumps.

Planning clocks into APScheduler (and its traps) lives in `scheduler/planning.py`. On stop
the scheduler is paused and dropped, never `shutdown()`: APScheduler 3.11.3's extra pass
after shutdown loses fires (see shared/notes/libraries.md §1).

Why this module is long: `Daemon` is the one object that owns the loop and wires every part
at start and on reload; what can stand alone is split out (startup.py, recovery.py, health.py,
handover.py, membership.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import signal
from collections.abc import MutableMapping, Sequence
from datetime import datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.daemon.health import HealthWatch
from scheduler.daemon.recovery import recover, retry_note
from scheduler.daemon.startup import DatabaseWait, make_room_for_runs
from scheduler.daemon.systemd import Notifier
from scheduler.models import Identity
from scheduler.running.events import RunEvents
from scheduler.scheduling.clockbook import ClockBook
from scheduler.scheduling.firing import JUMP_THRESHOLD, Firing
from scheduler.scheduling.planning import Planner, create_scheduler
from scheduler.storage import StoreError, StoreOpenError, open_configured_store
from scheduler.storage.reader import StoreReader
from scheduler.storage.writer import StoreWriter
from scheduler.timesource import SYSTEM_TIME, TimeSource

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from scheduler.daemon.service import Service
    from scheduler.models import Config
    from scheduler.running.local.reaper import Subreaper
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.daemon")

EX_CONFIG = 78
EX_SOFTWARE = 70  # an internal error at start (a bug): systemd may restart it
MAX_SLEEP = 1.0
# On stop, how long queued store writes (run states, log lines) may take to be written
# while the store refuses them; what is left then is marked crashed by the next start.
STOP_WRITE_GRACE = 10.0


def parse_listen(listen: str) -> tuple[str, int]:
    """(host, port) of a `listen` that `load_config` accepted (it refuses any other)."""
    from scheduler.config.load import split_listen

    parts = split_listen(listen)
    assert parts is not None, f"load_config let an invalid listen through: {listen!r}"
    return parts


class Daemon:
    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        environ: MutableMapping[str, str] | None = None,
        time_source: TimeSource = SYSTEM_TIME,
        name: str | None = None,
    ) -> None:
        self.config_path = Path(config_path) if config_path else None
        self.environ = os.environ if environ is None else environ
        self.time_source = time_source
        self._name = name
        self.notifier = Notifier.from_environ(self.environ)
        self._wake = asyncio.Event()
        self._stop_requested = False
        self._reload_requested = False
        self._exit_code = 0
        self.config: Config
        self.scheduler: AsyncIOScheduler
        self.service: Service
        self.firing: Firing
        self.book: ClockBook
        self.planner: Planner
        self._server: Any = None
        self._server_task: asyncio.Task[None] | None = None
        self._metrics: Any = None
        self.events = RunEvents()
        self.backends: Any = None  # remote run backends (spec 9)
        self.health = HealthWatch(time_source)
        self._pause_read: asyncio.Task[None] | None = None
        self._reaper: Subreaper | None = None
        self.retried: list[int] = []
        self._pause_marker: object = None
        self._last_status = ""
        self._last_counts: tuple[int, int] | None = None
        self._stop_grace: timedelta | None = None  # overrides shutdown_grace (taken over)
        self.cluster: Any = None  # daemon/cluster.py: this daemon among those of its database
        self.pruner: Any = None  # daemon/pruner.py: history retention in the background
        if find_spec("scheduler.web.metrics") is not None:
            from scheduler.web import metrics

            self._metrics = metrics

    # -- signals -----------------------------------------------------------------------------

    def request_stop(self, *, exit_code: int | None = None, grace: timedelta | None = None) -> None:
        if exit_code is not None:
            self._exit_code = exit_code
        if grace is not None:
            self._stop_grace = grace
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    # -- config ------------------------------------------------------------------------------

    def _load(self) -> Config | None:
        config, problems = self._read_config()
        for problem in problems:
            log.error("config problem: %s", problem)
        return config

    def _read_config(self) -> tuple[Config | None, list[str]]:
        """The config, or None and every problem as one line each."""
        from scheduler.config import load_config
        from scheduler.errors import UserError
        from scheduler.problems import ConfigError

        try:
            # load_config refuses an invalid or unauthenticated non-loopback `listen` too.
            return load_config(self.config_path, environ=self.environ), []
        except ConfigError as error:
            return None, [problem.render() for problem in error.problems]
        except UserError as error:
            return None, [error.message]

    # -- the run -----------------------------------------------------------------------------

    async def run(self) -> int:
        loaded = self._load()
        if loaded is None:
            log.error("not started: the config is invalid")
            self.notifier.notify("STATUS=invalid config", "ERRNO=78")
            return EX_CONFIG
        self.config = loaded
        from scheduler.daemon.logs import setup_logging

        setup_logging(self.config.daemon.log_format)
        self._log_warnings(self.config)
        # Before the (possibly slow) start: a SIGHUP's default action would kill us, and a
        # SIGTERM during start-up should still stop cleanly.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            try:
                started = await self._start()
            except StoreOpenError as error:
                log.error("not started: %s", error.message)
                self.notifier.notify(f"STATUS={error.message}", f"ERRNO={error.sysexit}")
                return error.sysexit
            except StoreError as error:
                log.error("not started: %s", error)
                return 1
            except Exception as error:  # a bug: one line for the operator, details at DEBUG
                log.error("not started: internal error: %r", error)
                log.debug("start-up failed", exc_info=True)
                return EX_SOFTWARE
            if started:
                await self._main_loop()
            await self._stop()
        finally:
            self.notifier.close()
        return self._exit_code

    def _log_warnings(self, config: Config, previous: Config | None = None) -> None:
        """The config's warnings, once: at start, and after a reload those it did not have."""
        seen = set(previous.warnings) if previous is not None else set()
        for warning in config.warnings:
            if warning not in seen:
                log.warning("config warning: %s", warning.render())

    def daemon_name(self, config: Config) -> str:
        """This daemon's name (spec 8): `--name`, else $CLOCKD_NAME, else `[daemon] name`,
        else the hostname."""
        import socket

        return (
            self._name
            or self.environ.get("CLOCKD_NAME")
            or config.daemon.name
            or socket.gethostname()
        )

    async def assemble(
        self,
        config: Config,
        store: RunStore,
        executor: Any = None,
        *,
        child_token: str | None = None,
        api_url: str | None = None,
        paused: bool = False,
        crashed: Sequence[RunRecord] = (),
        identity: Identity | None = None,
    ) -> None:
        """Wire writer, readers, executor, firing, service and APScheduler; retry `crashed`
        runs; catch up; plan; start.

        Separate from `_start` so that a test can hand in its own store, executor and time
        source (`paused=True` keeps APScheduler from processing, to inspect the plan)."""
        from scheduler.daemon.service import Service

        self.config, self.store = config, store
        self.identity = identity or Identity.for_daemon(self.daemon_name(config))
        loop = asyncio.get_running_loop()
        states = store.clock_states()  # one read, before the writer's thread takes the store
        self.writer = StoreWriter(store, loop=loop)
        self.writer.start()
        settings = config.daemon
        self.reader = StoreReader(
            lambda: open_configured_store(settings, readonly=True, wait=store.blocking),
            on_loop=not store.blocking,
        )
        if executor is None:
            from scheduler.running.environment import hidden_variables_of
            from scheduler.running.executor import Executor

            hidden = hidden_variables_of(lambda: self.config)  # follows reloads
            self.backends = self._remote_backends(config, hidden)
            executor = Executor(
                self.writer,
                config.daemon,
                api_url=api_url,
                child_token=child_token,
                on_event=self._on_event,
                hidden_env=hidden,
                time_source=self.time_source,
                backend_for=self.backends.for_job if self.backends else None,
            )
        self.executor = executor
        now = self.time_source.now()
        self.book = ClockBook(
            self.time_source,
            states=states,
            save=lambda anchors: self.writer.submit(
                lambda store: store.set_anchors(anchors), "anchors"
            ),
        )
        self.firing = Firing(
            self.writer,
            self.executor,
            self.book,
            lambda: self.config.jobs,
            catchup_limit=config.daemon.catchup_limit,
            time_source=self.time_source,
            last_fires={key: s.last_fire for key, s in states.items() if s.last_fire},
            identity=self.identity,
        )
        self.service = Service(
            self.config,
            self.writer,
            self.reader,
            self.executor,
            book=self.book,
            firing=self.firing,
            events=self.events,
            time_source=self.time_source,
            child_token=child_token,
            identity=self.identity,
        )
        self.scheduler = create_scheduler(self.firing)
        self.planner = Planner(
            self.scheduler,
            self.book,
            self.firing,
            lambda: self.config.jobs,
            started_wall=now,
        )
        self.service.next_fire = self.planner.next_fire
        self.service.on_reload = self.reload
        self.service.health_checks = lambda: self.health.checks(
            self.writer, self.scheduler, self.firing
        )
        self._pause_marker = store.changes_marker()
        # Crashed runs retried first (they are older than any fire now due), then catch-up
        # fires are queued, then every clock is planned from now.
        self.retried = self.service.retry_crashed(crashed) if crashed else []
        self.planner.plan_all(self.config.jobs, now)
        self.scheduler.start(paused=paused)
        self._mark = (now, self.time_source.monotonic())

    def _remote_backends(self, config: Config, hidden: Any) -> Any:
        """The backends of `[executors.*]` (spec 9), None without any: they connect in the
        background at once and stop what an earlier instance left on their workers."""
        if not config.executors:
            return None
        from scheduler.running.backends import Backends

        backends = Backends(
            lambda: self.config,
            self.identity,
            public_url=config.daemon.public_url,
            hidden_env=hidden,
        )
        backends.connect_all()
        return backends

    async def _start(self) -> bool:
        """Open the store, assemble, serve the API; False when stopped before it was done."""
        from scheduler.daemon import cluster, membership

        settings = self.config.daemon
        store = await self._database_wait().open_store(settings)
        if store is None:
            return False
        identity = Identity.for_daemon(self.daemon_name(self.config))
        self.identity = identity
        try:
            if hasattr(store, "lock_for_daemon"):
                store.lock_for_daemon()
            self.cluster = membership.for_store(store, self.config, identity)
            link = self.cluster
            if isinstance(link, cluster.Cluster):  # record this daemon before anything runs

                def register() -> bool:
                    link.register(store)
                    return True  # None from _startup_write means it could not be written

                registered = await self._startup_write(store, register)
                if registered is None:
                    store.close()
                    return False
            recovered = await recover(
                store,
                identity,
                self.time_source.now(),
                lambda write: self._startup_write(store, write),
            )
        except BaseException:
            store.close()
            raise
        if recovered is None:
            store.close()
            return False
        make_room_for_runs(settings.max_concurrent_runs)
        from scheduler.running.local.process import prepare_spawning

        prepare_spawning()
        api_url = None
        if settings.listen:
            host, port = parse_listen(settings.listen)
            api_url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        child_token = secrets.token_urlsafe(32)
        await self.assemble(
            self.config,
            store,
            child_token=child_token,
            api_url=api_url,
            crashed=recovered.retryable,
            identity=identity,
        )
        retry_note(self.retried, recovered.crashed)
        self._reaper = self._subreaper()
        self.service.cluster = self.cluster
        if isinstance(self.cluster, cluster.Cluster):
            self.firing.shared = True
            self.firing.burst_share = self.cluster.burst_share
            from scheduler.daemon.handover import ClusterGlue

            # this start's own leftovers were retried by `assemble` (recover's retryable)
            ClusterGlue(self).attach(self.cluster, [])
        settings = self.config.daemon
        if settings.listen:
            self._start_api(settings.listen)
        log.info(
            "started jobs=%d clocks=%d scheduled=%d database=%s listen=%s",
            len(self.config.jobs),
            self.config.clock_count,
            len(self.scheduler.get_jobs()),
            store.location,
            settings.listen or "off",
        )
        if self._server_task is not None:
            # READY=1 only once the API answers (or could not bind: then we stop, exit 1)
            while not self._server.started and not self._server_task.done():
                await asyncio.sleep(0.01)
        if self._exit_code == 0:
            freeze_heap()
            self.notifier.ready(self._status())
        self._start_pruner()
        return True

    def _start_pruner(self) -> None:
        from scheduler.daemon.pruner import Pruner

        self.pruner = Pruner(
            self.writer,
            lambda: self.config.jobs,
            self.config.daemon.keep_runs_for,
            self.time_source,
            next_pass=lambda: getattr(self.scheduler, "next_pass", None),
        )
        self.service.pruner = self.pruner
        self.pruner.start()

    def _subreaper(self) -> Subreaper | None:
        from scheduler.running.local.reaper import start_subreaper

        executor = self.executor
        return start_subreaper(
            self.identity.owner, lambda run: executor.live_record(run) is not None
        )

    def _database_wait(self) -> DatabaseWait:
        return DatabaseWait(self.notifier, lambda: self._stop_requested, self._wake)

    async def _startup_write(self, store: RunStore, write: Any) -> Any:
        return await self._database_wait().write(store, write)

    def _status(self) -> str:
        return f"scheduling {len(self.scheduler.get_jobs())} clocks of {len(self.config.jobs)} jobs"

    def _update_status(self) -> None:
        """A STATUS= line when the number of active runs changed (shown by systemctl status)."""
        counts = (self.executor.running_count(), self.executor.pending_count())
        if counts == self._last_counts:
            return  # the common idle wake: no get_jobs() over every clock
        self._last_counts = counts
        status = f"{self._status()}; {counts[0]} running, {counts[1]} pending"
        if status != self._last_status:
            self._last_status = status
            self.notifier.status(status)

    def _on_event(self, kind: str, record: Any) -> None:
        if self._metrics is not None:
            self._metrics.observe_event(kind, record)
        self.events.publish(kind, record)

    def _start_api(self, listen: str) -> None:
        if find_spec("scheduler.web.api") is None:
            log.warning("HTTP API not available (scheduler.web.api missing) listen=%s", listen)
            return
        import uvicorn

        from scheduler.web.api import create_app

        host, port = parse_listen(listen)
        config = uvicorn.Config(
            create_app(self.service),
            host=host,
            port=port,
            log_level="warning",
            # None: no handlers of uvicorn's own; its records reach clockd's (logs.py).
            log_config=None,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)

        async def serve() -> None:
            try:
                # _serve, not serve(): serve() installs its own SIGTERM/SIGINT handlers and
                # re-raises the signal on exit, which would take the daemon's lifecycle away.
                await self._server._serve()
            except SystemExit:
                log.error("HTTP API could not start listen=%s", listen)
                self._exit_code = 1
                self.request_stop()

        self._server_task = asyncio.get_running_loop().create_task(serve())

    # -- the loop ----------------------------------------------------------------------------

    async def _main_loop(self) -> None:
        interval = self.notifier.watchdog_interval
        sleep = MAX_SLEEP if interval is None else min(MAX_SLEEP, interval)
        next_ping = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=sleep)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stop_requested:
                return
            if interval is not None and self.time_source.monotonic() >= next_ping:
                # From the loop itself: a stuck loop stops the pings and systemd restarts us.
                self.notifier.watchdog()
                next_ping = self.time_source.monotonic() + interval
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
            try:
                self.tick()
            except Exception:
                log.exception("tick failed")

    def tick(self) -> None:
        """One wake: pause flags from the store, wall-clock jump detection, STATUS=, orphans
        of ended runs."""
        self.health.tick(self.time_source.monotonic())
        if self._reaper is not None:
            self._reaper.sweep()
        if self._pause_read is None or self._pause_read.done():
            self._pause_read = asyncio.get_running_loop().create_task(self._read_pauses())
        if self.notifier.enabled:
            self._update_status()
        wall, monotonic = self.time_source.now(), self.time_source.monotonic()
        elapsed = monotonic - self._mark[1]
        drift = (wall - self._mark[0]).total_seconds() - elapsed
        self._mark = (wall, monotonic)
        if abs(drift) > JUMP_THRESHOLD.total_seconds():
            log.warning("wall clock jumped seconds=%.0f; re-planning every clock", drift)
            # The jump came somewhere in the last `elapsed` seconds: on the new wall time,
            # the earliest it can have been is `wall - elapsed`.
            self.replan(wall, forward=drift > 0, jumped_at=wall - timedelta(seconds=elapsed))

    async def _read_pauses(self, *, force: bool = False) -> None:
        """Pause flags from the store (the CLI may write them while the daemon runs), read
        on a reader thread; skipped while the store's files are unchanged (with 10,000
        clocks an idle daemon then costs almost nothing per wake)."""
        marker = self._pause_marker

        def read(store: RunStore) -> tuple[object, set[tuple[str, str]] | None]:
            now_marker = store.changes_marker()
            if not force and now_marker == marker:
                return now_marker, None
            return now_marker, store.paused()

        try:
            self._pause_marker, paused = await self.reader.call(read)
        except Exception as error:  # the store is unreadable now: keep the flags we know
            log.debug("pause flags not read: %s", error)
            return
        if paused is not None:
            self.book.apply_paused(paused)

    def replan(self, now: datetime, *, forward: bool, jumped_at: datetime | None = None) -> None:
        """After a wall-clock jump: see `Planner.replan`."""
        self.planner.replan(now, forward=forward, jumped_at=jumped_at)

    # -- reload ------------------------------------------------------------------------------

    def reload(self) -> list[str]:
        """SIGHUP and `POST /api/v1/reload`: validate the whole new config first; a bad one
        changes nothing. The problems of a refused config, one line each; [] when reloaded.
        It takes the loop as long as a config load and the re-planning take, no longer."""
        self.notifier.reloading()
        log.info("reloading config path=%s", self.config.path)
        new, problems = self._read_config()
        if new is None:
            for problem in problems:
                log.error("config problem: %s", problem)
            log.error("reload refused: the new config is invalid; the old schedule keeps running")
            self.notifier.ready(self._status() + "; last reload refused (invalid config)")
            if self._metrics is not None:
                self._metrics.observe_reload(ok=False)
            return problems
        if new.daemon != self.config.daemon:
            log.warning("reload: [daemon] settings changed; they apply after a restart")
        now = self.time_source.now()
        gc.unfreeze()  # the old config's objects may be garbage now
        self._log_warnings(new, self.config)
        self.config = new
        self.service.config = new
        added, removed, changed = self.planner.apply(new.jobs, now)
        freeze_heap()
        log.info("reloaded added=%d removed=%d changed=%d", added, removed, changed)
        if self._metrics is not None:
            self._metrics.observe_reload(ok=True)
        self.notifier.ready(self._status())
        return []

    # -- stop --------------------------------------------------------------------------------

    async def _stop(self) -> None:
        self.notifier.stopping()
        if not hasattr(self, "scheduler"):  # stopped before it was assembled
            return
        log.info("stopping grace=%s", self.config.daemon.shutdown_grace)
        # Pause, never shutdown(): APScheduler 3.11.3 runs one more pass after shutdown and
        # loses the fires due then. Fires not claimed now are caught up on the next start.
        self.scheduler.pause()
        self.firing.close()
        await self.executor.shutdown(self._stop_grace or self.config.daemon.shutdown_grace)
        if self._reaper is not None:  # every run has ended: what they left goes now
            self._reaper.sweep()
        if self.backends is not None:
            await self.backends.close()
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                try:
                    await asyncio.wait_for(self._server_task, timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    pass
        if self._pause_read is not None:
            self._pause_read.cancel()
        if self.pruner is not None:
            self.pruner.close()
        # Blocking is fine now: nothing else runs. Queued writes get a last chance.
        left = self.writer.close(STOP_WRITE_GRACE)
        if left:
            log.error(
                "stopped with %d store writes not done: %s; the next start marks unfinished "
                "runs crashed and catches up unclaimed fires",
                left,
                self.writer.health.last_error,
            )
        self.reader.close()
        if self.cluster is not None:
            self.cluster.close()
        self.store.close()
        log.info("stopped")


def freeze_heap() -> None:
    """Collect once, then keep what exists (config, plan, libraries) out of every later
    collection: a full collection walks the whole heap (25 ms and more with many clocks),
    which would stall firing at whatever instant it happens to run."""
    gc.collect()
    gc.freeze()


def serve(config_path: str | Path | None = None, *, name: str | None = None) -> int:
    """Run the daemon until SIGTERM; the process exit code."""
    return asyncio.run(Daemon(config_path, name=name).run())
