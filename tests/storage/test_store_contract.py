"""The store contract: what every `RunStore` does, run on SQLite and on PostgreSQL.

Each test runs once per implementation (the `store` fixture); PostgreSQL gets a fresh
database on the session's real server (tests/pgserver.py). What only one store does (SQLite's
files, locks and PRAGMAs; PostgreSQL's URL and server faults) is tested beside this file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.storage import open_store
from scheduler.storage.base import RunStore
from tests.storage.fires import T0, fire


def _duplicate_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)


DUPLICATE_ERRORS = _duplicate_errors()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "sqlite":
        database = str(tmp_path / "clockd.db")
    else:
        database = request.getfixturevalue("postgres_url")
    opened = open_store(database)
    yield opened
    opened.close()


def test_claim_fires_gives_each_fire_one_run_and_none_on_a_second_claim(store: RunStore) -> None:
    first = store.claim_fires([fire("a"), fire("b"), fire("a", T0 + timedelta(minutes=1))])
    assert first == [1, 2, 3]
    again = store.claim_fires([fire("a"), fire("c"), fire("b")])
    assert again == [None, 4, None]
    assert store.has_fire("report", "a", T0)
    assert not store.has_fire("report", "a", T0 + timedelta(minutes=2))


def test_claim_fires_maps_ids_across_multi_row_statements_and_repeated_fires(
    store: RunStore,
) -> None:
    # 150 fires span three INSERT statements; ids follow the order asked, whatever order
    # SQLite returns them in, and a fire claimed before comes back None.
    store.claim_fires([fire("c77")])
    fires = [fire(f"c{i}") for i in range(150)]
    ids = store.claim_fires(fires)
    assert ids[77] is None
    assert all(ids[i] is not None for i in range(150) if i != 77)
    for i in (0, 63, 64, 149):
        run = store.get_run(ids[i])  # type: ignore[arg-type]
        assert run is not None
        assert run.clock == f"c{i}"
    # the same fire twice in one call: one run, the second is None
    last = max(i for i in ids if i is not None)
    assert store.claim_fires([fire("d"), fire("e"), fire("d")]) == [last + 1, last + 2, None]


def test_the_same_fire_from_catchup_or_backfill_is_still_one_run(store: RunStore) -> None:
    assert store.claim_fires([fire(trigger="clock")]) == [1]
    assert store.claim_fires([fire(trigger="catchup"), fire(trigger="backfill")]) == [None, None]
    # Manual runs are not fires: any number may carry the same clock and time.
    assert store.claim_fires([fire(trigger="manual"), fire(trigger="manual")]) == [2, 3]
    with pytest.raises(DUPLICATE_ERRORS):
        store.create_run(fire(trigger="backfill"))


def test_an_offset_time_is_the_same_fire_as_its_utc_instant(store: RunStore) -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert store.claim_fires([fire(at=T0)]) == [1]
    assert store.claim_fires([fire(at=berlin)]) == [None]
    assert store.get_run(1).scheduled_time == T0  # type: ignore[union-attr]


def test_claiming_a_thousand_fires_in_one_call_gives_a_thousand_runs(store: RunStore) -> None:
    # How long it takes: benchmarks/model.py, beside plain sqlite3 inserts.
    runs = [fire("bulk", T0 + timedelta(seconds=i)) for i in range(1000)]
    ids = store.claim_fires(runs)
    assert ids == list(range(1, 1001))


def test_to_json_has_the_spec_fields_with_offsets_and_no_secret_refs(store: RunStore) -> None:
    run_id = store.create_run(fire(name="report-9", parent_id=None))
    store.update_run(
        run_id,
        state="succeeded",
        started_at=T0 + timedelta(seconds=1),
        ended_at=T0 + timedelta(seconds=3),
        attempt=1,
        exit_code=0,
        result={"rows": [1, 2]},
    )
    record = store.get_run(run_id)
    assert record is not None
    assert record.secret_refs == {"api_key": "env:KEY"}
    assert record.to_json() == {
        "id": run_id,
        "job": "report",
        "clock": "nightly",
        "name": "report-9",
        "trigger": "clock",
        "state": "succeeded",
        "parameters": {"x": 9, "api_key": "***"},
        "scheduled_time": "2026-03-01T09:00:00+00:00",
        "created_at": record.created_at.isoformat(),
        "started_at": "2026-03-01T09:00:01+00:00",
        "ended_at": "2026-03-01T09:00:03+00:00",
        "attempt": 1,
        "exit_code": 0,
        "error": None,
        "parent_id": None,
        "result": {"rows": [1, 2]},
        "daemon": None,
        "worker": None,
    }
    assert record.created_at.tzinfo is not None


def test_update_run_refuses_unknown_fields(store: RunStore) -> None:
    run_id = store.create_run(fire())
    with pytest.raises(TypeError, match="stat"):
        store.update_run(run_id, stat="running")


def test_list_runs_filters_and_orders_newest_first(store: RunStore) -> None:
    a = store.create_run(fire("a", trigger="manual"))
    b = store.create_run(fire("b", trigger="manual"))
    c = store.create_run(fire("a", trigger="child", parent_id=a, job="other"))
    store.update_run(b, state="failed")
    assert [r.id for r in store.list_runs()] == [c, b, a]
    assert [r.id for r in store.list_runs(job="report")] == [b, a]
    assert [r.id for r in store.list_runs(clock="a")] == [c, a]
    assert [r.id for r in store.list_runs(state="failed")] == [b]
    assert [r.id for r in store.list_runs(state=["failed", "pending"], job="report")] == [b, a]
    assert [r.id for r in store.list_runs(parent_id=a)] == [c]
    assert [r.id for r in store.list_runs(limit=1)] == [c]
    assert [r.id for r in store.runs_in_states(["pending"])] == [a, c]


def test_list_runs_pages_by_run_id_both_ways_newest_first(store: RunStore) -> None:
    ids = [store.create_run(fire(f"c{n}", trigger="manual")) for n in range(7)]
    store.update_runs([(i, {"state": "failed"}) for i in ids[::2]])
    assert [r.id for r in store.list_runs(limit=3, before_id=ids[5])] == ids[4:1:-1]
    assert [r.id for r in store.list_runs(limit=3, after_id=ids[1])] == ids[4:1:-1]
    assert [r.id for r in store.list_runs(limit=3, after_id=ids[5])] == [ids[6]]
    assert [r.id for r in store.list_runs(limit=2, after_id=ids[0], state="failed")] == [
        ids[4],
        ids[2],
    ]
    assert store.list_runs(before_id=ids[0]) == []


def test_mark_crashed_turns_running_and_pending_runs_into_crashed(store: RunStore) -> None:
    running, pending, done = (store.create_run(fire(c, trigger="manual")) for c in "abc")
    store.update_run(running, state="running")
    store.update_run(done, state="succeeded")
    assert store.mark_crashed(T0) == [running, pending]
    crashed, unstarted = store.get_run(running), store.get_run(pending)
    assert crashed is not None
    assert unstarted is not None
    assert (crashed.state, crashed.ended_at) == ("crashed", T0)
    assert crashed.error == "the daemon stopped while this run was running"
    assert (unstarted.state, unstarted.ended_at) == ("crashed", T0)
    assert unstarted.error == "the daemon stopped before this run was recorded as started"
    assert store.get_run(done).state == "succeeded"  # type: ignore[union-attr]
    assert store.mark_crashed(T0) == []


def test_log_lines_are_numbered_per_run_and_read_after_a_sequence(store: RunStore) -> None:
    store.append_log(1, [(T0, "stdout", "one"), (T0, "stderr", "two")])
    store.append_log(2, [(T0, "stdout", "other run")])
    store.append_log(1, [(T0 + timedelta(milliseconds=250), "clockd", "three")])
    lines = store.read_log(1)
    assert [(line.seq, line.stream, line.text) for line in lines] == [
        (1, "stdout", "one"),
        (2, "stderr", "two"),
        (3, "clockd", "three"),
    ]
    assert lines[2].time == T0 + timedelta(milliseconds=250)
    assert [line.text for line in store.read_log(1, after_seq=1, limit=1)] == ["two"]


def test_pausing_the_job_covers_every_clock_and_pausing_a_clock_only_that_one(
    store: RunStore,
) -> None:
    store.set_paused("report", "nightly", True)
    assert store.is_paused("report", "nightly")
    assert not store.is_paused("report", "hourly")
    assert not store.is_paused("report", None)
    store.set_paused("report", None, True)
    assert store.is_paused("report", "hourly")
    assert store.is_paused("report", None)
    store.set_paused("report", None, False)
    assert not store.is_paused("report", "hourly")
    assert store.is_paused("report", "nightly")


def test_clock_state_keeps_other_columns_when_one_is_set(store: RunStore) -> None:
    assert store.clock_state("report", "nightly").last_fire is None
    store.set_anchor("report", "nightly", T0)
    store.set_last_fire("report", "nightly", T0 + timedelta(days=1))
    store.set_paused("report", "nightly", True)
    state = store.clock_state("report", "nightly")
    assert (state.anchor, state.last_fire, state.paused) == (T0, T0 + timedelta(days=1), True)
    assert set(store.clock_states()) == {("report", "nightly")}


def test_unfinished_runs_of_an_owner_and_crashing_only_those(store: RunStore) -> None:
    mine, other, cli, done = (
        store.create_run(replace(fire(c, trigger="manual"), owner=owner))
        for c, owner in (
            ("a", "daemon:host-a:1"),
            ("b", "daemon:host-b:2"),
            ("c", "cli:vm:7:99"),
            ("d", "daemon:host-a:1"),
        )
    )
    legacy = store.create_run(fire("e", trigger="manual"))  # no owner: before owners existed
    store.update_run(done, state="succeeded")
    assert [r.id for r in store.unfinished_runs("daemon:host-a:")] == [mine, legacy]
    assert [r.id for r in store.unfinished_runs("cli:")] == [cli]
    # "_" is literal (only the owner-less row, which any daemon may claim, matches)
    assert [r.id for r in store.unfinished_runs("daemon:host_a")] == [legacy]
    assert [r.id for r in store.unfinished_runs()] == [mine, other, cli, legacy]
    assert store.mark_crashed(T0, [mine, done]) == [mine]
    assert store.get_run(other).state == "pending"  # type: ignore[union-attr]
    assert store.mark_crashed(T0, []) == []


def test_update_runs_merges_the_changes_of_a_run_later_fields_winning(store: RunStore) -> None:
    a, b, c = store.claim_fires([fire("a"), fire("b"), fire("c")])
    assert a is not None and b is not None and c is not None  # noqa: PT018
    store.update_runs(
        [
            (a, {"state": "running", "started_at": T0, "attempt": 1}),
            (b, {"state": "running", "started_at": T0 + timedelta(seconds=1)}),
            (a, {"state": "succeeded", "ended_at": T0 + timedelta(seconds=2), "exit_code": 0}),
            (b, {"name": "second"}),
        ]
    )
    first, second, third = (store.get_run(run_id) for run_id in (a, b, c))
    assert first is not None and second is not None and third is not None  # noqa: PT018
    assert (first.state, first.attempt, first.exit_code) == ("succeeded", 1, 0)
    assert (first.started_at, first.ended_at) == (T0, T0 + timedelta(seconds=2))
    assert (second.state, second.started_at, second.name) == (
        "running",
        T0 + timedelta(seconds=1),
        "second",
    )
    assert (third.state, third.name) == ("pending", None)
    with pytest.raises(TypeError, match="unknown run fields: stat"):
        store.update_runs([(a, {"state": "failed"}), (b, {"stat": "failed"})])
    assert store.get_run(a).state == "succeeded"  # type: ignore[union-attr]  # nothing written


def test_claim_fires_moves_the_clocks_last_fires(store: RunStore) -> None:
    ids = store.claim_fires([fire("a"), fire("b")], {("report", "a"): T0, ("report", "b"): T0})
    assert ids == [1, 2]
    assert store.clock_state("report", "a").last_fire == T0
    assert store.clock_state("report", "b").last_fire == T0
    later = T0 + timedelta(minutes=1)
    store.set_last_fires({("report", "a"): later})
    assert store.clock_state("report", "a").last_fire == later
    store.clear_clock("report", "a")
    assert store.clock_state("report", "a").last_fire is None
    assert store.clock_state("report", "b").last_fire == T0


def test_anchors_are_kept_per_clock(store: RunStore) -> None:
    store.set_anchors({("report", "a"): T0, ("report", "b"): T0 + timedelta(hours=1)})
    states = store.clock_states()
    assert states[("report", "a")].anchor == T0
    assert states[("report", "b")].anchor == T0 + timedelta(hours=1)
    assert states[("report", "a")].last_fire is None


def test_the_changes_marker_moves_when_a_pause_is_written(store: RunStore) -> None:
    before = store.changes_marker()
    store.set_paused("report", "nightly", True)
    after = store.changes_marker()
    assert after != before
    assert store.paused() == {("report", "nightly")}
    store.set_paused("report", "nightly", False)
    assert store.changes_marker() != after
    assert store.paused() == set()


def test_a_readonly_store_reads_what_the_writer_wrote(store: RunStore) -> None:
    store.claim_fires([fire()])
    reader = open_store(store.location, readonly=True)  # a path, or the URL (no password)
    try:
        assert [r.id for r in reader.list_runs()] == [1]
        assert reader.get_run(1).clock == "nightly"  # type: ignore[union-attr]
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            reader.update_runs([(1, {"state": "failed"})])
    finally:
        reader.close()
    assert store.get_run(1).state == "pending"  # type: ignore[union-attr]


def test_a_transient_error_is_told_apart_from_a_bug(store: RunStore) -> None:
    from scheduler.storage import StoreUnavailable

    assert store.is_transient(StoreUnavailable("the database is away"))
    assert not store.is_transient(ValueError("a bug"))
    store.claim_fires([fire()])
    with pytest.raises(DUPLICATE_ERRORS) as caught:
        store.create_run(fire())
    assert not store.is_transient(caught.value)
    store.reset()  # after an error, the store goes on
    (new,) = store.claim_fires([fire("other")])
    assert new is not None
    assert new > 1  # (a refused insert may use up an id on a server: ids are not dense)
    assert "\n" not in store.describe_error(caught.value)
