"""Fire → run: claim each fire once (job, clock, scheduled_time), resolve its parameters, hand it
to the executor; catch-up of fires missed while the daemon was down.

Fires are claimed in transactions of 4, 8, 16, then up to `FIRE_CHUNK` (32), one per loop
pass: `Firing.submit` queues what APScheduler hands over, and `_flush_soon` (scheduled with
`loop.call_soon`) claims the next chunk, so 1,000 clocks due at the same second cost about 35
commits, not 1,000, and the first runs start while the rest are still being claimed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.timesource import SYSTEM_TIME, TimeSource, whole_second

if TYPE_CHECKING:
    from clocks.base import Clock
    from clocks.parameters import ResolvedParameters
    from clocks.resolution import Resolver
    from scheduler.models import Job
    from scheduler.running.executor import Executor
    from scheduler.storage.sqlite.store import Store

log = logging.getLogger("clockd.firing")

# A wait that ends more than this far from where the monotonic clock says it should have
# ended is a wall-clock jump (NTP step, suspend), not a busy loop.
JUMP_THRESHOLD = timedelta(seconds=60)
# Fires claimed per transaction and loop pass (see `Firing`): the first chunk of an instant
# is small, so its first run starts within a few milliseconds; then they double up to 32.
FIRST_FIRE_CHUNK = 4
FIRE_CHUNK = 32


# -- parameters ----------------------------------------------------------------------------


def secret_refs(resolved: ResolvedParameters) -> dict[str, Any]:
    return {name: resolved.values[name] for name in resolved.secrets if name in resolved.values}


# -- effective clocks and pause flags ------------------------------------------------------


class ClockBook:
    """The clocks the daemon fires: config clocks with their stored interval anchor applied,
    and the pause flags from the store (re-read on every wake, so CLI changes apply within ~1 s).
    """

    def __init__(self, store: Store, time_source: TimeSource = SYSTEM_TIME) -> None:
        self.store = store
        self.time_source = time_source
        self._anchored: dict[tuple[str, str], tuple[Clock, Clock]] = {}
        self._paused_clocks: set[tuple[str, str]] = set()
        self._paused_jobs: set[str] = set()
        self._marker: tuple[tuple[int, int], ...] = ()
        self._refreshed = 0.0
        # While planning many clocks at once (start-up): anchors known from one query, and new
        # ones written together by `save_anchors`, not one commit per clock.
        self._known_anchors: dict[tuple[str, str], datetime | None] | None = None
        self._unsaved_anchors: dict[tuple[str, str], datetime] = {}

    def preload(self, states: Mapping[tuple[str, str], Any]) -> None:
        """Take anchors from `states` (Store.clock_states) until `save_anchors`."""
        self._known_anchors = {key: state.anchor for key, state in states.items()}

    def save_anchors(self) -> None:
        self.store.set_anchors(self._unsaved_anchors)
        self._unsaved_anchors.clear()
        self._known_anchors = None

    def effective(self, job: str, clock: Clock) -> Clock:
        """`clock`, anchored when it needs an anchor (an interval clock without `start`).

        The anchor is the stored one, else now (then stored), so a restart keeps the rhythm.
        """
        if not clock.needs_anchor:
            return clock
        key = (job, clock.name)
        cached = self._anchored.get(key)
        if cached is not None and cached[0] is clock:
            return cached[1]
        if self._known_anchors is not None:
            anchor = self._known_anchors.get(key)
        else:
            anchor = self.store.clock_state(job, clock.name).anchor
        if anchor is None:
            anchor = whole_second(self.time_source.now())
            if self._known_anchors is not None:
                self._unsaved_anchors[key] = anchor
            else:
                self.store.set_anchor(job, clock.name, anchor)
            log.info("anchored job=%s clock=%s anchor=%s", job, clock.name, anchor.isoformat())
        anchored = clock.anchored(anchor)
        self._anchored[key] = (clock, anchored)
        return anchored

    def refresh_pauses(self, *, force: bool = True) -> None:
        """Re-read every pause flag in one query (clock "*" rows pause a whole job).

        With `force=False` the query is skipped while the database files are unchanged
        (nobody wrote, so no pause changed), still re-reading at least every 30 s: with
        10,000 clocks an idle daemon then costs almost nothing per wake.
        """
        from scheduler.storage.sqlite.store import JOB_WIDE

        marker = self._files_marker()
        now = time.monotonic()
        if not force and marker == self._marker and now - self._refreshed < 30:
            return
        self._marker, self._refreshed = marker, now
        paused = self.store.paused()
        self._paused_jobs = {job for job, clock in paused if clock == JOB_WIDE}
        self._paused_clocks = {(job, clock) for job, clock in paused if clock != JOB_WIDE}

    def _files_marker(self) -> tuple[tuple[int, int], ...]:
        path = Path(self.store.path)
        marker = []
        for candidate in (path, path.with_name(path.name + "-wal")):
            try:
                stat = candidate.stat()
            except OSError:
                continue
            marker.append((stat.st_mtime_ns, stat.st_size))
        return tuple(marker)

    def is_paused(self, job: str, clock: str) -> bool:
        return job in self._paused_jobs or (job, clock) in self._paused_clocks

    def set_paused(self, job: str, clock: str | None, paused: bool) -> None:
        """Apply a pause at once (API), without waiting for the next re-read."""
        if clock is None:
            (self._paused_jobs.add if paused else self._paused_jobs.discard)(job)
        else:
            (self._paused_clocks.add if paused else self._paused_clocks.discard)((job, clock))


# -- firing --------------------------------------------------------------------------------


@dataclass
class _Due:
    job: str
    clock: str
    times: list[datetime]
    trigger: str = "clock"


@dataclass
class FireResult:
    """What one flush did (for tests and logs)."""

    created: list[int] = field(default_factory=list)
    duplicates: list[tuple[str, str, datetime]] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    paused: list[tuple[str, str, datetime]] = field(default_factory=list)


class Firing:
    """Turns due fires into runs. `jobs()` gives the current config's jobs (it changes on reload).

    Fires handed in by APScheduler wait in a queue and are claimed in chunks of 4, 8, 16, then
    `FIRE_CHUNK`, one chunk per loop pass: the first runs of a large instant start while later
    fires are still being claimed, instead of after all of them.
    """

    def __init__(
        self,
        store: Store,
        executor: Executor,
        book: ClockBook,
        jobs: Callable[[], Mapping[str, Job]],
        *,
        catchup_limit: int = 100,
        time_source: TimeSource = SYSTEM_TIME,
    ) -> None:
        self.store = store
        self.executor = executor
        self.book = book
        self.jobs = jobs
        self.catchup_limit = catchup_limit
        self.time_source = time_source
        self._waiting: deque[_Due] = deque()
        self._chunk = FIRST_FIRE_CHUNK
        self._flush_scheduled = False
        self._resolvers: dict[tuple[str, str], tuple[Job, Resolver]] = {}
        self.closed = False

    def close(self) -> None:
        """Stop accepting fires (daemon stopping); unclaimed ones are caught up on restart
        (their clocks' last fire did not move)."""
        self.closed = True
        self._waiting.clear()

    # Called from the APScheduler executor, inside a scheduler pass.
    def submit(
        self, job: str, clock: str, times: Sequence[datetime], trigger: str = "clock"
    ) -> None:
        if self.closed:
            return
        self._waiting.append(_Due(job, clock, list(times), trigger))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._flush_soon)
            except RuntimeError:  # no loop (unit tests): flush now
                self._flush_soon()

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        try:
            self.fire(self._next_chunk(self._chunk))
        except Exception:  # never stop the loop for one bad pass; the fires stay unclaimed
            log.exception("fire batch failed")
        if self._waiting and not self.closed:
            self._chunk = min(2 * self._chunk, FIRE_CHUNK)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_soon)
        else:
            self._chunk = FIRST_FIRE_CHUNK

    def flush(self) -> FireResult:
        """Claim every waiting fire now (tests, and callers that need the result)."""
        result = FireResult()
        while self._waiting and not self.closed:
            chunk = self.fire(self._next_chunk())
            for name in ("created", "duplicates", "failed", "paused"):
                getattr(result, name).extend(getattr(chunk, name))
        return result

    def _next_chunk(self, size: int = FIRE_CHUNK) -> list[_Due]:
        """Up to `size` fires from the front of the queue (a long catch-up is split)."""
        chunk: list[_Due] = []
        room = size
        while self._waiting and room > 0:
            due = self._waiting[0]
            if len(due.times) <= room:
                chunk.append(self._waiting.popleft())
                room -= len(due.times)
            else:
                chunk.append(_Due(due.job, due.clock, due.times[:room], due.trigger))
                del due.times[:room]
                room = 0
        return chunk

    def fire(self, batch: Sequence[_Due]) -> FireResult:
        """Claim `batch` in one transaction (with the clocks' last fires), then start each
        claimed run."""
        from clocks.parameters import ParameterError
        from scheduler.storage.sqlite.store import NewRun

        now = self.time_source.now()
        result = FireResult()
        jobs = self.jobs()
        prepared: list[tuple[Job, Clock, datetime, ResolvedParameters | None]] = []
        new_runs: list[NewRun] = []
        last_fires: dict[tuple[str, str], datetime] = {}
        for due in batch:
            job = jobs.get(due.job)
            config_clock = job.clock(due.clock) if job is not None else None
            if job is None or config_clock is None:
                log.info("fire dropped job=%s clock=%s reason=removed", due.job, due.clock)
                continue
            clock = self.book.effective(job.name, config_clock)
            for scheduled_time in due.times:
                scheduled_time = whole_second(scheduled_time)
                key = (job.name, clock.name)
                backfill = due.trigger == "backfill"
                if not backfill:  # a backfill is in the past: it must not move last_fire back
                    last_fires[key] = max(scheduled_time, last_fires.get(key, scheduled_time))
                if not backfill and self.book.is_paused(job.name, clock.name):
                    result.paused.append((job.name, clock.name, scheduled_time))
                    continue
                resolved: ResolvedParameters | None = None
                error: str | None = None
                try:
                    resolved = self.resolver(job, config_clock).resolve(scheduled_time)
                except ParameterError as problem:
                    error = f"parameters: {problem}"
                new_runs.append(
                    NewRun(
                        job=job.name,
                        clock=clock.name,
                        trigger=due.trigger,
                        scheduled_time=scheduled_time,
                        parameters=resolved.masked() if resolved else {},
                        secret_refs=secret_refs(resolved) if resolved else {},
                        state="pending" if resolved else "failed",
                        created_at=now,
                        error=error,
                        lateness=None if backfill else (now - scheduled_time).total_seconds(),
                    )
                )
                prepared.append((job, clock, scheduled_time, resolved))
        if new_runs:
            ids = self.store.claim_fires(new_runs, last_fires)
        else:
            ids = []
            self.store.set_last_fires(last_fires)
        for (job, clock, scheduled_time, resolved), run, run_id in zip(
            prepared, new_runs, ids, strict=True
        ):
            if run_id is None:
                result.duplicates.append((job.name, clock.name, scheduled_time))
                log.info(
                    "fire already has a run job=%s clock=%s scheduled_time=%s",
                    job.name,
                    clock.name,
                    scheduled_time.isoformat(),
                )
                continue
            if resolved is None:
                # Parameters that fail at fire time (a dynamic default that renders badly, a
                # missing env secret reference...) make a failed run, never a stopped daemon.
                self.store.update_run(run_id, ended_at=now)
                result.failed.append(run_id)
                record = run.to_record(run_id)
                record.ended_at = now
                self.executor.fail_before_start(record, job, run.error or "parameters")
                log.warning(
                    "fire failed job=%s clock=%s run_id=%s error=%s",
                    job.name,
                    clock.name,
                    run_id,
                    run.error,
                )
                continue
            try:
                resolver = self.resolver(job, clock)
                if resolver.uses_run_id:
                    resolved = resolver.resolve(scheduled_time, run_id=run_id)
                    run.parameters, run.secret_refs = resolved.masked(), secret_refs(resolved)
                    self.store.update_run(
                        run_id, parameters=run.parameters, secret_refs=run.secret_refs
                    )
            except ParameterError as problem:
                self.store.update_run(
                    run_id, state="failed", error=f"parameters: {problem}", ended_at=now
                )
                result.failed.append(run_id)
                continue
            result.created.append(run_id)
            # The "run started" line repeats this; at INFO a burst would log every run twice.
            log.debug(
                "fire job=%s clock=%s trigger=%s scheduled_time=%s run_id=%s lateness=%.3f",
                job.name,
                clock.name,
                run.trigger,
                scheduled_time.isoformat(),
                run_id,
                run.lateness or 0.0,
            )
            self.executor.submit(run_id, job, resolved, run.to_record(run_id))
        return result

    def resolver(self, job: Job, clock: Clock) -> Resolver:
        """How fires of `clock` get their parameters: built once per clock (and again after
        a reload, which makes new jobs), not once per fire. `clock` may be the config's or
        its anchored copy: they resolve alike."""
        from clocks.resolution import Resolver

        key = (job.name, clock.name)
        cached = self._resolvers.get(key)
        if cached is not None and cached[0] is job:
            return cached[1]
        resolver = Resolver.for_clock(job.name, job.parameters, clock)
        self._resolvers[key] = (job, resolver)
        return resolver

    def backfill(self, job: str, clock: str, times: Sequence[datetime]) -> FireResult:
        """Claim and start one run per time of `times`, trigger "backfill" (fires that
        already have a run are listed as duplicates)."""
        return self.fire([_Due(job, clock, list(times), "backfill")])

    # -- catch-up ----------------------------------------------------------------------------

    def missed(
        self, job: Job, clock: Clock, now: datetime, *, since: datetime | None = None
    ) -> list[datetime]:
        """Fires of `clock` missed in (since or stored last_fire, now], by its catchup policy."""
        from clocks.catchup import missed_fires

        last_fire = (
            since if since is not None else self.store.clock_state(job.name, clock.name).last_fire
        )
        if last_fire is None:
            return []
        following = clock.next_fire(last_fire)
        if following is None or following > now:  # the common case, in one call
            return []
        return list(missed_fires(clock, last_fire, now, clock.catchup, self.catchup_limit))

    def catch_up(
        self, job: Job, clock: Clock, now: datetime, *, since: datetime | None = None
    ) -> FireResult:
        """Runs with trigger "catchup" for the missed fires (claimed, so never duplicated)."""
        times = self.missed(job, clock, now, since=since)
        if not times:
            return FireResult()
        log.info(
            "catchup job=%s clock=%s policy=%s fires=%d",
            job.name,
            clock.name,
            clock.catchup,
            len(times),
        )
        return self.fire([_Due(job.name, clock.name, times, "catchup")])
