"""The SQLite schema of the run history, as sqlite-utils migrations.

Applied in order by `Store.open`; a readonly store only checks that none is pending.
"""

from __future__ import annotations

from typing import Any

from scheduler.models import FIRE_TRIGGERS

# The triggers whose runs are fires: at most one run per (job, clock, scheduled_time) among them.
FIRE_TRIGGER_SQL = ", ".join(f"'{trigger.value}'" for trigger in FIRE_TRIGGERS)
MIGRATIONS_SET = "clockd"


def schema_migrations() -> Any:
    """The schema's migrations (sqlite-utils imported here: CLI paths that never open a
    database do not pay for it)."""
    from sqlite_utils import Migrations

    migrations = Migrations(MIGRATIONS_SET)

    @migrations(name="0001_initial")
    def initial(db: Any) -> None:
        db.executescript(
            f"""
            CREATE TABLE runs (
                id INTEGER PRIMARY KEY,  -- no AUTOINCREMENT: refused claims burn no ids
                job TEXT NOT NULL,
                clock TEXT,
                name TEXT,
                trigger TEXT NOT NULL,
                state TEXT NOT NULL,
                parameters TEXT NOT NULL DEFAULT '{{}}',
                secret_refs TEXT NOT NULL DEFAULT '{{}}',
                scheduled_time TEXT NOT NULL,
                created_at TEXT NOT NULL,
                started_at TEXT,
                ended_at TEXT,
                attempt INTEGER NOT NULL DEFAULT 0,
                exit_code INTEGER,
                error TEXT,
                parent_id INTEGER,
                result TEXT,
                lateness REAL
            );
            CREATE UNIQUE INDEX runs_one_per_fire ON runs (job, clock, scheduled_time)
                WHERE trigger IN ({FIRE_TRIGGER_SQL});
            CREATE INDEX runs_by_job ON runs (job, clock, id);
            CREATE INDEX runs_by_state ON runs (state);
            CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;
            CREATE TABLE run_logs (
                run_id INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                time TEXT NOT NULL,
                stream TEXT NOT NULL,
                text TEXT NOT NULL,
                PRIMARY KEY (run_id, seq)
            ) WITHOUT ROWID;
            CREATE TABLE clock_state (
                job TEXT NOT NULL,
                clock TEXT NOT NULL,
                last_fire TEXT,
                anchor TEXT,
                paused INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (job, clock)
            );
            """
        )

    @migrations(name="0002_paused_index")
    def paused_index(db: Any) -> None:
        # The daemon polls for paused clocks; with thousands of clocks, read only those.
        db.execute("CREATE INDEX clock_state_paused ON clock_state (paused) WHERE paused = 1")

    @migrations(name="0003_run_daemon_owner")
    def run_daemon_owner(db: Any) -> None:
        # Which daemon ran a run and where (spec 3, 8, 9), and who holds its process group,
        # so that a restart kills what a dead instance left (spec 7).
        for column in (
            "daemon TEXT",
            "worker TEXT",
            "owner TEXT",
            "pid INTEGER",
            "pid_start INTEGER",
        ):
            db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
        db.execute(
            "CREATE INDEX runs_unfinished ON runs (owner) WHERE state IN ('pending', 'running')"
        )

    @migrations(name="0004_runs_by_created")
    def runs_by_created(db: Any) -> None:
        # Retention by age (`keep_runs_for`) walks the oldest runs first.
        db.execute("CREATE INDEX runs_by_created ON runs (created_at)")

    # Later schema changes go here as new functions ("0003_..."); never edit an applied one:
    # databases that already ran it would not run it again.
    return migrations
