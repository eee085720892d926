"""The store on a real SQLite file: fire claims, migrations, readers beside a writer, state."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.errors import UserError
from scheduler.storage.sqlite.store import NewRun, Store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def fire(
    clock: str = "nightly",
    at: datetime = T0,
    *,
    trigger: str = "clock",
    job: str = "report",
    **extra: object,
) -> NewRun:
    return NewRun(
        job=job,
        clock=clock,
        trigger=trigger,
        scheduled_time=at,
        parameters={"x": 9, "api_key": "***"},
        secret_refs={"api_key": "env:KEY"},
        **extra,
    )  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "clockd.db")
    yield opened  # type: ignore[misc]
    opened.close()


def test_claim_fires_gives_each_fire_one_run_and_none_on_a_second_claim(store: Store) -> None:
    first = store.claim_fires([fire("a"), fire("b"), fire("a", T0 + timedelta(minutes=1))])
    assert first == [1, 2, 3]
    again = store.claim_fires([fire("a"), fire("c"), fire("b")])
    assert again == [None, 4, None]
    assert store.has_fire("report", "a", T0)
    assert not store.has_fire("report", "a", T0 + timedelta(minutes=2))


def test_claim_fires_maps_ids_across_multi_row_statements_and_repeated_fires(
    store: Store,
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


def test_the_same_fire_from_catchup_or_backfill_is_still_one_run(store: Store) -> None:
    assert store.claim_fires([fire(trigger="clock")]) == [1]
    assert store.claim_fires([fire(trigger="catchup"), fire(trigger="backfill")]) == [None, None]
    # Manual runs are not fires: any number may carry the same clock and time.
    assert store.claim_fires([fire(trigger="manual"), fire(trigger="manual")]) == [2, 3]
    with pytest.raises(sqlite3.IntegrityError):
        store.create_run(fire(trigger="backfill"))


def test_an_offset_time_is_the_same_fire_as_its_utc_instant(store: Store) -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert store.claim_fires([fire(at=T0)]) == [1]
    assert store.claim_fires([fire(at=berlin)]) == [None]
    assert store.get_run(1).scheduled_time == T0  # type: ignore[union-attr]


def test_claiming_a_thousand_fires_in_one_call_gives_a_thousand_runs(store: Store) -> None:
    # How long it takes: benchmarks/model.py, beside plain sqlite3 inserts.
    runs = [fire("bulk", T0 + timedelta(seconds=i)) for i in range(1000)]
    ids = store.claim_fires(runs)
    assert ids == list(range(1, 1001))


def test_to_json_has_the_spec_fields_with_offsets_and_no_secret_refs(store: Store) -> None:
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


def test_update_run_refuses_unknown_fields(store: Store) -> None:
    run_id = store.create_run(fire())
    with pytest.raises(TypeError, match="stat"):
        store.update_run(run_id, stat="running")


def test_list_runs_filters_and_orders_newest_first(store: Store) -> None:
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


def test_mark_crashed_turns_running_and_pending_runs_into_crashed(store: Store) -> None:
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


def test_update_runs_writes_many_runs_in_one_transaction_later_fields_winning(
    store: Store,
) -> None:
    a, b = store.claim_fires([fire("a"), fire("b")])
    assert a is not None
    assert b is not None
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    store.update_runs(
        [
            (a, {"state": "running", "started_at": T0, "attempt": 1}),
            (b, {"state": "running", "started_at": T0}),
            (a, {"state": "succeeded", "ended_at": T0 + timedelta(seconds=2), "exit_code": 0}),
        ]
    )
    store._conn.set_trace_callback(None)
    # a's two changes are one statement: a run that started and ended between two writes
    assert [s.split()[0] for s in statements] == ["BEGIN", "UPDATE", "UPDATE", "COMMIT"]
    first, second = store.get_run(a), store.get_run(b)
    assert first is not None
    assert second is not None
    assert (first.state, first.attempt, first.exit_code) == ("succeeded", 1, 0)
    assert (first.started_at, first.ended_at) == (T0, T0 + timedelta(seconds=2))
    assert (second.state, second.started_at) == ("running", T0)
    with pytest.raises(TypeError, match="unknown run fields: stat"):
        store.update_runs([(a, {"state": "failed"}), (b, {"stat": "failed"})])
    assert store.get_run(a).state == "succeeded"  # type: ignore[union-attr]  # nothing written


def test_claim_fires_writes_the_clocks_last_fire_in_the_same_transaction(store: Store) -> None:
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    ids = store.claim_fires([fire("a"), fire("b")], {("report", "a"): T0, ("report", "b"): T0})
    store._conn.set_trace_callback(None)
    assert ids == [1, 2]
    assert statements.count("COMMIT") == 1
    assert store.clock_state("report", "a").last_fire == T0
    assert store.clock_state("report", "b").last_fire == T0


def test_log_lines_are_numbered_per_run_and_read_after_a_sequence(store: Store) -> None:
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


def test_pausing_the_job_covers_every_clock_and_pausing_a_clock_only_that_one(store: Store) -> None:
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


def test_clock_state_keeps_other_columns_when_one_is_set(store: Store) -> None:
    assert store.clock_state("report", "nightly").last_fire is None
    store.set_anchor("report", "nightly", T0)
    store.set_last_fire("report", "nightly", T0 + timedelta(days=1))
    store.set_paused("report", "nightly", True)
    state = store.clock_state("report", "nightly")
    assert (state.anchor, state.last_fire, state.paused) == (T0, T0 + timedelta(days=1), True)
    assert set(store.clock_states()) == {("report", "nightly")}


def test_reopening_an_existing_file_keeps_its_rows_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "clockd.db"
    with Store.open(path) as first:
        first.claim_fires([fire()])
    with Store.open(path) as second:
        assert [r.id for r in second.list_runs()] == [1]
        assert second.claim_fires([fire()]) == [None]
        applied = second._conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
        assert [row[0] for row in applied] == [
            "0001_initial",
            "0002_paused_index",
            "0003_run_daemon_owner",
        ]
        mode = second._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_a_file_from_an_older_schema_is_migrated_forward_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "clockd.db"
    with Store.open(path) as store:
        store.claim_fires([fire()])
        store.set_paused("report", "small", True)
        # Make it a file written before 0002 existed.
        store._conn.execute("DROP INDEX clock_state_paused")
        store._conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0002_paused_index'")
    with Store.open(path) as store:
        indexes = {
            row[0]
            for row in store._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert "clock_state_paused" in indexes
        assert [r.id for r in store.list_runs()] == [1]
        assert store.paused() == {("report", "small")}


def test_an_empty_existing_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "clockd.db"
    sqlite3.connect(path).close()
    with Store.open(path) as store:
        assert store.claim_fires([fire()]) == [1]


def test_a_readonly_store_refuses_a_missing_file_and_an_unmigrated_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        Store.open(tmp_path / "missing.db", readonly=True)
    sqlite3.connect(tmp_path / "old.db").close()
    with pytest.raises(UserError, match="start `clockd serve`"):
        Store.open(tmp_path / "old.db", readonly=True)


def test_a_readonly_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "clockd.db"
    with Store.open(path) as writer:
        writer.claim_fires([fire()])
        with Store.open(path, readonly=True) as reader:
            assert [r.id for r in reader.list_runs()] == [1]
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.update_run(1, state="failed")


def test_a_reader_in_another_process_works_while_the_writer_holds_a_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clockd.db"
    with Store.open(path) as writer:
        writer.claim_fires([fire()])
        # The writer holds the write lock with an uncommitted run while another process reads.
        writer._conn.execute("BEGIN IMMEDIATE")
        writer._conn.execute("UPDATE runs SET state = 'running' WHERE id = 1")
        script = textwrap.dedent(
            f"""
            from pathlib import Path
            from scheduler.storage.sqlite.store import Store
            with Store.open(Path({str(path)!r}), readonly=True) as reader:
                print(reader.get_run(1).state, len(reader.list_runs()))
            """
        )
        reader = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
        )
        writer._conn.execute("COMMIT")
        assert reader.returncode == 0, reader.stderr
        # Snapshot isolation: the reader saw the last committed state, not the open write.
        assert reader.stdout.split() == ["pending", "1"]
        assert writer.get_run(1).state == "running"  # type: ignore[union-attr]


def test_a_second_writer_waits_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "clockd.db"
    with Store.open(path) as writer:
        writer._conn.execute("BEGIN IMMEDIATE")
        script = textwrap.dedent(
            f"""
            from datetime import UTC, datetime
            from pathlib import Path
            from scheduler.storage.sqlite.store import NewRun, Store
            with Store.open(Path({str(path)!r})) as other:
                run = NewRun(job="j", clock="c", trigger="clock",
                             scheduled_time=datetime(2026, 1, 1, tzinfo=UTC), parameters={{}})
                print(other.claim_fires([run]))
            """
        )
        other = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                other.wait(timeout=1.0)  # blocked on the lock, not failed
        finally:
            writer._conn.execute("COMMIT")
        out, err = other.communicate(timeout=30)
        assert other.returncode == 0, err
        assert out.strip() == "[1]"


def test_open_creates_missing_folders_and_phrases_an_unusable_path(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state" / "deep" / "clockd.db") as store:
        assert store.claim_fires([fire()]) == [1]
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UserError, match="cannot be created"):
        Store.open(tmp_path / "file" / "clockd.db")
    (tmp_path / "garbage.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a usable clockd database"):
        Store.open(tmp_path / "garbage.db")


def test_update_runs_groups_rows_by_columns_and_keeps_each_runs_own_values(
    store: Store,
) -> None:
    ids = store.claim_fires([fire(name) for name in "abc"])
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    store.update_runs(
        [
            (run_id, {"state": "running", "started_at": T0 + timedelta(seconds=i)})
            for i, run_id in enumerate(ids)
        ]  # type: ignore[misc]
        + [(ids[1], {"name": "second"})]  # type: ignore[list-item]
    )
    store._conn.set_trace_callback(None)
    assert statements[0] == "BEGIN IMMEDIATE"
    assert statements[-1] == "COMMIT"
    runs = [store.get_run(run_id) for run_id in ids]  # type: ignore[arg-type]
    assert [(r.state, r.started_at) for r in runs] == [  # type: ignore[union-attr]
        ("running", T0 + timedelta(seconds=i)) for i in range(3)
    ]
    assert [r.name for r in runs] == [None, "second", None]  # type: ignore[union-attr]


def test_unfinished_runs_of_an_owner_and_crashing_only_those(store: Store) -> None:
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
