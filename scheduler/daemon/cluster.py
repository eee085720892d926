"""This daemon among the others that share its database (spec 8): liveness, fencing,
takeover, cancels and runs handed over between daemons.

A PostgreSQL store gets a `Cluster`: a thread with a connection of its own (so that a
heartbeat never queues behind failing writes) that every `interval` seconds
- renews this daemon's heartbeat (aged by the database's clock);
- adopts the runs another daemon gave this one (a job that keeps its active runs together),
  and picks up cancels asked through another daemon — at once when a `NOTIFY` wakes it;
- once it has been connected for `daemon_timeout` itself, takes over the daemons silent for
  theirs: their unfinished runs become crashed, once, and are retried here per `retries`.
What it finds is carried out on the event loop (`Daemon` callbacks). The fencing gate
(`may_start`) closes when no heartbeat went through for `daemon_timeout`: the executor then
starts nothing until one does — a survivor may be taking this daemon's runs over. A daemon
that learns it was taken over (a long cut on its side only) stops its runs without writing
anything more and exits 75, for its service manager to start it again cleanly.

With SQLite there is one daemon: `SoloCluster` lists it, and its gate never closes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.storage.base import StoreError

if TYPE_CHECKING:
    from scheduler.models import Config, Identity
    from scheduler.storage.base import RunStore
    from scheduler.storage.postgres.daemons import DaemonInfo
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.cluster")

EX_TEMPFAIL = 75
DIGEST_ROUNDS = 10  # the others' config digests are read every this many rounds  # taken over by a survivor: exit, for systemd to start this daemon afresh


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


class Cluster:
    """See the module docstring. `connect()` opens the link's own store (not connected yet);
    the `on_*` callbacks run on `loop`."""

    def __init__(
        self,
        info: DaemonInfo,
        connect: Callable[[], Any],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.info = info
        self.owner = info.owner
        self.timeout = info.timeout
        self.interval = max(0.05, min(1.0, self.timeout / 5))
        self.connect = connect
        self.monotonic = monotonic
        self.last_beat: float | None = None  # monotonic time a successful heartbeat was sent
        self._connected_since: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening: object = None
        self._digests: dict[str, str] = {}
        self._failing = False
        self._rounds = 0
        self._warned: set[tuple[str, str]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_adopt: Callable[[list[RunRecord]], None] = lambda records: None
        self.on_cancel: Callable[[list[int]], None] = lambda run_ids: None
        self.on_crashed: Callable[[str, list[RunRecord]], None] = lambda name, records: None
        self.on_taken_over: Callable[[str], None] = lambda by: None
        self.on_gate_open: Callable[[], None] = lambda: None

    # -- start-up (before the loop's work starts) -------------------------------------------

    def register(self, store: Any) -> None:
        """Record this daemon in the database (StoreError: a live daemon has its name)."""
        from scheduler.storage.postgres import daemons

        sent = self.monotonic()
        store.run(lambda conn: daemons.register(conn, self.info))
        self.last_beat = sent

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._thread = threading.Thread(target=self._work, name="clockd-cluster", daemon=True)
        self._thread.start()

    # -- the gate and the others ------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether a heartbeat went through within `daemon_timeout` (cheap: asked per run)."""
        return self.last_beat is not None and self.monotonic() - self.last_beat < self.timeout

    def daemons(self, store: Any) -> list[dict[str, Any]]:
        """Every daemon of the database (a reader's store), this one's digest compared."""
        from scheduler.storage.postgres import daemons

        listed = store.run(daemons.listing)
        for entry in listed:
            entry["config_matches"] = entry["config_digest"] == self.info.config_digest
        self._digests = {e["name"]: e["config_digest"] for e in listed if e["state"] == "live"}
        return listed

    def differing_digests(self) -> int:
        """Live daemons (as last seen) whose config digest is not this one's."""
        return sum(1 for d in self._digests.values() if d != self.info.config_digest)

    def live_count(self) -> int:
        return len(self._digests)

    async def cancel_elsewhere(self, run_id: int) -> bool:
        """Ask the live daemon that holds `run_id` to cancel it (it hears at once through
        NOTIFY, or within a heartbeat); False when no live daemon holds it."""
        from scheduler.storage.postgres import daemons

        def ask() -> str | None:
            store = self.connect()
            try:
                return store.run(lambda conn: daemons.request_cancel(conn, run_id))  # type: ignore[no-any-return]
            finally:
                store.close()

        owner = await asyncio.get_running_loop().run_in_executor(None, ask)
        if owner is not None:
            log.info("cancel passed on run_id=%s owner=%s", run_id, owner)
        return owner is not None

    def close(self) -> None:
        """Stop the link; record this daemon as stopped if the database is there."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
        from scheduler.storage.postgres import daemons

        try:
            store = self.connect()
            try:
                store.run(lambda conn: daemons.mark_stopped(conn, self.owner))
            finally:
                store.close()
        except Exception as error:
            log.debug("stop not recorded: %s", error)

    # -- the link's thread ------------------------------------------------------------------

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:
                pass

    def _work(self) -> None:
        store = self.connect()
        next_beat = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    if self.monotonic() >= next_beat:
                        if not self._beat(store):
                            return
                        next_beat = self.monotonic() + self.interval
                    self._round(store)
                    self._listen(store, max(next_beat - self.monotonic(), 0.0))
                except Exception as error:
                    self._failed(store, error)
                    next_beat = 0.0
                    self._stopping.wait(self.interval)
        finally:
            store.close()

    def _beat(self, store: Any) -> bool:
        """One heartbeat; False when this daemon was taken over (the link stops)."""
        from scheduler.storage.postgres import daemons

        sent = self.monotonic()
        taken_by = store.run(lambda conn: daemons.heartbeat(conn, self.owner))
        if taken_by is not None:
            log.error(
                "this daemon was declared dead (silent for %.0fs) and taken over by %s: its "
                "runs are being retried there; stopping them and exiting to start afresh",
                self.timeout,
                taken_by,
            )
            self._post(self.on_taken_over, taken_by)
            return False
        gate_was_closed = not self.may_start()
        self.last_beat = sent
        if self._connected_since is None:
            self._connected_since = sent
        if self._failing:
            self._failing = False
            log.warning("cluster heartbeat recovered")
        if gate_was_closed:
            self._post(self.on_gate_open)
        return True

    def _round(self, store: Any) -> None:
        """Adopt, cancel, take over: what the database holds for this daemon now."""
        from scheduler.storage.postgres import daemons
        from scheduler.storage.records import utc_now

        self._rounds += 1
        if self._rounds % DIGEST_ROUNDS == 1:
            self._check_digests(store.run(daemons.listing))
        adopted = store.run(lambda conn: daemons.adopt(conn, self.owner))
        if adopted:
            self._post(self.on_adopt, adopted)
        cancels = store.run(lambda conn: daemons.cancel_requests(conn, self.owner))
        if cancels:
            self._post(self.on_cancel, cancels)
        since = self._connected_since
        if since is None or self.monotonic() - since < self.timeout:
            return  # after a cut of our own, everyone looks dead: wait to know better
        for name, owner in store.run(lambda conn: daemons.dead(conn, self.owner)):
            now = utc_now()
            crashed = store.run(
                lambda conn, name=name, owner=owner, now=now: daemons.take_over(
                    conn, name, owner, self.owner, now
                )
            )
            log.log(
                logging.WARNING if crashed else logging.INFO,
                "daemon %s is dead (silent past its timeout, or stopped): took it over "
                "crashed_runs=%s",
                name,
                [record.id for record in crashed],
            )
            if crashed:
                self._post(self.on_crashed, name, crashed)

    def _check_digests(self, listed: list[dict[str, Any]]) -> None:
        """Remember the live daemons' digests (metrics); warn once per daemon and digest
        that differs from this one's: the same jobs must be loaded everywhere."""
        self._digests = {e["name"]: e["config_digest"] for e in listed if e["state"] == "live"}
        for name, digest in self._digests.items():
            if digest != self.info.config_digest and (name, digest) not in self._warned:
                self._warned.add((name, digest))
                log.warning(
                    "daemon %s runs another config (digest %s, this one %s): jobs, calendars "
                    "and executors should be the same on every daemon",
                    name,
                    digest,
                    self.info.config_digest,
                )

    def _listen(self, store: Any, timeout: float) -> bool:
        """Wait for a NOTIFY naming this daemon (True) up to `timeout` seconds."""
        from scheduler.storage.postgres.daemons import CHANNEL

        conn = store.connection()
        if self._listening is not conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._listening = conn
        return any(
            notify.payload.startswith(self.owner)
            for notify in conn.notifies(timeout=timeout, stop_after=1)
        )

    def _failed(self, store: Any, error: BaseException) -> None:
        self._connected_since = None
        self._listening = None
        try:
            store.reset()
            store.close()
        except Exception:
            log.debug("link reset failed", exc_info=True)
        if not self._failing:
            self._failing = True
            log.warning(
                "cluster heartbeat failing error=%s; runs stop starting after %.0fs without one",
                store.describe_error(error) if isinstance(error, Exception) else error,
                self.timeout,
            )
        if not isinstance(error, StoreError | OSError) and not store.is_transient(error):
            log.error("cluster link error", exc_info=error)


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
