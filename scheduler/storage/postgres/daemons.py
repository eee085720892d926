"""The `daemons` table: who shares the database, who is alive, who was taken over (spec 8).

Ages come from the database's clock (`now()` in SQL), never a daemon's own: machines' clocks
differ, the server's is the one all of them see. A daemon is *live* while its heartbeat is
younger than its own `timeout` (the same length after which it stops starting runs itself,
so that no survivor takes over a daemon that may still start one) and it neither stopped
nor was taken over.

Each function takes a psycopg connection in autocommit mode (see `PostgresStore.run`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.models import process_start
from scheduler.storage.base import StoreError
from scheduler.storage.postgres.claims import HANDED
from scheduler.storage.postgres.columns import SELECT_RUN, like_prefix, run_record, utc

if TYPE_CHECKING:
    import psycopg

    from scheduler.storage.records import RunRecord

CHANNEL = "clockd"  # NOTIFY channel: the payload is the owner that has work (a cancel, a run)

_RUN_FIELDS = SELECT_RUN.removeprefix("SELECT ").removesuffix(" FROM runs")
_LIVE = (
    "stopped IS NULL AND taken_over_by IS NULL "
    "AND heartbeat > now() - make_interval(secs => timeout)"
)


@dataclass(frozen=True)
class DaemonInfo:
    """What a daemon records about itself."""

    name: str
    owner: str  # "daemon:NAME:INSTANCE"
    version: str
    config_digest: str
    timeout: float
    listen: str | None = None
    host: str = ""
    pid: int = 0

    @classmethod
    def here(cls, **fields: Any) -> DaemonInfo:
        return cls(host=socket.gethostname(), pid=os.getpid(), **fields)


def _previous_is_dead(row: tuple[Any, ...], host: str) -> bool:
    """A live-looking row of this name, on this host, whose process is gone: our own earlier
    instance, killed before its heartbeat aged (a restart by systemd)."""
    previous_host, pid, pid_start = row[1], row[2], row[3]
    if previous_host != host:
        return False
    started = process_start(pid)
    return started is None or (pid_start is not None and started != pid_start)


def register(conn: psycopg.Connection, info: DaemonInfo) -> None:
    """Record this daemon (a new instance of its name). StoreError when another live daemon
    has the name: two would handle each other's leftovers."""
    with conn.transaction():
        row = conn.execute(
            f"SELECT owner, host, pid, pid_start, ({_LIVE}) AS live, "
            "EXTRACT(EPOCH FROM now() - heartbeat) FROM daemons WHERE name = %s FOR UPDATE",
            (info.name,),
        ).fetchone()
        if row is not None and row[4] and not _previous_is_dead(row, info.host):
            raise StoreError(
                f"another live daemon is named '{info.name}' (host {row[1]}, pid {row[2]}, "
                f"heartbeat {float(row[5]):.0f}s ago): give this one another name "
                "([daemon] name, --name or $CLOCKD_NAME)"
            )
        conn.execute(
            "INSERT INTO daemons (name, owner, host, pid, pid_start, version, config_digest, "
            "timeout, listen, started, heartbeat) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now()) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host, "
            "pid = excluded.pid, pid_start = excluded.pid_start, version = excluded.version, "
            "config_digest = excluded.config_digest, timeout = excluded.timeout, "
            "listen = excluded.listen, started = now(), heartbeat = now(), stopped = NULL, "
            "taken_over_by = NULL",
            (
                info.name,
                info.owner,
                info.host,
                info.pid,
                process_start(info.pid),
                info.version,
                info.config_digest,
                info.timeout,
                info.listen,
            ),
        )


def heartbeat(conn: psycopg.Connection, owner: str) -> str | None:
    """Renew this instance's heartbeat; the survivor that took it over, if one did (or
    "gone" when its row names another instance now)."""
    row = conn.execute(
        "UPDATE daemons SET heartbeat = now() WHERE owner = %s AND taken_over_by IS NULL "
        "RETURNING name",
        (owner,),
    ).fetchone()
    if row is not None:
        return None
    row = conn.execute("SELECT taken_over_by FROM daemons WHERE owner = %s", (owner,)).fetchone()
    return "gone" if row is None else str(row[0])


def mark_stopped(conn: psycopg.Connection, owner: str) -> None:
    conn.execute("UPDATE daemons SET stopped = now() WHERE owner = %s", (owner,))


