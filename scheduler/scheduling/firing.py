"""Fire → run: claim each fire once (job, clock, scheduled_time), resolve its parameters, hand
it to the executor; catch-up of fires missed while the daemon was down.

Due fires wait in a backlog; claims go to the store writer's thread in chunks of 4, 8, 16,
then up to `FIRE_CHUNK` (32) fires a transaction, a few chunks in flight at once, so 1,000
clocks due at the same second cost about 35 commits, and the first runs start while the rest
are still being claimed. A claim that cannot be written (locked, full, unreachable) is
retried by the writer until it is; fires due meanwhile wait in the backlog (spec 7) — at
most `catchup_limit` a clock, beyond which the oldest are counted as missed, never silently
dropped — and a clock's last fire moves only in the transaction that claims its fires.

Why this module is long: claiming due fires, the backlog and catch-up share one backlog and
one rule for a clock's last fire; split, each half would need the other's internals.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from scheduler.timesource import SYSTEM_TIME, TimeSource, whole_second

if TYPE_CHECKING:
    from clocks.base import Clock
    from clocks.parameters import ResolvedParameters
    from clocks.resolution import Resolver
    from scheduler.models import Identity, Job
    from scheduler.running.executor import Executor
    from scheduler.scheduling.clockbook import ClockBook
    from scheduler.storage.base import RunStore
    from scheduler.storage.records import NewRun
    from scheduler.storage.writer import StoreWriter

log = logging.getLogger("clockd.firing")

# A wait that ends more than this far from where the monotonic clock says it should have
# ended is a wall-clock jump (NTP step, suspend), not a busy loop.
JUMP_THRESHOLD = timedelta(seconds=60)
# Fires claimed per transaction (see `Firing`): the first chunk of an instant
# is small, so its first run starts within a few milliseconds; then they double up to 32.
FIRST_FIRE_CHUNK = 4
FIRE_CHUNK = 32


# -- parameters ----------------------------------------------------------------------------


def secret_refs(resolved: ResolvedParameters) -> dict[str, Any]:
    return {name: resolved.values[name] for name in resolved.secrets if name in resolved.values}


# -- firing --------------------------------------------------------------------------------


@dataclass
class Due:
    """Fires of one clock to claim: `trigger` clock, catchup or backfill; `given`: values
    set for all of them at trigger time (a backfill's `-p`), data, never rendered."""

    job: str
    clock: str
    times: list[datetime]
    trigger: str = "clock"
    given: dict[str, Any] | None = None


@dataclass
class FireResult:
    """What claims did (for tests, logs and backfill)."""

    created: list[int] = field(default_factory=list)
    duplicates: list[tuple[str, str, datetime]] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    paused: list[tuple[str, str, datetime]] = field(default_factory=list)
    missed: list[tuple[str, str, datetime]] = field(default_factory=list)
    # the run of each fire claimed here (created or failed): (job, clock, scheduled_time) → id
    run_ids: dict[tuple[str, str, datetime], int] = field(default_factory=dict)

    def add(self, other: FireResult) -> None:
        for name in ("created", "duplicates", "failed", "paused", "missed"):
            getattr(self, name).extend(getattr(other, name))
        self.run_ids.update(other.run_ids)


@dataclass
class _Claim:
    """One chunk of fires on its way to the store: the runs to insert and the last fires to
    move in the same transaction."""

    prepared: list[tuple[Job, Clock, datetime, ResolvedParameters | None, dict[str, Any] | None]]
    new_runs: list[NewRun]
    last_fires: dict[tuple[str, str], datetime]
    result: FireResult
    now: datetime
    waiter: asyncio.Future[FireResult] | None = None


# Claims handed to the writer and not yet answered: enough that the writer claims the next
# chunk while the loop starts the runs of the last one, few enough that a failing store
# holds few fires outside the backlog (where `catchup_limit` bounds them).
MAX_CLAIMS_IN_FLIGHT = 4


class Firing:
    """Turns due fires into runs. `jobs()` gives the current config's jobs (it changes on reload)."""

    def __init__(
        self,
        writer: StoreWriter,
        executor: Executor,
        book: ClockBook,
        jobs: Callable[[], Mapping[str, Job]],
        *,
        catchup_limit: int = 100,
        time_source: TimeSource = SYSTEM_TIME,
        last_fires: Mapping[tuple[str, str], datetime] | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.writer = writer
        self.identity = identity
        self.executor = executor
        self.book = book
        self.jobs = jobs
        self.catchup_limit = catchup_limit
        self.time_source = time_source
        # Each clock's last fire as stored (moved when its claim is written): where catch-up
        # after a forward wall-clock jump starts.
        self.last_fires: dict[tuple[str, str], datetime] = dict(last_fires or {})
        self.missed_counts: dict[tuple[str, str], int] = {}
        self._backlog: deque[Due] = deque()
        self._backlog_sizes: dict[tuple[str, str], int] = {}
        self._chunk = FIRST_FIRE_CHUNK
        self._pump_scheduled = False
        self._in_flight = 0
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._resolvers: dict[tuple[str, str], tuple[Job, Resolver]] = {}
        self.results = FireResult()  # everything claimed since the last `drain`
        self.shared = False  # the store is shared by several daemons (spec 8)
        # With several daemons: this one's share of a burst of due fires, as fractions
        # (start, end) of it by its place among the live daemons (a of a, b, c: 0 to 1/3).
        self.burst_share: Callable[[], tuple[float, float]] | None = None
        self._own_fires: int | None = None  # of this burst's share, not yet handed on
        self._in_burst = False  # fires have waited since the backlog was last empty
        self.closed = False

    def close(self) -> None:
        """Stop accepting fires (daemon stopping); unclaimed ones are caught up on restart
        (their clocks' last fire did not move)."""
        self.closed = True
        self._backlog.clear()
        self._backlog_sizes.clear()

    def backlog(self) -> int:
        """Fires waiting to be claimed (many while the store cannot be written)."""
        return sum(self._backlog_sizes.values())

    # -- intake ----------------------------------------------------------------------------

    def submit(
        self, job: str, clock: str, times: Sequence[datetime], trigger: str = "clock"
    ) -> None:
        """Queue fires for claiming (called by APScheduler's executor inside a pass, by
        catch-up, by the jump handling). They are claimed from the next loop pass on."""
        if self.closed or not times:
            return
        key = (job, clock)
        self._backlog.append(Due(job, clock, list(times), trigger))
        size = self._backlog_sizes.get(key, 0) + len(times)
        self._backlog_sizes[key] = size
        if size > self.catchup_limit:
            self._drop_oldest(key, size - self.catchup_limit)
        self._schedule_pump()

    def _drop_oldest(self, key: tuple[str, str], count: int) -> None:
        """Past `catchup_limit` waiting fires of one clock (the store has failed for long),
        the oldest are counted as missed: memory stays bounded, and it is said."""
        dropped: list[datetime] = []
        for due in self._backlog:
            if (due.job, due.clock) != key or len(dropped) >= count:
                continue
            take = min(count - len(dropped), len(due.times))
            dropped.extend(due.times[:take])
            del due.times[:take]
        self._backlog = deque(due for due in self._backlog if due.times)
        self._backlog_sizes[key] -= len(dropped)
        self.missed_counts[key] = self.missed_counts.get(key, 0) + len(dropped)
        self.results.missed.extend((key[0], key[1], moment) for moment in dropped)
        log.warning(
            "fires missed: the store could not be written for %d waiting fires of this clock "
            "job=%s clock=%s missed=%d first=%s last=%s",
            self.catchup_limit,
            key[0],
            key[1],
            len(dropped),
            dropped[0].isoformat() if dropped else "",
            dropped[-1].isoformat() if dropped else "",
        )

    def _schedule_pump(self) -> None:
        if self._pump_scheduled:
            return
        self._pump_scheduled = True
        asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """Hand chunks of the backlog to the writer while few claims are in flight."""
        self._pump_scheduled = False
        if self._backlog and not self._in_burst:
            self._in_burst = True
            if self.burst_share is not None:
                self._take_share()
        while self._backlog and not self.closed and self._in_flight < MAX_CLAIMS_IN_FLIGHT:
            if self._own_fires is not None and self._own_fires <= 0:
                if self._in_flight:
                    break  # the others' shares once this one's claims are answered
                self._own_fires = None
            size = self._chunk if self._own_fires is None else min(self._chunk, self._own_fires)
            chunk = self._next_chunk(size)
            self._chunk = min(2 * self._chunk, FIRE_CHUNK)
            if self._own_fires is not None:
                self._own_fires -= sum(len(due.times) for due in chunk)
            try:
                claim = self._prepare(chunk)
            except Exception:  # never stop the loop for one bad chunk
                log.exception("fire batch could not be prepared; its fires are lost")
                continue
            self._send(claim)
        if not self._backlog:
            self._chunk = FIRST_FIRE_CHUNK
            self._own_fires, self._in_burst = None, False
        self._wake_idle()

    def _take_share(self) -> None:
        """A new burst, with daemons sharing the store (spec 8): this daemon claims its own
        share first, and the others' fires (theirs, unless one is slow or gone) only once
        its own claims are answered, so that daemons mostly claim different fires. Only
        while each clock waits once: a clock's fires are claimed in order (its last fire
        must never pass a fire not yet written, spec 7)."""
        if len(self._backlog) != len(self._backlog_sizes):
            return
        assert self.burst_share is not None
        start, end = self.burst_share()
        count = len(self._backlog)
        first, last = int(start * count), int(end * count)
        self._backlog.rotate(-first)
        self._own_fires = sum(len(self._backlog[i].times) for i in range(last - first))

    def _next_chunk(self, size: int) -> list[Due]:
        """Up to `size` fires from the front of the backlog (a long catch-up is split)."""
        chunk: list[Due] = []
        room = size
        while self._backlog and room > 0:
            due = self._backlog[0]
            if len(due.times) <= room:
                chunk.append(self._backlog.popleft())
                taken = len(due.times)
            else:
                chunk.append(Due(due.job, due.clock, due.times[:room], due.trigger, due.given))
                del due.times[:room]
                taken = room
            room -= taken
            key = (due.job, due.clock)
            self._backlog_sizes[key] -= taken
            if not self._backlog_sizes[key]:
                del self._backlog_sizes[key]
        return chunk

    # -- claims ----------------------------------------------------------------------------

    async def claim(self, batch: Sequence[Due]) -> FireResult:
        """Claim `batch` now, bypassing the backlog, and wait until it is written (backfill)."""
        claim = self._prepare(batch)
        claim.waiter = asyncio.get_running_loop().create_future()
        self._send(claim)
        return await claim.waiter

    async def drain(self) -> FireResult:
        """Wait until every queued fire is claimed and started; what was claimed since the
        last drain (tests, and the daemon's start-up catch-up)."""
        while self._backlog or self._in_flight or self._pump_scheduled:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            self._schedule_pump()
            await waiter
        result, self.results = self.results, FireResult()
        return result

    def _wake_idle(self) -> None:
        if self._backlog or self._in_flight:
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _send(self, claim: _Claim) -> None:
        if not claim.new_runs and not claim.last_fires:
            self._finish_claim(claim)
            return
        new_runs, last_fires = claim.new_runs, claim.last_fires

        def write(store: RunStore) -> list[int | None]:
            if new_runs:
                return store.claim_fires(new_runs, last_fires)
            store.set_last_fires(last_fires)
            return []

        self._in_flight += 1
        label = f"claim {len(new_runs)} fires"
        self.writer.submit(write, label, lambda ids, error: self._claimed(claim, ids, error))

    def _prepare(self, batch: Sequence[Due]) -> _Claim:
        """Resolve each fire's parameters into the row to insert (on the loop: config objects)."""
        from clocks.parameters import ParameterError
        from scheduler.storage.records import NewRun

        now = self.time_source.now()
        claim = _Claim([], [], {}, FireResult(), now)
        jobs = self.jobs()
        for due in batch:
            job = jobs.get(due.job)
            config_clock = job.clock(due.clock) if job is not None else None
            if job is None or config_clock is None:
                log.info("fire dropped job=%s clock=%s reason=removed", due.job, due.clock)
                continue
            clock = self.book.effective(job.name, config_clock)
            resolver = self.resolver(job, config_clock)
            key = (job.name, clock.name)
            backfill = due.trigger == "backfill"
            for scheduled_time in due.times:
                scheduled_time = whole_second(scheduled_time)
                if not backfill:  # a backfill is in the past: it must not move last_fire back
                    previous = claim.last_fires.get(key, scheduled_time)
                    claim.last_fires[key] = max(scheduled_time, previous)
                if not backfill and self.book.is_paused(job.name, clock.name):
                    claim.result.paused.append((job.name, clock.name, scheduled_time))
                    continue
                resolved: ResolvedParameters | None = None
                error: str | None = None
                try:
                    resolved = resolver.resolve(scheduled_time, given=due.given)
                except ParameterError as problem:
                    error = f"parameters: {problem}"
                claim.new_runs.append(
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
                        daemon=self.identity.name if self.identity else None,
                        owner=self.identity.owner if self.identity else None,
                        keep_together=job.max_active_runs > 0 or job.overlap != "allow",
                    )
                )
                claim.prepared.append((job, clock, scheduled_time, resolved, due.given))
        return claim

    def _claimed(self, claim: _Claim, ids: list[int | None], error: BaseException | None) -> None:
        """On the loop, once the writer wrote (or refused for good) a claim."""
        self._in_flight -= 1
        if error is not None:  # not transient (those are retried): a bug, said loudly
            log.error("fire claim refused by the store; its fires are lost", exc_info=error)
            for job, clock, scheduled_time, _, _ in claim.prepared:
                claim.result.missed.append((job.name, clock.name, scheduled_time))
        else:
            self.last_fires.update(claim.last_fires)
            self._start_runs(claim, ids)
        self._finish_claim(claim)
        if self._backlog:
            self._schedule_pump()
        self._wake_idle()

    def _finish_claim(self, claim: _Claim) -> None:
        self.results.add(claim.result)
        if claim.waiter is not None and not claim.waiter.done():
            claim.waiter.set_result(claim.result)

    def _start_runs(self, claim: _Claim, ids: list[int | None]) -> None:
        from clocks.parameters import ParameterError

        result, now = claim.result, claim.now
        for (job, clock, scheduled_time, resolved, given), run, run_id in zip(
            claim.prepared, claim.new_runs, ids, strict=True
        ):
            if run_id is None and run.refused == "paused":  # paused through another daemon
                result.paused.append((job.name, clock.name, scheduled_time))
                continue
            if run_id is None:
                result.duplicates.append((job.name, clock.name, scheduled_time))
                # Daemons sharing a database claim every fire: most find it claimed.
                log.log(
                    logging.DEBUG if self.shared else logging.INFO,
                    "fire already has a run job=%s clock=%s scheduled_time=%s",
                    job.name,
                    clock.name,
                    scheduled_time.isoformat(),
                )
                continue
            result.run_ids[(job.name, clock.name, scheduled_time)] = run_id
            if resolved is None:
                # Parameters that fail at fire time (a dynamic default that renders badly, a
                # missing env secret reference...) make a failed run, never a stopped daemon.
                self._update(run_id, ended_at=now)
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
                    resolved = resolver.resolve(scheduled_time, run_id=run_id, given=given)
                    run.parameters, run.secret_refs = resolved.masked(), secret_refs(resolved)
                    self._update(run_id, parameters=run.parameters, secret_refs=run.secret_refs)
            except ParameterError as problem:
                self._update(run_id, state="failed", error=f"parameters: {problem}", ended_at=now)
                result.failed.append(run_id)
                continue
            result.created.append(run_id)
            if self.identity is not None and run.owner != self.identity.owner:
                continue  # given to the daemon that holds its job's active runs (spec 8)
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

    def _update(self, run_id: int, **fields: Any) -> None:
        self.writer.submit(lambda store: store.update_runs([(run_id, fields)]), "fire update")

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

    # -- catch-up ----------------------------------------------------------------------------

    def missed(
        self, job: Job, clock: Clock, now: datetime, *, since: datetime | None = None
    ) -> list[datetime]:
        """Fires of `clock` missed in (since or its last fire, now], by its catchup policy."""
        from clocks.catchup import missed_fires

        last_fire = since if since is not None else self.last_fires.get((job.name, clock.name))
        if last_fire is None:
            return []
        following = clock.next_fire(last_fire)
        if following is None or following > now:  # the common case, in one call
            return []
        return list(missed_fires(clock, last_fire, now, clock.catchup, self.catchup_limit))

    def catch_up(
        self, job: Job, clock: Clock, now: datetime, *, since: datetime | None = None
    ) -> int:
        """Queue runs with trigger "catchup" for the missed fires (claimed, so never
        duplicated); how many."""
        times = self.missed(job, clock, now, since=since)
        if times:
            log.info(
                "catchup job=%s clock=%s policy=%s fires=%d",
                job.name,
                clock.name,
                clock.catchup,
                len(times),
            )
            self.submit(job.name, clock.name, times, "catchup")
        return len(times)
