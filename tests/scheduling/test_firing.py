"""Fire → run with an injected time source and a real SQLite file (no daemon process).

The executor is swapped at the boundary for a recorder: these tests are about which runs
are claimed, with which values and scheduled times — not about executing them.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.config import load_config
from scheduler.daemon.service import Service
from scheduler.scheduling.clockbook import ClockBook
from scheduler.scheduling.firing import FIRE_CHUNK, FIRST_FIRE_CHUNK, Due, Firing
from scheduler.scheduling.triggers import ClockTrigger
from scheduler.storage.reader import StoreReader
from scheduler.storage.sqlite.store import SQLiteStore
from scheduler.storage.writer import StoreWriter
from scheduler.timesource import FixedTime

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

CONFIG = """
[daemon]
database = "clockd.db"
listen = ""

[jobs.report]
command = ["echo", "{{ x }}", "{{ day }}"]

[jobs.report.parameters.x]
type = "integer"

[jobs.report.parameters.day]
type = "date"
default = "{{ scheduled_time.subtract(days=1).to_date_string() }}"

[[jobs.report.clocks]]
name = "small"
interval = "1s"
start = "2026-03-01T00:00:00Z"
parameters = { x = 9 }
catchup = "CATCHUP"

[[jobs.report.clocks]]
name = "large"
interval = "1s"
start = "2026-03-01T00:00:00Z"
parameters = { x = 99 }

[jobs.broken]
command = ["true"]

[jobs.broken.parameters.n]
type = "integer"
# valid when the config is loaded (November), broken for a fire in March
default = "{{ 5 if scheduled_time.month != 3 else 'march' }}"