def dead(conn: psycopg.Connection, owner: str) -> list[tuple[str, str]]:
    """(name, owner) of the daemons silent past their timeout, or stopped, that nobody took
    over yet (a stopped one may have left runs whose states it could not write)."""
    rows = conn.execute(
        "SELECT name, owner FROM daemons WHERE owner <> %s AND taken_over_by IS NULL "
        "AND (stopped IS NOT NULL OR heartbeat <= now() - make_interval(secs => timeout))",
        (owner,),
    ).fetchall()
    return [(str(name), str(other)) for name, other in rows]


def take_over(
    conn: psycopg.Connection, name: str, dead_owner: str, me: str, now: datetime
) -> list[RunRecord]:
    """Mark the dead daemon taken over by `me` and its name's unfinished runs `crashed`, in
    one transaction, once: the runs crashed here (to retry), [] when another survivor (or a
    restart of that daemon) was first."""
    from scheduler.storage.postgres.columns import millis

    with conn.transaction():
        row = conn.execute(
            "UPDATE daemons SET taken_over_by = %s WHERE name = %s AND owner = %s "
            "AND taken_over_by IS NULL "
            "AND (stopped IS NOT NULL OR heartbeat <= now() - make_interval(secs => timeout)) "
            "RETURNING name",
            (me, name, dead_owner),
        ).fetchone()
        if row is None:
            return []
        rows = conn.execute(
            "UPDATE runs SET state = 'crashed', ended_at = %s, error = COALESCE(error, "
            "CASE state WHEN 'running' THEN %s ELSE %s END) "
            "WHERE state IN ('pending', 'running') AND owner LIKE %s RETURNING " + _RUN_FIELDS,
            (
                millis(now),
                f"its daemon {name} died while this run was running",
                f"its daemon {name} died before this run started",
                like_prefix(f"daemon:{name}:"),
            ),
        ).fetchall()
    return sorted((run_record(row) for row in rows), key=lambda record: record.id)


def adopt(conn: psycopg.Connection, owner: str) -> list[RunRecord]:
    """Runs another daemon gave this one (their job's active runs are here): now ours."""
    rows = conn.execute(
        "UPDATE runs SET owner = %s WHERE owner = %s AND state = 'pending' "
        "RETURNING " + _RUN_FIELDS,
        (owner, owner + HANDED),
    ).fetchall()
    return sorted((run_record(row) for row in rows), key=lambda record: record.id)


def cancel_requests(conn: psycopg.Connection, owner: str) -> list[int]:
    """Ids of this daemon's unfinished runs that someone asked, through another daemon, to
    cancel."""
    rows = conn.execute(
        "SELECT id FROM runs WHERE owner = %s AND state IN ('pending', 'running') "
        "AND cancel_requested ORDER BY id",
        (owner,),
    ).fetchall()
    return [int(row[0]) for row in rows]


def request_cancel(conn: psycopg.Connection, run_id: int) -> str | None:
    """Ask the live daemon that holds run `run_id` to cancel it; that daemon's owner, or
    None when no live daemon holds it (a row left by a dead one)."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE runs r SET cancel_requested = true FROM daemons d "
            "WHERE r.id = %s AND r.state IN ('pending', 'running') AND r.owner = d.owner "
            "AND d.stopped IS NULL AND d.taken_over_by IS NULL "
            "AND d.heartbeat > now() - make_interval(secs => d.timeout) RETURNING r.owner",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, row[0]))
    return str(row[0])


def listing(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every daemon's row, with its heartbeat's age by the database's clock and whether it
    is live."""
    rows = conn.execute(
        "SELECT name, owner, host, pid, version, config_digest, timeout, listen, started, "
        f"heartbeat, stopped, taken_over_by, EXTRACT(EPOCH FROM now() - heartbeat), ({_LIVE}) "
        "FROM daemons ORDER BY name"
    ).fetchall()
    return [
        {
            "name": row[0],
            "instance": str(row[1]).rsplit(":", 1)[-1],
            "host": row[2],
            "pid": row[3],
            "version": row[4],
            "config_digest": row[5],
            "timeout_seconds": row[6],
            "listen": row[7],
            "started": _iso(row[8]),
            "heartbeat": _iso(row[9]),
            "heartbeat_age_seconds": round(float(row[12]), 3),
            "stopped": _iso(row[10]),
            "taken_over_by": row[11],
            "state": "live" if row[13] else "stopped" if row[10] is not None else "dead",
        }
        for row in rows
    ]


def _iso(moment: datetime | None) -> str | None:
    value = utc(moment)
    return None if value is None else value.isoformat()
