"""Who this daemon is among those sharing its database (spec 8): its record (version, config
digest), the cluster that fits its store (`for_store`: a `Cluster` link for PostgreSQL, a
`SoloCluster` for SQLite), what it does at start (`start_up`: register, crash its name's
leftovers) and the listing of `clockd daemons`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.daemon.cluster import Cluster

if TYPE_CHECKING:
    from scheduler.models import Config, Identity
    from scheduler.storage.base import RunStore


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("clockd")
    except PackageNotFoundError:
        return "unknown"


def config_digest(config: Config) -> str:
    """What every daemon sharing a database must agree on — jobs, calendars, executors:
    every table of the config's files but `[daemon]` (which may differ per machine). Twelve
    hex digits of a SHA-256 over the files' parsed contents, independent of where they lie."""
    import tomllib

    digests = []
    for path in config.files or (config.path,):
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        data.pop("daemon", None)
        text = json.dumps(data, sort_keys=True, default=str)
        digests.append(hashlib.sha256(text.encode()).hexdigest())
    return hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()[:12]


class SoloCluster:
    """The one daemon of a SQLite database."""

    def __init__(self, identity: Identity, info: dict[str, Any]) -> None:
        self.identity = identity
        self.info = info

    def may_start(self) -> bool:
        return True

    def daemons(self, store: RunStore) -> list[dict[str, Any]]:
        return [self.info]

    def differing_digests(self) -> int:
        return 0

    def live_count(self) -> int:
        return 1

    async def cancel_elsewhere(self, run_id: int) -> bool:
        return False

    def close(self) -> None:
        pass


def for_store(store: RunStore, config: Config, identity: Identity) -> Cluster | SoloCluster:
    """A `Cluster` for a store shared by several daemons (PostgreSQL), else a `SoloCluster`."""
    import socket

    settings = config.daemon
    digest = config_digest(config)
    if not hasattr(store, "run"):  # SQLite: one daemon, no daemons table
        from datetime import UTC, datetime

        info = {
            "name": identity.name,
            "instance": identity.owner.rsplit(":", 1)[-1],
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": version(),
            "config_digest": digest,
            "listen": settings.listen or None,
            "started": datetime.now(UTC).isoformat(),
            "state": "live",
            "config_matches": True,
        }
        return SoloCluster(identity, info)
    from scheduler.storage import open_configured_store
    from scheduler.storage.postgres.daemons import DaemonInfo

    info_row = DaemonInfo.here(
        name=identity.name,
        owner=identity.owner,
        version=version(),
        config_digest=digest,
        timeout=settings.daemon_timeout.total_seconds(),
        listen=settings.listen or None,
    )
    return Cluster(info_row, lambda: open_configured_store(settings, connect=False))


def start_up(cluster: Cluster | SoloCluster, store: RunStore, now: Any) -> list[Any]:
    """At start, before anything fires: record this daemon (PostgreSQL), then crash what its
    name's earlier instances left unfinished — all unfinished runs with SQLite, where this
    is the only daemon. The crashed runs (records with PostgreSQL, to retry; ids with
    SQLite)."""
    if isinstance(cluster, SoloCluster):
        return store.mark_crashed(now)
    from scheduler.daemon.crashes import crash_leftovers

    cluster.register(store)
    name = cluster.info.name
    return crash_leftovers(store, now, f"daemon:{name}:", keep=cluster.owner)


def list_daemons(store: RunStore, config: Config, name: str | None = None) -> list[dict[str, Any]]:
    """The daemons of `store` as `clockd daemons` shows them: PostgreSQL's table, each
    compared with this config's digest; with SQLite the one daemon the config names, live
    while it holds the database's lock file."""
    digest = config_digest(config)
    if hasattr(store, "run"):
        from scheduler.storage.postgres import daemons

        listed: list[dict[str, Any]] = store.run(daemons.listing)
        for entry in listed:
            entry["config_matches"] = entry["config_digest"] == digest
        return listed
    import fcntl
    import socket

    lock = Path(config.daemon.database + ".lock")
    live = False
    try:
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                live = True  # a `clockd serve` holds it
    except OSError:
        pass
    return [
        {
            "name": name or config.daemon.name or socket.gethostname(),
            "host": socket.gethostname(),
            "config_digest": digest,
            "config_matches": True,
            "listen": config.daemon.listen or None,
            "state": "live" if live else "stopped",
        }
    ]