[[jobs.broken.clocks]]
name = "every"
interval = "1s"
start = "2026-03-01T00:00:00Z"
"""


class RecordingExecutor:
    def __init__(self) -> None:
        self.submitted: list[tuple[int, str, dict[str, Any]]] = []
        self.failed_before_start: list[tuple[int, str, str]] = []
        self.records: dict[int, Any] = {}

    def submit(self, run_id: int, job: Any, resolved: Any, record: Any = None) -> None:
        self.submitted.append((run_id, job.name, resolved.masked()))

    def fail_before_start(self, record: Any, job: Any, error: str) -> None:
        self.failed_before_start.append((record.id, job.name, error))

    def live_record(self, run_id: int) -> Any:
        return None  # nothing is held: readers read the store

    def running_count(self) -> int:
        return 0

    def pending_count(self) -> int:
        return 0


class World:
    """A config, a real SQLite file, a fixed time and a recording executor; `start()` (inside
    the test's event loop) adds the store writer, the clock book and firing."""

    def __init__(self, config: Any, store: SQLiteStore) -> None:
        self.config = config
        self.store = store
        self.time = FixedTime(T0)
        self.executor = RecordingExecutor()

    def start(self) -> None:
        self.writer = StoreWriter(self.store, loop=asyncio.get_running_loop())
        self.writer.start()
        self.book = ClockBook(
            self.time,
            states=self.store.clock_states(),
            save=lambda anchors: self.writer.submit(lambda s: s.set_anchors(anchors), "anchors"),
        )
        states = self.store.clock_states()
        self.firing = Firing(
            self.writer,
            self.executor,  # type: ignore[arg-type]
            self.book,
            lambda: self.config.jobs,
            catchup_limit=3,
            time_source=self.time,
            last_fires={key: s.last_fire for key, s in states.items() if s.last_fire},
        )

    def service(self) -> Service:
        database = self.config.daemon.database
        self.reader = StoreReader(lambda: SQLiteStore.open(database, readonly=True))
        return Service(
            self.config,
            self.writer,
            self.reader,
            self.executor,  # type: ignore[arg-type]
            book=self.book,
            firing=self.firing,
            time_source=self.time,
        )

    def stop(self) -> None:
        self.writer.close(5)
        if hasattr(self, "reader"):
            self.reader.close()

    def run(self, body: Any) -> Any:
        """`await body()` with the world started, in a fresh event loop."""

        async def main() -> Any:
            self.start()
            try:
                return await body()
            finally:
                self.stop()

        return asyncio.run(main())

    async def fire(self, *dues: Due) -> Any:
        return await self.firing.claim(list(dues))


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    catchup = getattr(request, "param", "latest")
    path = tmp_path / "clockd.toml"
    path.write_text(textwrap.dedent(CONFIG).replace("CATCHUP", catchup))
    config = load_config(path, now=datetime(2026, 11, 1, tzinfo=UTC))
    store = SQLiteStore.open(config.daemon.database)
    yield World(config, store)
    store.close()


def test_simultaneous_fires_become_one_run_per_clock_with_own_values(world: Any) -> None:
    async def body() -> Any:
        world.time.advance(seconds=0.25)  # fired a quarter second late
        return await world.fire(Due("report", "small", [T0]), Due("report", "large", [T0]))

    result = world.run(body)
    assert len(result.created) == 2
    runs = {r.clock: r for r in world.store.list_runs(job="report")}
    assert runs["small"].parameters == {"x": 9, "day": "2026-02-28"}
    assert runs["large"].parameters == {"x": 99, "day": "2026-02-28"}
    assert runs["small"].scheduled_time == runs["large"].scheduled_time == T0
    assert runs["small"].trigger == "clock"
    assert runs["small"].lateness == pytest.approx(0.25)
    assert sorted(values["x"] for _, _, values in world.executor.submitted) == [9, 99]
    assert world.store.clock_state("report", "small").last_fire == T0


def test_a_large_instant_is_claimed_in_growing_chunks_first_come_first_started(
    world: Any,
) -> None:
    times = [T0 - timedelta(seconds=k) for k in range(2 * FIRE_CHUNK + 5, 0, -1)]
    chunks: list[int] = []

    async def body() -> None:
        submit = world.writer.submit

        def counting(fn: Any, label: str, done: Any = None) -> Any:
            if label.startswith("claim"):
                chunks.append(int(label.split()[1]))
            return submit(fn, label, done)

        world.writer.submit = counting
        world.firing.catchup_limit = 1000  # this many waiting fires of one clock are fine here
        world.firing.submit("report", "small", times)
        world.firing.submit("report", "large", [T0])
        await world.firing.drain()
        # the next instant starts small again
        world.firing.submit("report", "large", [T0 + timedelta(seconds=k) for k in (1, 2, 3, 4, 5)])
        await world.firing.drain()

    world.run(body)
    # the first runs reach the executor after a small first claim, not after every fire of
    # the instant; claims double up to FIRE_CHUNK
    assert FIRST_FIRE_CHUNK == 4
    assert FIRE_CHUNK == 32
    assert chunks == [4, 8, 16, 32, len(times) + 1 - 60, 4, 1]
    runs = sorted(world.store.list_runs(job="report", limit=None), key=lambda r: r.id)
    runs = runs[: len(times) + 1]  # the first instant
    assert [r.scheduled_time for r in runs] == [*times, T0]
    assert [r.clock for r in runs] == ["small"] * len(times) + ["large"]
    assert [run_id for run_id, _, _ in world.executor.submitted][: len(runs)] == [
        r.id for r in runs
    ]
    assert world.store.clock_state("report", "small").last_fire == times[-1]


def test_a_daemon_among_several_claims_its_share_of_a_burst_first(world: Any) -> None:
    # Three clocks due at once, this daemon second of three live ones (spec 8): it claims
    # the second clock's fire alone first, and the others' fires (theirs, unless one is slow
    # or gone) only once that claim is answered, so daemons mostly claim apart.
    claims: list[tuple[int, int]] = []  # (fires, claims in flight once it is sent)

    async def body() -> None:
        submit = world.writer.submit

        def counting(fn: Any, label: str, done: Any = None) -> Any:
            if label.startswith("claim"):
                claims.append((int(label.split()[1]), world.firing._in_flight))
            return submit(fn, label, done)

        world.writer.submit = counting
        world.firing.burst_share = lambda: (1 / 3, 2 / 3)
        world.firing.submit("report", "small", [T0])
        world.firing.submit("report", "large", [T0])
        world.firing.submit("broken", "every", [T0])
        await world.firing.drain()

    world.run(body)
    assert claims == [(1, 1), (2, 1)]
    runs = sorted(world.store.list_runs(limit=None), key=lambda r: r.id)
    assert [(r.job, r.clock) for r in runs] == [
        ("report", "large"),
        ("broken", "every"),
        ("report", "small"),
    ]


def test_a_clock_waiting_twice_keeps_its_fires_in_order_whatever_the_share(world: Any) -> None:
    # A backlog after an outage holds a clock's fires more than once: no rotation then, so
    # its last fire never passes a fire not yet claimed (spec 7).
    async def body() -> None:
        world.firing.burst_share = lambda: (2 / 3, 1.0)
        world.firing.submit("report", "small", [T0])
        world.firing.submit("report", "large", [T0])
        world.firing.submit("report", "small", [T0 + timedelta(seconds=1)])
        await world.firing.drain()

    world.run(body)
    runs = sorted(world.store.list_runs(limit=None), key=lambda r: r.id)
    assert [(r.clock, r.scheduled_time) for r in runs] == [
        ("small", T0),
        ("large", T0),
        ("small", T0 + timedelta(seconds=1)),
    ]


def test_fires_left_unclaimed_at_stop_leave_their_clock_last_fire_behind(world: Any) -> None:
    times = [T0 - timedelta(seconds=k) for k in range(12 * FIRE_CHUNK, 0, -1)]

    async def body() -> None:
        world.firing.submit("report", "small", times)
        await asyncio.sleep(0)  # the first claims are handed to the writer, then a stop
        world.firing.close()
        await world.firing.drain()

    world.run(body)
    runs = world.store.list_runs(job="report", limit=None)
    assert 0 < len(runs) < len(times)
    # so a restart catches up the fires that never became runs
    assert world.store.clock_state("report", "small").last_fire == max(
        r.scheduled_time for r in runs
    )


def test_a_fire_is_claimed_once_ever(world: Any) -> None:
    async def body() -> Any:
        first = await world.fire(Due("report", "small", [T0]))
        again = await world.fire(Due("report", "small", [T0]))
        return first, again

    first, again = world.run(body)
    assert len(first.created) == 1
    assert again.created == []
    assert again.duplicates == [("report", "small", T0)]
    assert len(world.executor.submitted) == 1


def test_parameters_failing_at_fire_time_make_a_failed_run_not_a_stop(world: Any) -> None:
    async def body() -> Any:
        return await world.fire(Due("broken", "every", [T0]), Due("report", "small", [T0]))

    result = world.run(body)
    assert len(result.failed) == 1
    assert len(result.created) == 1
    failed = world.store.get_run(result.failed[0])
    assert failed.state == "failed"
    assert "n" in failed.error
    assert failed.ended_at is not None
    assert [job for _, job, _ in world.executor.submitted] == ["report"]
    # its on_failure hooks are the executor's to run, with the reason
    assert world.executor.failed_before_start == [(failed.id, "broken", failed.error)]


def test_paused_clock_fires_nothing_but_moves_on(world: Any) -> None:
    world.store.set_paused("report", "small", True)

    async def body() -> Any:
        return await world.fire(Due("report", "small", [T0]), Due("report", "large", [T0]))

    result = world.run(body)
    assert result.paused == [("report", "small", T0)]
    assert [r.clock for r in world.store.list_runs()] == ["large"]
    assert world.store.clock_state("report", "small").last_fire == T0


def test_whole_job_pause_is_read_from_the_store(world: Any) -> None:
    world.store.set_paused("report", None, True)
    book = ClockBook(world.time, states=world.store.clock_states())
    assert book.is_paused("report", "large")
    assert not book.is_paused("broken", "every")
    book.apply_paused(world.store.paused())
    assert book.is_paused("report", "large")


def _iso(times: list[datetime]) -> list[str]:
    return [t.isoformat() for t in times]


@pytest.mark.parametrize(
    ("world", "expected"),
    [
        ("none", []),
        ("latest", ["2026-03-01T12:00:05+00:00"]),
        # catchup_limit=3: the most recent three of the five missed fires
        (
            "all",
            ["2026-03-01T12:00:03+00:00", "2026-03-01T12:00:04+00:00", "2026-03-01T12:00:05+00:00"],
        ),
    ],
    ids=["none", "latest", "all-bounded-by-limit"],
    indirect=["world"],
)
def test_catch_up_follows_the_clock_policy(world: Any, expected: list[str]) -> None:
    world.store.set_last_fire("report", "small", T0)

    async def body() -> None:
        world.time.advance(seconds=5.5)  # down for 5.5 s: fires 12:00:01 … 12:00:05 were missed
        job = world.config.jobs["report"]
        clock = world.book.effective("report", job.clock("small"))
        world.firing.catch_up(job, clock, world.time.now())
        await world.firing.drain()
        runs = world.store.list_runs(job="report", clock="small")
        assert _iso(sorted(r.scheduled_time for r in runs)) == expected
        assert all(r.trigger == "catchup" for r in runs)
        # A second start after the same outage claims nothing new.
        world.firing.catch_up(job, clock, world.time.now(), since=T0)
        await world.firing.drain()

    world.run(body)
    assert len(world.store.list_runs(job="report", clock="small")) == len(expected)


def test_unanchored_interval_is_anchored_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[daemon]\ndatabase = "c.db"\nlisten = ""\n[jobs.j]\ncommand = ["true"]\n'
        '[[jobs.j.clocks]]\nname = "c"\ninterval = "10s"\n'
    )
    config = load_config(path)
    with SQLiteStore.open(config.daemon.database) as store:
        time_source = FixedTime(T0 + timedelta(microseconds=400_000))
        clock = config.jobs["j"].clock("c")

        def book() -> ClockBook:
            return ClockBook(time_source, states=store.clock_states(), save=store.set_anchors)

        first = book().effective("j", clock)
        time_source.advance(seconds=3)
        again = book().effective("j", clock)  # a restart 3 s later
        assert first.next_fire(T0) == T0 + timedelta(seconds=10)
        assert again.next_fire(T0 + timedelta(seconds=3)) == T0 + timedelta(seconds=10)
        assert store.clock_state("j", "c").anchor == T0


