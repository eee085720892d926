"""PostgreSQL only, on a real server: the URL and password, errors that pass and errors that
do not, migrations by daemons starting together, claims racing across connections, the
server going away, and the daemons table (liveness by the database's clock, takeover once).
What every store does is in test_store_contract.py."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")

from scheduler.storage import StoreOpenError, StoreUnavailable, open_store  # noqa: E402
from scheduler.storage.postgres import daemons, schema  # noqa: E402
from scheduler.storage.postgres.daemons import DaemonInfo  # noqa: E402
from scheduler.storage.postgres.store import PostgresStore  # noqa: E402
from tests.pgserver import free_port  # noqa: E402
from tests.storage.fires import T0, fire  # noqa: E402


@pytest.fixture
def store(postgres_url: str):  # type: ignore[no-untyped-def]
    opened = open_store(postgres_url)
    yield opened
    opened.close()


def info(name: str, owner: str, *, timeout: float = 30.0, host: str = "host-x") -> DaemonInfo:
    return DaemonInfo(
        name=name,
        owner=owner,
        version="test",
        config_digest="abc",
        timeout=timeout,
        host=host,
        pid=1,
    )


# -- the URL, the password, refusals ----------------------------------------------------------


def test_a_password_in_the_url_is_refused_in_one_line(postgres_url: str) -> None:
    with pytest.raises(StoreOpenError) as refused:
        open_store(postgres_url.replace("postgres@", "postgres:hunter2@"))
    assert "database_password" in refused.value.message
    assert "hunter2" not in refused.value.message
    assert "\n" not in refused.value.message
    assert refused.value.sysexit == 78


def test_postgres_scheme_and_url_options_pass_through(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgres://") + "?sslmode=disable"
    with open_store(url) as store:
        assert store.claim_fires([fire()]) == [1]


def test_an_unknown_database_is_a_start_up_failure_not_a_wait(postgres_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreOpenError) as refused:
        open_store(postgres_server.url("no_such_database"))
    assert "does not exist" in refused.value.message
    assert refused.value.sysexit == 66


def test_an_unreadable_password_file_is_a_credentials_failure(
    postgres_url: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreOpenError) as refused:
        open_store(postgres_url, password=f"file:{tmp_path / 'missing'}")
    assert refused.value.sysexit == 77
    assert "does not exist" in refused.value.message


def test_the_password_reference_is_what_the_server_receives(
    postgres_server, postgres_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # The server trusts every connection; it still records what the client sent, so the
    # password is checked by reading the connection's own parameters.
    secret = tmp_path / "db-password"
    secret.write_text("s3cret\n")
    store = PostgresStore.open(postgres_url, password=f"file:{secret}")
    try:
        assert store.connection().info.password == "s3cret"
    finally:
        store.close()


def test_an_unreachable_server_is_transient(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as away:
        open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/clockd")
    assert "cannot connect" in str(away.value)


# -- errors -----------------------------------------------------------------------------------


def test_a_terminated_connection_is_transient_and_the_next_call_reconnects(
    store: PostgresStore, postgres_server
) -> None:  # type: ignore[no-untyped-def]
    store.claim_fires([fire()])
    pid = store.connection().info.backend_pid
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreUnavailable) as lost:
        store.get_run(1)
    assert store.is_transient(lost.value)
    assert store.is_transient(lost.value.__cause__)  # AdminShutdown (57P01)
    store.reset()
    assert store.get_run(1).clock == "nightly"  # type: ignore[union-attr]


def test_sql_mistakes_are_permanent_and_serialization_failures_are_transient(
    store: PostgresStore,
) -> None:
    with pytest.raises(psycopg.errors.SyntaxError) as syntax:
        store.run(lambda conn: conn.execute("SELEKT 1"))
    assert not store.is_transient(syntax.value)
    assert store.is_transient(psycopg.errors.SerializationFailure("could not serialize"))
    assert store.is_transient(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert not store.is_transient(psycopg.errors.UniqueViolation("duplicate key"))
    store.reset()
    assert store.claim_fires([fire()]) == [1]


def test_the_server_restarting_makes_calls_fail_transiently_then_work(
    store: PostgresStore, postgres_server
) -> None:  # type: ignore[no-untyped-def]
    store.claim_fires([fire()])
    postgres_server.restart()
    failures = 0
    for _ in range(50):
        try:
            record = store.get_run(1)
            break
        except StoreUnavailable:
            failures += 1
            store.reset()
            time.sleep(0.1)
    assert failures >= 1  # the old connection died with the server
    assert record is not None
    assert record.clock == "nightly"


# -- schema -----------------------------------------------------------------------------------


def test_daemons_starting_together_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    opened: list[PostgresStore] = []

    def start() -> None:
        try:
            opened.append(open_store(postgres_url))  # type: ignore[arg-type]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    names = opened[0].run(
        lambda conn: [r[0] for r in conn.execute("SELECT name FROM clockd_migrations")]
    )
    assert sorted(names) == sorted(schema.KNOWN)  # each once
    assert len(names) == len(set(names))
    for each in opened:
        each.close()


def test_a_schema_newer_than_this_clockd_is_refused_in_one_line(
    store: PostgresStore, postgres_url: str
) -> None:
    store.run(lambda conn: conn.execute("INSERT INTO clockd_migrations (name) VALUES ('0099_x')"))
    for readonly in (False, True):
        with pytest.raises(StoreOpenError) as refused:
            open_store(postgres_url, readonly=readonly)
        assert "newer than this clockd" in refused.value.message
        assert "0099_x" in refused.value.message
        assert "\n" not in refused.value.message


# -- claims across daemons --------------------------------------------------------------------


def test_two_daemons_claiming_the_same_fires_at_once_make_one_run_each(
    postgres_url: str,
) -> None:
    stores = [open_store(postgres_url) for _ in range(3)]
    fires = [fire(f"c{i}", T0 + timedelta(seconds=s)) for s in range(20) for i in range(10)]
    results: list[list[int | None]] = [[] for _ in stores]

    def claim(index: int) -> None:
        owner = [replace(f, owner=f"daemon:d{index}:1") for f in fires]
        for start in range(0, len(owner), 16):
            results[index].extend(stores[index].claim_fires(owner[start : start + 16]))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    claimed = [run_id for result in results for run_id in result if run_id is not None]
    assert len(claimed) == len(fires) == 200
    assert len(set(claimed)) == 200
    for position in range(len(fires)):  # each fire claimed by exactly one of the three
        assert sum(result[position] is not None for result in results) == 1
    assert len(stores[0].list_runs(limit=None)) == 200
    for each in stores:
        each.close()


def test_a_fire_of_a_paused_clock_is_not_claimed_and_says_why(store: PostgresStore) -> None:
    store.set_paused("report", "nightly", True)
    paused, backfill, other = fire(), fire(trigger="backfill", at=T0), fire("hourly")
    assert store.claim_fires([paused, other]) == [None, 1]
    assert paused.refused == "paused"
    assert other.refused is None
    store.set_paused("report", None, True)  # the whole job
    job_paused = fire("hourly", T0 + timedelta(hours=1))
    assert store.claim_fires([job_paused]) == [None]
    assert job_paused.refused == "paused"
    assert store.claim_fires([backfill]) == [2]  # a backfill is asked for: not paused


def test_a_clocks_last_fire_never_moves_back_when_a_slower_daemon_claims(
    store: PostgresStore,
) -> None:
    later = T0 + timedelta(minutes=1)
    store.claim_fires([fire(at=later)], {("report", "nightly"): later})
    store.claim_fires([fire(at=T0)], {("report", "nightly"): T0})
    assert store.clock_state("report", "nightly").last_fire == later


def test_a_run_of_a_job_that_keeps_runs_together_goes_to_the_live_daemon_holding_them(
    store: PostgresStore,
) -> None:
    store.run(lambda conn: daemons.register(conn, info("host-a", "daemon:host-a:1")))
    store.run(lambda conn: daemons.register(conn, info("host-b", "daemon:host-b:2")))
    held = replace(fire("a"), owner="daemon:host-a:1", daemon="host-a", keep_together=True)
    assert store.claim_fires([held]) == [1]
    new = replace(
        fire("b"), owner="daemon:host-b:2", daemon="host-b", keep_together=True, job="report"
    )
    free = replace(fire("c", job="other"), owner="daemon:host-b:2", keep_together=True)
    assert store.claim_fires([new, free]) == [2, 3]
    assert (new.owner, new.daemon) == ("daemon:host-a:1:handed", "host-a")
    assert free.owner == "daemon:host-b:2"  # no run of its job is active anywhere
    adopted = store.run(lambda conn: daemons.adopt(conn, "daemon:host-a:1"))
    assert [(r.id, r.owner) for r in adopted] == [(2, "daemon:host-a:1")]
    assert store.run(lambda conn: daemons.adopt(conn, "daemon:host-a:1")) == []


# -- the daemons table ------------------------------------------------------------------------


def test_a_second_live_daemon_with_the_same_name_is_refused(store: PostgresStore) -> None:
    store.run(lambda conn: daemons.register(conn, info("host-a", "daemon:host-a:1")))
    with pytest.raises(Exception, match="another live daemon is named 'host-a'"):
        store.run(lambda conn: daemons.register(conn, info("host-a", "daemon:host-a:2")))
    listed = store.run(daemons.listing)
    assert [(d["name"], d["instance"], d["state"]) for d in listed] == [("host-a", "1", "live")]


def test_the_name_is_free_again_once_its_daemon_is_silent_past_its_timeout(
    store: PostgresStore,
) -> None:
    store.run(lambda conn: daemons.register(conn, info("host-a", "daemon:a:1", timeout=0.3)))
    time.sleep(0.5)  # the database's clock ages the heartbeat
    assert store.run(daemons.listing)[0]["state"] == "dead"
    store.run(lambda conn: daemons.register(conn, info("host-a", "daemon:a:2", timeout=0.3)))
    assert store.run(daemons.listing)[0]["instance"] == "2"


def test_a_dead_daemons_runs_are_crashed_once_whoever_takes_it_over(
    postgres_url: str,
) -> None:
    first, second = open_store(postgres_url), open_store(postgres_url)
    first.run(lambda conn: daemons.register(conn, info("host-a", "daemon:host-a:1", timeout=0.3)))
    ids = first.claim_fires(
        [replace(fire(c), owner="daemon:host-a:1") for c in "abc"]
        + [replace(fire("d"), owner="daemon:host-b:9")]
    )
    first.update_runs([(ids[0], {"state": "running"}), (ids[1], {"state": "succeeded"})])
    time.sleep(0.5)
    assert first.run(lambda conn: daemons.dead(conn, "daemon:host-c:3")) == [
        ("host-a", "daemon:host-a:1")
    ]
    results: list[list[int]] = []

    def take(store: PostgresStore, me: str) -> None:
        records = store.run(
            lambda conn: daemons.take_over(conn, "host-a", "daemon:host-a:1", me, T0)
        )
        results.append([record.id for record in records])

    threads = [
        threading.Thread(target=take, args=(first, "daemon:host-c:3")),
        threading.Thread(target=take, args=(second, "daemon:host-d:4")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [[], [ids[0], ids[2]]]
    crashed = first.get_run(ids[0])
    assert crashed is not None
    assert (crashed.state, crashed.error) == (
        "crashed",
        "its daemon host-a died while this run was running",
    )
    assert first.get_run(ids[3]).state == "pending"  # type: ignore[union-attr]  # another's
    assert first.run(lambda conn: daemons.heartbeat(conn, "daemon:host-a:1")) in (
        "daemon:host-c:3",
        "daemon:host-d:4",
    )
    first.close()
    second.close()


def test_a_cancel_asked_through_another_daemon_reaches_the_owner(store: PostgresStore) -> None:
    store.run(lambda conn: daemons.register(conn, info("host-a", "daemon:host-a:1")))
    (mine,) = store.claim_fires([replace(fire(), owner="daemon:host-a:1")])
    (orphan,) = store.claim_fires([replace(fire("x"), owner="daemon:gone:1")])
    assert store.run(lambda conn: daemons.request_cancel(conn, mine)) == "daemon:host-a:1"  # type: ignore[arg-type]
    assert store.run(lambda conn: daemons.request_cancel(conn, orphan)) is None  # type: ignore[arg-type]
    assert store.run(lambda conn: daemons.cancel_requests(conn, "daemon:host-a:1")) == [mine]
