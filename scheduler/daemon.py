"""`clockd serve`: start, reload, stop. One asyncio loop hosts APScheduler, the executor and uvicorn.

House rule 4: signal handlers only set a flag and wake the loop; the loop does the work.
The loop never sleeps more than ~1 s: each wake pings the watchdog, re-reads pause flags
(CLI changes), and compares wall and monotonic elapsed time to notice clock jumps.

APScheduler 3.11.3 traps avoided here (see shared/notes/libraries.md §1):
- job defaults are set explicitly (grace None, no coalescing, no instance cap) *and* the
  executor does not count instances, so nothing is dropped silently;
- the job function is never called: `ClockdExecutor._do_submit_job` hands (clock, run_times)
  to `firing`, which owns the scheduled time;
- jobs are never re-added with `replace_existing` (it drops a backlog) — reload modifies them;
- on stop the scheduler is paused and dropped, never `shutdown()` (its extra pass loses fires).
"""

from __future__ import annotations

import asyncio
import fcntl
import inspect
import logging
import os
import secrets
import signal
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.executors.base import BaseExecutor

from scheduler.firing import JUMP_THRESHOLD, ClockBook, Firing
from scheduler.systemd import Notifier
from scheduler.timesource import SYSTEM_TIME, TimeSource, whole_second

if TYPE_CHECKING:
    from apscheduler.job import Job as APJob
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from clocks.base import Clock
    from scheduler.models import Config, Job
    from scheduler.service import Service

log = logging.getLogger("clockd.daemon")

EX_CONFIG = 78
MAX_SLEEP = 1.0


def _placeholder(job: str, clock: str) -> None:  # pragma: no cover - never called
    """APScheduler needs a job function; clockd's executor never calls it."""


# APScheduler checks the function's signature on every add_job (inspect.signature, ~40 µs);
# a precomputed one makes loading 10,000 clocks markedly cheaper.
_placeholder.__signature__ = inspect.signature(_placeholder)  # type: ignore[attr-defined]


class ClockdExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands due fires to `Firing` instead of calling the job function."""

    def __init__(self, firing: Firing) -> None:
        super().__init__()
        self.firing = firing

    def submit_job(self, job: APJob, run_times: list[datetime]) -> None:
        # No max_instances accounting: runs are not APScheduler's business, the executor's
        # overlap policy decides; counting here would drop fires after the first N.
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: APJob, run_times: list[datetime]) -> None:
        trigger = job.trigger
        times = [trigger.consume(t) for t in run_times]
        self.firing.submit(job.kwargs["job"], job.kwargs["clock"], times)


def parse_listen(listen: str) -> tuple[str, int]:
    """(host, port) of a `listen` that `load_config` accepted (it refuses any other)."""
    from scheduler.config.load import split_listen

    parts = split_listen(listen)
    assert parts is not None, f"load_config let an invalid listen through: {listen!r}"
    return parts


def clock_fingerprint(job: Job, clock: Clock) -> str:
    """Equal fingerprints: the clock fires the same, so a reload keeps its next fire."""
    return f"{job.enabled}|{clock!r}"


class Daemon:
    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        environ: MutableMapping[str, str] | None = None,
        time_source: TimeSource = SYSTEM_TIME,
    ) -> None:
        self.config_path = Path(config_path) if config_path else None
        self.environ = os.environ if environ is None else environ
        self.time_source = time_source
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
        self._fingerprints: dict[tuple[str, str], str] = {}
        self._server: Any = None
        self._server_task: asyncio.Task[None] | None = None
        self._lock_file: Any = None
        self._metrics: Any = None
        self._last_status = ""
        self._last_counts: tuple[int, int] | None = None
        if find_spec("scheduler.metrics") is not None:
            from scheduler import metrics

            self._metrics = metrics

    # -- signals -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    # -- config ------------------------------------------------------------------------------

    def _load(self) -> Config | None:
        from scheduler.config import load_config
        from scheduler.errors import UserError
        from scheduler.problems import ConfigError

        try:
            config = load_config(self.config_path, environ=self.environ)
        except ConfigError as error:
            for problem in error.problems:
                log.error("config problem: %s", problem.render())
            return None
        except UserError as error:
            log.error("config problem: %s", error.message)
            return None
        # load_config refused an invalid or unauthenticated non-loopback `listen` already.
        return config

    # -- the run -----------------------------------------------------------------------------

    async def run(self) -> int:
        loaded = self._load()
        if loaded is None:
            log.error("not started: the config is invalid")
            self.notifier.notify("STATUS=invalid config", "ERRNO=78")
            return EX_CONFIG
        self.config = loaded
        from scheduler.logs import setup_logging

        setup_logging(self.config.daemon.log_format)
        if not self._take_lock():
            return 1
        # Before the (possibly slow) start: a SIGHUP's default action would kill us, and a
        # SIGTERM during start-up should still stop cleanly.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            await self._start()
            await self._main_loop()
            await self._stop()
        finally:
            self.notifier.close()
        return self._exit_code

    def _take_lock(self) -> bool:
        database = self.config.daemon.database
        database.parent.mkdir(parents=True, exist_ok=True)
        lock_path = database.with_name(database.name + ".lock")
        self._lock_file = open(lock_path, "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.error("another clockd serve is using database=%s (lock %s)", database, lock_path)
            return False
        return True

    def assemble(
        self,
        config: Config,
        store: Any,
        executor: Any,
        *,
        child_token: str | None = None,
        paused: bool = False,
    ) -> None:
        """Wire store, executor, firing, service and APScheduler; catch up; plan; start.

        Separate from `_start` so that a test can hand in its own executor and time source
        (`paused=True` keeps APScheduler from processing, to inspect the plan)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from scheduler.service import Service

        self.config, self.store, self.executor = config, store, executor
        now = self.time_source.now()
        self.book = ClockBook(self.store, self.time_source)
        self.firing = Firing(
            self.store,
            self.executor,
            self.book,
            lambda: self.config.jobs,
            catchup_limit=config.daemon.catchup_limit,
            time_source=self.time_source,
        )
        self.service = Service(
            self.config,
            self.store,
            self.executor,
            book=self.book,
            firing=self.firing,
            time_source=self.time_source,
            child_token=child_token,
        )
        self.service.next_fire = self._next_fire
        self.book.refresh_pauses()
        self.scheduler = AsyncIOScheduler(
            timezone="UTC",
            executors={"default": ClockdExecutor(self.firing)},
            job_defaults={
                "misfire_grace_time": None,
                "coalesce": False,
                "max_instances": 1_000_000,
            },
        )
        # Catch-up and planning before the scheduler runs: catch-up runs are claimed first,
        # then every clock is planned from now.
        states = self.store.clock_states()  # one query, not one per clock
        first_seen: dict[tuple[str, str], datetime] = {}
        self.book.preload(states)
        for job in self.config.jobs.values():
            for clock in job.clocks:
                self._plan(job, clock, now, catch_up=True, states=states, first_seen=first_seen)
        self.book.save_anchors()
        self.store.set_last_fires(first_seen)
        self.scheduler.start(paused=paused)
        self._started_wall = now
        self._mark = (now, self.time_source.monotonic())

    async def _start(self) -> None:
        from scheduler.executor import Executor
        from scheduler.store import Store

        settings = self.config.daemon
        now = self.time_source.now()
        self.store = Store.open(settings.database)
        crashed = self.store.mark_crashed(now)
        if crashed:
            log.warning("runs left running by a dead daemon marked crashed run_ids=%s", crashed)
        api_url = None
        if settings.listen:
            host, port = parse_listen(settings.listen)
            api_url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        child_token = secrets.token_urlsafe(32)
        executor = Executor(
            self.store,
            settings,
            api_url=api_url,
            child_token=child_token,
            on_event=self._on_event,
        )
        self.assemble(self.config, self.store, executor, child_token=child_token)
        settings = self.config.daemon
        if settings.listen:
            self._start_api(settings.listen)
        log.info(
            "started jobs=%d clocks=%d scheduled=%d database=%s listen=%s",
            len(self.config.jobs),
            self.config.clock_count,
            len(self.scheduler.get_jobs()),
            settings.database,
            settings.listen or "off",
        )
        if self._server_task is not None:
            # READY=1 only once the API answers (or could not bind: then we stop, exit 1)
            while not self._server.started and not self._server_task.done():
                await asyncio.sleep(0.01)
        if self._exit_code == 0:
            self.notifier.ready(self._status())

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

    def _job_id(self, job: str, clock: str) -> str:
        return f"{job}/{clock}"

    def _plan(
        self,
        job: Job,
        clock: Clock,
        now: datetime,
        *,
        catch_up: bool,
        states: Mapping[Any, Any] | None = None,
        first_seen: dict[tuple[str, str], datetime] | None = None,
    ) -> None:
        """Schedule one clock (after its catch-up) from now.

        `first_seen` collects the "seen until now" marks of first-loaded clocks, for the caller
        to write in one transaction; without it each is written at once."""
        from scheduler.triggers import ClockTrigger

        key = (job.name, clock.name)
        self._fingerprints[key] = clock_fingerprint(job, clock)
        if not (job.enabled and clock.enabled):
            return
        effective = self.book.effective(job.name, clock)
        state = states.get(key) if states is not None else self.store.clock_state(*key)
        last_fire = state.last_fire if state is not None else None
        if catch_up and last_fire is not None:
            self.firing.catch_up(job, effective, now, since=last_fire)
        if last_fire is None:
            # First load: mark "seen until now", so that fires missed while the daemon is
            # down before the clock's first fire are caught up too.
            if first_seen is not None:
                first_seen[key] = whole_second(now)
            else:
                self.store.set_last_fire(job.name, clock.name, whole_second(now))
        trigger = ClockTrigger(effective, on_gap=self._gap_handler(job.name, clock.name))
        first = trigger.first_after(now)
        if first is None:
            log.info("clock has no more fires job=%s clock=%s", job.name, clock.name)
            return
        self.scheduler.add_job(
            _placeholder,
            trigger=trigger,
            kwargs={"job": job.name, "clock": clock.name},
            id=self._job_id(job.name, clock.name),
            name=self._job_id(job.name, clock.name),
            next_run_time=first,
            misfire_grace_time=None,
            coalesce=False,
            max_instances=1_000_000,
        )

    def _gap_handler(self, job_name: str, clock_name: str):  # type: ignore[no-untyped-def]
        def on_gap(previous: datetime, now: datetime) -> None:
            # APScheduler was about to list every fire of a long gap (a forward jump seen by
            # its timer before our watcher): apply the catchup rule instead, bounded.
            job = self.config.jobs.get(job_name)
            clock = job.clock(clock_name) if job else None
            if job is None or clock is None:
                return
            effective = self.book.effective(job_name, clock)
            times = self.firing.missed(job, effective, now, since=previous)
            log.warning(
                "gap in fires job=%s clock=%s from=%s to=%s catchup=%d",
                job_name,
                clock_name,
                previous.isoformat(),
                now.isoformat(),
                len(times),
            )
            if times:
                self.firing.submit(job_name, clock_name, times, "catchup")

        return on_gap

    def _next_fire(self, job: str, clock: str) -> datetime | None:
        scheduled = self.scheduler.get_job(self._job_id(job, clock))
        if scheduled is None or scheduled.next_run_time is None:
            return None
        return whole_second(scheduled.trigger.nominal(scheduled.next_run_time))

    def _on_event(self, kind: str, record: Any) -> None:
        if self._metrics is not None:
            self._metrics.observe_event(kind, record)
        service = getattr(self, "service", None)  # events can come before assemble() ends
        for listener in list(service.event_listeners if service is not None else []):
            try:
                listener(kind, record)
            except Exception:
                log.exception("event listener failed event=%s", kind)

    def _start_api(self, listen: str) -> None:
        if find_spec("scheduler.api") is None:
            log.warning("HTTP API not available (scheduler.api missing) listen=%s", listen)
            return
        import uvicorn

        from scheduler.api import create_app

        host, port = parse_listen(listen)
        config = uvicorn.Config(
            create_app(self.service), host=host, port=port, log_level="warning", lifespan="off"
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
        """One wake: pause flags from the store, wall-clock jump detection, STATUS=."""
        self.book.refresh_pauses(force=False)
        if self.notifier.enabled:
            self._update_status()
        wall, monotonic = self.time_source.now(), self.time_source.monotonic()
        drift = (wall - self._mark[0]).total_seconds() - (monotonic - self._mark[1])
        self._mark = (wall, monotonic)
        if abs(drift) > JUMP_THRESHOLD.total_seconds():
            log.warning("wall clock jumped seconds=%.0f; re-planning every clock", drift)
            self.replan(wall, forward=drift > 0)

    def replan(self, now: datetime, *, forward: bool) -> None:
        """After a jump: forward → the catchup rule for what was skipped; both → plan from now.

        A backward jump re-plans from the new now; fires that already ran are refused by the
        (job, clock, scheduled_time) uniqueness, so nothing runs twice."""
        for scheduled in self.scheduler.get_jobs():
            job = self.config.jobs.get(scheduled.kwargs["job"])
            clock = job.clock(scheduled.kwargs["clock"]) if job else None
            if job is None or clock is None:
                continue
            effective = self.book.effective(job.name, clock)
            if forward:
                since = self.store.clock_state(job.name, clock.name).last_fire or self._started_wall
                self.firing.catch_up(job, effective, now, since=since)
            first = scheduled.trigger.first_after(now)
            if first is None:
                self.scheduler.remove_job(scheduled.id)
            else:
                self.scheduler.modify_job(scheduled.id, next_run_time=first)

    # -- reload ------------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: validate the whole new config first; a bad one changes nothing."""
        from scheduler.triggers import ClockTrigger

        self.notifier.reloading()
        log.info("reloading config path=%s", self.config.path)
        new = self._load()
        if new is None:
            log.error("reload refused: the new config is invalid; the old schedule keeps running")
            self.notifier.ready(self._status() + "; last reload refused (invalid config)")
            if self._metrics is not None:
                self._metrics.observe_reload(ok=False)
            return
        if new.daemon != self.config.daemon:
            log.warning("reload: [daemon] settings changed; they apply after a restart")
        now = self.time_source.now()
        old_keys = set(self._fingerprints)
        new_clocks = {
            (job.name, clock.name): (job, clock)
            for job in new.jobs.values()
            for clock in job.clocks
        }
        self.config = new
        self.service.config = new
        added = removed = changed = 0
        for key in old_keys - set(new_clocks):
            self._fingerprints.pop(key, None)
            if self.scheduler.get_job(self._job_id(*key)) is not None:
                self.scheduler.remove_job(self._job_id(*key))
            removed += 1
        for key, (job, clock) in new_clocks.items():
            fingerprint = clock_fingerprint(job, clock)
            if key not in old_keys:
                self._plan(job, clock, now, catch_up=True)
                added += 1
            elif self._fingerprints[key] != fingerprint:
                changed += 1
                self._fingerprints[key] = fingerprint
                job_id = self._job_id(*key)
                exists = self.scheduler.get_job(job_id) is not None
                if not (job.enabled and clock.enabled):
                    if exists:
                        self.scheduler.remove_job(job_id)
                    continue
                effective = self.book.effective(job.name, clock)
                trigger = ClockTrigger(effective, on_gap=self._gap_handler(*key))
                first = trigger.first_after(now)
                if first is None:
                    if exists:
                        self.scheduler.remove_job(job_id)
                elif exists:
                    self.scheduler.modify_job(job_id, trigger=trigger, next_run_time=first)
                else:
                    self._plan(job, clock, now, catch_up=False)
        self.book.refresh_pauses()
        log.info("reloaded added=%d removed=%d changed=%d", added, removed, changed)
        if self._metrics is not None:
            self._metrics.observe_reload(ok=True)
        self.notifier.ready(self._status())

    # -- stop --------------------------------------------------------------------------------

    async def _stop(self) -> None:
        self.notifier.stopping()
        log.info("stopping grace=%s", self.config.daemon.shutdown_grace)
        # Pause, never shutdown(): APScheduler 3.11.3 runs one more pass after shutdown and
        # loses the fires due then. Fires not claimed now are caught up on the next start.
        self.scheduler.pause()
        self.firing.close()
        await self.executor.shutdown(self.config.daemon.shutdown_grace)
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                try:
                    await asyncio.wait_for(self._server_task, timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    pass
        self.store.close()
        log.info("stopped")


def serve(config_path: str | Path | None = None) -> int:
    """Run the daemon until SIGTERM; the process exit code."""
    from scheduler.process import use_pidfd_child_watcher

    use_pidfd_child_watcher()
    return asyncio.run(Daemon(config_path).run())