def test_trigger_jitter_is_never_fed_back(world: Any) -> None:
    import dataclasses
    import random

    clock = dataclasses.replace(
        world.config.jobs["report"].clock("small"),
        interval=world.config.jobs["report"].clock("small").interval * 10,
        jitter=timedelta(seconds=5),
    )
    trigger = ClockTrigger(clock, rng=random.Random(7))
    previous = None
    nominals = []
    now = T0
    for _ in range(20):
        run_time = trigger.get_next_fire_time(previous, now)
        nominal = trigger.consume(run_time)
        assert timedelta(0) <= run_time - nominal <= timedelta(seconds=5)
        nominals.append(nominal)
        previous, now = run_time, run_time
    # k-th fire = anchor + k × 10 s exactly, whatever the jitter did
    assert nominals == [T0 + timedelta(seconds=10 * k) for k in range(1, 21)]


def test_trigger_skips_a_long_gap_and_reports_it(world: Any) -> None:
    gaps: list[tuple[datetime, datetime]] = []
    clock = ClockBook(world.time).effective("report", world.config.jobs["report"].clock("small"))
    trigger = ClockTrigger(clock, on_gap=lambda since, now: gaps.append((since, now)))
    later = T0 + timedelta(days=1)
    # APScheduler would list 86,400 fires here; the trigger jumps to the first after now.
    assert trigger.get_next_fire_time(T0, later) == later + timedelta(seconds=1)
    assert trigger.get_next_fire_time(T0, later) == later + timedelta(seconds=1)  # asked twice
    assert gaps == [(T0, later)]
    # A short lag (busy loop) is not a gap: every fire is still listed.
    assert trigger.get_next_fire_time(T0, T0 + timedelta(seconds=30)) == T0 + timedelta(seconds=1)
    assert len(gaps) == 1


