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

With SQLite there is one daemon: `membership.SoloCluster` lists it, and its gate never
closes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scheduler.storage.base import StoreError

if TYPE_CHECKING:
    from scheduler.storage.postgres.daemons import DaemonInfo
    from scheduler.storage.records import RunRecord

log = logging.getLogger("clockd.cluster")

EX_TEMPFAIL = 75  # taken over by a survivor: exit, for systemd to start this daemon afresh
DIGEST_ROUNDS = 3  # the live daemons and their digests are read every this many rounds


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

        listed: list[dict[str, Any]] = store.run(daemons.listing)
        for entry in listed:
            entry["config_matches"] = entry["config_digest"] == self.info.config_digest
        self._digests = {e["name"]: e["config_digest"] for e in listed if e["state"] == "live"}
        return listed

    def differing_digests(self) -> int:
        """Live daemons (as last seen) whose config digest is not this one's."""
        return sum(1 for d in self._digests.values() if d != self.info.config_digest)

    def live_count(self) -> int:
        return len(self._digests)

    def burst_share(self) -> tuple[float, float]:
        """This daemon's share of a burst of fires, by its place among the live daemons as
        last listed: (0, 1/3), (1/3, 2/3), (2/3, 1) for the three daemons a, b, c; all of it
        while it knows of no other."""
        names = sorted(self._digests)
        if self.info.name not in names:
            return 0.0, 1.0
        place = names.index(self.info.name)
        return place / len(names), (place + 1) / len(names)

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
