"""SQLite only: the file, its lock, journal, PRAGMAs, migrations of old files, and a
reader in another process. What every store does is in test_store_contract.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.errors import UserError
from scheduler.storage.sqlite.store import Store
from tests.storage.fires import T0, fire


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "clockd.db")
    yield opened  # type: ignore[misc]
    opened.close()


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
            "0004_runs_by_created",
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