def test_service_manual_run_puts_trigger_values_on_top(world: Any) -> None:
    from clocks.parameters import ParameterError

    async def body() -> Any:
        service = world.service()
        record = await service.create_run("report", {"x": 5}, clock="large", trigger="manual")
        with pytest.raises(ParameterError, match="required parameter 'x'"):
            await service.create_run("report", {})
        await world.writer.drained()
        return record

    record = world.run(body)
    assert record.parameters == {"x": 5, "day": "2026-02-28"}
    assert record.clock == "large"
    assert record.trigger == "manual"
    assert record.scheduled_time == T0
    assert [r.id for r in world.store.list_runs()] == [record.id]  # the refused one left nothing


def test_service_backfill_skips_fires_that_already_ran(world: Any) -> None:
    async def body() -> Any:
        service = world.service()
        await world.fire(Due("report", "small", [T0 + timedelta(seconds=1)]))
        return await service.backfill("report", "small", T0, T0 + timedelta(seconds=2))

    entries = world.run(body)
    assert [e["time"] for e in entries] == [
        "2026-03-01T12:00:00+00:00",
        "2026-03-01T12:00:01+00:00",
        "2026-03-01T12:00:02+00:00",
    ]
    assert [e["run_id"] is None for e in entries] == [False, True, False]
    backfilled = world.store.list_runs(job="report", clock="small")
    assert sorted(r.trigger for r in backfilled) == ["backfill", "backfill", "clock"]
    assert {e["run_id"] for e in entries} - {None} == {
        r.id for r in backfilled if r.trigger == "backfill"
    }
    # last_fire is not moved back by a backfill
    assert world.store.clock_state("report", "small").last_fire == T0 + timedelta(seconds=1)


