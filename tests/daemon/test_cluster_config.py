"""Several daemons' settings and tools (spec 8): `database_password`, `daemon_timeout`, the
config digest, `clockd daemons` with SQLite, `clockd db copy` into a real PostgreSQL, and
the crashed-run rules shared with a restart's leftovers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.daemon import crashes
from scheduler.daemon.membership import config_digest
from scheduler.problems import ConfigError
from scheduler.running.environment import hidden_variables
from scheduler.storage import open_store
from tests.helpers import run_clockd
from tests.storage.fires import T0, fire

NOW = datetime(2026, 3, 1, tzinfo=UTC)
URL = "postgresql://clockd@db.example:5432/clockd"


def _load(tmp_path: Path, daemon: str, jobs: str = "") -> object:
    path = tmp_path / "clockd.toml"
    path.write_text(f"[daemon]\n{daemon}\n{jobs}")
    return load_config(path, environ={}, now=NOW)


def test_daemon_timeout_defaults_to_thirty_seconds_and_takes_a_duration(tmp_path: Path) -> None:
    assert _load(tmp_path, "").daemon.daemon_timeout == timedelta(seconds=30)  # type: ignore[attr-defined]
    assert _load(tmp_path, 'daemon_timeout = "5s"').daemon.daemon_timeout == timedelta(seconds=5)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="daemon_timeout"):
        _load(tmp_path, 'daemon_timeout = "0s"')


def test_database_password_is_a_reference_and_a_relative_file_is_the_configs_folder(
    tmp_path: Path,
) -> None:
    config = _load(tmp_path, f'database = "{URL}"\ndatabase_password = "file:db-password"')
    assert config.daemon.database_password == f"file:{tmp_path / 'db-password'}"  # type: ignore[attr-defined]
    config = _load(tmp_path, f'database = "{URL}"\ndatabase_password = "env:DB_PW"')
    assert config.daemon.database_password == "env:DB_PW"  # type: ignore[attr-defined]
    assert "DB_PW" in hidden_variables(config)  # type: ignore[arg-type]  # runs never see it


@pytest.mark.parametrize(
    ("daemon", "message"),
    [
        (f'database = "{URL}"\ndatabase_password = "hunter2"', "never the password itself"),
        ('database_password = "env:DB_PW"', "a SQLite file has no password"),
    ],
    ids=["a-literal-password", "a-password-for-sqlite"],
)
def test_database_password_refusals(tmp_path: Path, daemon: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, daemon)
    assert message in refused.value.problems[0].render()
    assert "hunter2" not in refused.value.problems[0].render()


def test_the_config_digest_ignores_the_daemon_table_and_follows_the_jobs(tmp_path: Path) -> None:
    jobs = '[jobs.a]\ncommand = ["true"]\n'
    first = config_digest(_load(tmp_path, 'name = "host-a"', jobs))  # type: ignore[arg-type]
    second = config_digest(_load(tmp_path, 'name = "host-b"\nlisten = ""', jobs))  # type: ignore[arg-type]
    other = config_digest(_load(tmp_path, 'name = "host-a"', jobs + "retries = 2\n"))  # type: ignore[arg-type]
    assert first == second
    assert first != other
    assert len(first) == 12


def test_clockd_daemons_with_sqlite_lists_the_one_daemon(tmp_path: Path) -> None:
    (tmp_path / "clockd.toml").write_text('[daemon]\nname = "solo"\n')
    open_store(tmp_path / "clockd.db").close()
    listed = run_clockd("daemons", "--json", "-c", str(tmp_path / "clockd.toml"), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert (entry["name"], entry["state"], entry["config_matches"]) == ("solo", "stopped", True)


# -- crashed runs -----------------------------------------------------------------------------


def test_crash_leftovers_crashes_only_the_names_other_instances_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "clockd.db")
    old, live, other = (
        store.create_run(replace(fire(c, trigger="manual"), owner=owner))
        for c, owner in (("a", "daemon:a:1"), ("b", "daemon:a:2"), ("c", "daemon:b:3"))
    )
    crashed = crashes.crash_leftovers(store, T0, "daemon:a:", keep="daemon:a:2")
    assert [(r.id, r.state) for r in crashed] == [(old, "crashed")]
    assert crashes.crash_leftovers(store, T0, "daemon:a:", keep="daemon:a:2") == []
    assert {store.get_run(i).state for i in (live, other)} == {"pending"}  # type: ignore[union-attr]
    store.close()


# -- clockd db copy ---------------------------------------------------------------------------


def test_db_copy_moves_a_sqlite_history_into_postgresql_keeping_ids(
    tmp_path: Path, postgres_url: str
) -> None:
    (tmp_path / "clockd.toml").write_text("[daemon]\n")
    source = open_store(tmp_path / "clockd.db")
    ids = source.claim_fires(
        [fire("a"), fire("b", T0 + timedelta(minutes=1))], {("report", "a"): T0}
    )
    source.update_runs([(ids[0], {"state": "succeeded", "ended_at": T0, "exit_code": 0})])
    source.append_logs({ids[0]: [(T0, "stdout", "hello"), (T0, "stderr", "world")]})
    source.set_anchors({("report", "a"): T0 - timedelta(days=1)})
    source.set_paused("report", "b", True)
    source.mark_crashed(T0, [ids[1]])  # type: ignore[list-item]
    source.close()

    copied = run_clockd("db", "copy", "--to", postgres_url, cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert "copied 2 runs, 2 log lines and 2 clock states" in copied.stdout

    target = open_store(postgres_url)
    first = target.get_run(ids[0])  # type: ignore[arg-type]
    assert first is not None
    assert (first.state, first.exit_code, first.clock) == ("succeeded", 0, "a")
    assert target.get_run(ids[1]).state == "crashed"  # type: ignore[arg-type, union-attr]
    assert [line.text for line in target.read_log(ids[0])] == ["hello", "world"]  # type: ignore[arg-type]
    state = target.clock_state("report", "a")
    assert (state.last_fire, state.anchor) == (T0, T0 - timedelta(days=1))
    assert target.paused() == {("report", "b")}
    assert target.claim_fires([fire("c")]) == [3]  # new ids go on after the copied ones
    target.close()

    again = run_clockd("db", "copy", "--to", postgres_url, cwd=tmp_path)
    assert again.returncode == 1
    assert "already holds a run history" in again.stderr
    assert "Traceback" not in again.stderr
    replaced = run_clockd("db", "copy", "--to", postgres_url, "--replace", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    with open_store(postgres_url) as target:  # type: ignore[attr-defined]
        assert [r.id for r in target.list_runs()] == [ids[1], ids[0]]