def test_wall_clock_jumps_replan_without_losing_or_repeating_fires(world: Any) -> None:
    from scheduler.daemon.lifecycle import Daemon

    async def scenario() -> None:
        daemon = Daemon(world.config.path, environ={}, time_source=world.time)
        await daemon.assemble(world.config, world.store, world.executor, paused=True)
        planned = daemon.scheduler.get_job("report/small")
        assert planned.next_run_time == T0 + timedelta(seconds=1)

        world.time.jump(hours=2)  # NTP step forward while the loop slept
        daemon.tick()
        await daemon.firing.drain()
        jumped = T0 + timedelta(hours=2)
        runs = world.store.list_runs(job="report")
        # catchup "latest" for both clocks: the most recent skipped fire, not 7,200 of them
        assert sorted((r.clock, r.trigger, r.scheduled_time) for r in runs) == [
            ("large", "catchup", jumped),
            ("small", "catchup", jumped),
        ]
        assert planned.next_run_time == jumped + timedelta(seconds=1)

        world.time.jump(hours=-2)  # and back again
        daemon.tick()
        await daemon.firing.drain()
        assert planned.next_run_time == T0 + timedelta(seconds=1)
        assert len(world.store.list_runs(job="report")) == 2

        world.time.advance(seconds=30)  # an ordinary wait is not a jump
        daemon.tick()
        assert planned.next_run_time == T0 + timedelta(seconds=1)
        daemon.scheduler.shutdown(wait=False)
        daemon.writer.close(5)
        daemon.reader.close()

    asyncio.run(scenario())


def test_reload_changes_clocks_in_place_and_keeps_unchanged_ones(world: Any) -> None:
    from scheduler.daemon.lifecycle import Daemon

    async def scenario() -> None:
        daemon = Daemon(world.config.path, environ={}, time_source=world.time)
        await daemon.assemble(world.config, world.store, world.executor, paused=True)
        kept = daemon.scheduler.get_job("report/large")
        text = world.config.path.read_text()

        world.config.path.write_text(
            text.replace("retries", "x") + "\n[jobs.report]\nretires = 1\n"
        )
        daemon.reload()  # invalid: nothing changes
        assert daemon.config is world.config
        assert {j.id for j in daemon.scheduler.get_jobs()} == {
            "report/small",
            "report/large",
            "broken/every",
        }

        changed = text.replace('name = "small"\ninterval = "1s"', 'name = "small"\ninterval = "5s"')
        changed = changed.replace('name = "every"', 'name = "renamed"')
        world.config.path.write_text(changed)
        daemon.reload()
        assert {j.id for j in daemon.scheduler.get_jobs()} == {
            "report/small",
            "report/large",
            "broken/renamed",
        }
        assert daemon.scheduler.get_job("report/large") is kept  # untouched, same next fire
        assert kept.next_run_time == T0 + timedelta(seconds=1)
        assert daemon.scheduler.get_job("report/small").next_run_time == T0 + timedelta(seconds=5)
        assert daemon.service.config is daemon.config
        daemon.scheduler.shutdown(wait=False)
        daemon.writer.close(5)
        daemon.reader.close()

    asyncio.run(scenario())


def test_planning_starts_from_the_first_fire_the_config_check_found_while_it_still_holds(
    tmp_path: Path,
) -> None:
    import dataclasses

    from scheduler.daemon.lifecycle import Daemon

    path = tmp_path / "clockd.toml"
    report_only = CONFIG.split("[jobs.broken]")[0]  # that one is refused for a fire in March
    path.write_text(textwrap.dedent(report_only).replace("CATCHUP", "latest"))
    config = load_config(path, now=T0)
    # the check found each clock's first fire after T0; loading 10,000 clocks reuses it
    assert config.jobs["report"].first_fires["small"] == (T0, T0 + timedelta(seconds=1))

    def planned(job: Any, at: datetime) -> datetime:
        # no clock state: a first load
        store = SQLiteStore.open(tmp_path / f"{at.timestamp()}.db")

        async def scenario() -> datetime:
            jobs = {**config.jobs, "report": job}
            daemon = Daemon(path, environ={}, time_source=FixedTime(at))
            await daemon.assemble(
                dataclasses.replace(config, jobs=jobs), store, RecordingExecutor(), paused=True
            )
            moment = daemon.scheduler.get_job("report/large").next_run_time
            daemon.scheduler.shutdown(wait=False)
            daemon.writer.close(5)
            daemon.reader.close()
            return moment

        try:
            return asyncio.run(scenario())
        finally:
            store.close()

    # A planner that took the check's answer gives it back (here a made-up one, to tell it
    # apart from what it would compute); when a fire lies between the check and the planning,
    # or the check is later than the planning, the planner computes it.
    told = dataclasses.replace(
        config.jobs["report"], first_fires={"large": (T0, T0 + timedelta(seconds=5))}
    )
    assert planned(told, T0 + timedelta(milliseconds=500)) == T0 + timedelta(seconds=5)
    assert planned(told, T0 + timedelta(seconds=6)) == T0 + timedelta(seconds=7)
    assert planned(told, T0 - timedelta(seconds=10)) == T0 - timedelta(seconds=9)


def test_a_default_over_the_template_budget_at_fire_time_makes_a_failed_run_at_once(
    tmp_path: Path,
) -> None:
    # The payload, reached only by March fires: the config check (November) passes.
    path = tmp_path / "clockd.toml"
    path.write_text(
        textwrap.dedent(
            """
            [daemon]
            database = "clockd.db"
            listen = ""

            [jobs.echo]
            command = ["echo", "{{ msg }}"]

            [jobs.echo.parameters.msg]
            type = "string"
            default = "{% set x = range(20000 if scheduled_time.month == 3 else 1)|list %}{% for i in x %}{{ x|join(',')|length }}{% endfor %}"

            [[jobs.echo.clocks]]
            name = "every"
            interval = "1s"
            start = "2026-03-01T00:00:00Z"
            """
        )
    )
    config = load_config(path, now=datetime(2026, 11, 1, tzinfo=UTC))
    with SQLiteStore.open(config.daemon.database) as store:
        world = World(config, store)

        async def body() -> Any:
            return await world.fire(Due("echo", "every", [T0]))

        result = world.run(body)
        executor, firing, book = world.executor, world.firing, world.book
        [failed] = [store.get_run(run_id) for run_id in result.failed]
        assert failed.state == "failed"
        assert failed.error.startswith("parameters: parameter 'msg': dynamic value '{% set x ")
        assert "it needs more than the 50,000 steps a template may take" in failed.error
        assert executor.submitted == []
        # the same clock's resolver serves every fire until a reload makes a new job
        job = config.jobs["echo"]
        resolver = firing.resolver(job, job.clock("every"))
        assert firing.resolver(job, book.effective("echo", job.clock("every"))) is resolver
        assert resolver.renders
        assert not resolver.uses_run_id
