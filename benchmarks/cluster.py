"""Several daemons on one PostgreSQL database (spec 8), against one daemon on SQLite.

    .venv/bin/python benchmarks/cluster.py                 # about 10 minutes
    .venv/bin/python benchmarks/cluster.py --quick         # 1 and 100 clocks, one trial
    .venv/bin/python benchmarks/cluster.py --server postgresql://postgres@127.0.0.1:5432/postgres

Two tables, from one run:
1. Real `clockd serve` processes, N clocks due at the same second (each run starts
   `/bin/true`): fire → process start lateness (p50 and p99 of `started_at − scheduled_time`)
   for one daemon on SQLite, one on PostgreSQL and three on PostgreSQL; for three daemons, how
   evenly a burst's runs spread (the share furthest from an even third).
2. Claims alone, as the daemons make them (`claim_fires` in chunks of 4, 8, 16, then 32 fires,
   each claimer starting at its own share of the burst), by separate processes with their own
   connections: fires claimed a second by one claimer on SQLite, one and three on PostgreSQL,
   and the cost of a claim that finds every fire taken (what each further daemon adds to the
   database per fire).

Without `--server` a PostgreSQL server is started from Debian's package as the tests do
(tests/pgserver.py), with fsync on and `synchronous_commit = off` (SQLite runs with
`synchronous = NORMAL`: both may lose the last commits in a power cut, never the database).
Each row is the median of `--repeat` trials, the setups taking turns.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from daemon import Daemon, clockd_config, ms, percentile  # noqa: E402

SETUPS = ("sqlite ×1", "postgresql ×1", "postgresql ×3")


def _parse(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Trial:
    """One burst: N clocks due at `at`, on the daemons of one setup."""

    def __init__(self, setup: str, clocks: int, server: object, lead: float) -> None:
        self.setup, self.clocks, self.server, self.lead = setup, clocks, server, lead

    def run(self) -> dict[str, object]:
        with tempfile.TemporaryDirectory() as folder:
            at = (datetime.now(UTC) + timedelta(seconds=self.lead)).replace(
                microsecond=0
            ) + timedelta(seconds=1)
            config = clockd_config(self.clocks, at)
            url = None
            count = 3 if self.setup.endswith("×3") else 1
            if self.setup.startswith("postgresql"):
                url = self.server.create_database()  # type: ignore[attr-defined]
            daemons = []
            for index in range(count):
                place = Path(folder) / f"d{index}"
                place.mkdir()
                text = config
                if url is not None:
                    text = text.replace(
                        'database = "clockd.db"',
                        f'database = "{url}"\nname = "d{index}"',
                    )
                daemons.append(Daemon(place, text))
            try:
                for daemon in daemons:
                    daemon.start()
                if datetime.now(UTC) >= at:
                    raise SystemExit(f"the daemons took longer than {self.lead}s; raise --lead")
                rows = self._wait(daemons, url, at)
            finally:
                for daemon in daemons:
                    daemon.stop()
                if url is not None:
                    self.server.drop_database(url)  # type: ignore[attr-defined]
        lateness = [
            (_parse(started) - _parse(scheduled)).total_seconds() for started, scheduled, _ in rows
        ]
        by_daemon: dict[str, int] = {}
        for *_, name in rows:
            by_daemon[name] = by_daemon.get(name, 0) + 1
        even = self.clocks / count
        return {
            "p50": statistics.median(lateness),
            "p99": percentile(lateness, 99),
            "spread": max(abs(n - even) / even for n in by_daemon.values()) if count > 1 else 0.0,
            "shares": sorted(by_daemon.values(), reverse=True),
        }

    def _wait(self, daemons: list[Daemon], url: str | None, at: datetime) -> list[tuple]:  # type: ignore[type-arg]
        sql = "SELECT started_at, scheduled_time, daemon FROM runs WHERE started_at IS NOT NULL"
        deadline = time.monotonic() + self.lead + 120
        rows: list[tuple] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if url is None:
                conn = sqlite3.connect(daemons[0].database)
                rows = conn.execute(sql).fetchall()
                conn.close()
            else:
                import psycopg

                with psycopg.connect(url) as conn:
                    rows = conn.execute(sql).fetchall()
            if len(rows) >= self.clocks:
                return rows
        raise SystemExit(f"{self.setup}: {len(rows)} of {self.clocks} runs started")


def lateness_table(args: argparse.Namespace, server: object) -> None:
    print(
        f"# fire → process start (/bin/true), ms: median over {args.repeat} trials of each "
        "trial's p50 and p99; 3 daemons: the share furthest from even, and the shares"
    )
    print(
        f"{'clocks':>6} {'setup':<15} {'p50':>8} {'p99':>8} {'p50 / sqlite':>12} "
        f"{'p99 / sqlite':>12} {'spread':>7}  shares"
    )
    for clocks in args.clocks:
        results: dict[str, list[dict[str, object]]] = {setup: [] for setup in SETUPS}
        for _ in range(args.repeat):
            for setup in SETUPS:
                results[setup].append(Trial(setup, clocks, server, args.lead).run())
        base50 = statistics.median(float(r["p50"]) for r in results["sqlite ×1"])  # type: ignore[arg-type]
        base99 = statistics.median(float(r["p99"]) for r in results["sqlite ×1"])  # type: ignore[arg-type]
        for setup in SETUPS:
            trials = results[setup]
            p50 = statistics.median(float(r["p50"]) for r in trials)  # type: ignore[arg-type]
            p99 = statistics.median(float(r["p99"]) for r in trials)  # type: ignore[arg-type]
            spread = statistics.median(float(r["spread"]) for r in trials)  # type: ignore[arg-type]
            shares = " ".join(
                "/".join(str(s) for s in r["shares"])  # type: ignore[attr-defined]
                for r in trials
            )
            spread_text = (
                f"{spread * 100:>6.0f}%" if clocks >= 30 and setup.endswith("×3") else "      -"
            )
            print(
                f"{clocks:>6} {setup:<15} {ms(p50)} {ms(p99)} {p50 / base50:>12.2f} "
                f"{p99 / base99:>12.2f} {spread_text}  {shares}",
                flush=True,
            )


# -- claims alone ----------------------------------------------------------------------------


def _claimer(
    database: str, fires: int, share: float, at: datetime, barrier: object, out: object
) -> None:
    """One claimer process: its own store, the burst's fires from its share on, in the
    daemon's chunks; sends (claimed, began, ended) in perf_counter seconds."""
    from scheduler.scheduling.firing import FIRE_CHUNK, FIRST_FIRE_CHUNK
    from scheduler.storage import open_store
    from scheduler.storage.records import NewRun

    store = open_store(database)
    runs = [
        NewRun(
            job=f"j{index // 100}",
            clock=f"c{index}",
            trigger="clock",
            scheduled_time=at,
            parameters={},
            daemon="bench",
            owner="daemon:bench:1",
        )
        for index in range(fires)
    ]
    start = int(share * fires)
    runs = runs[start:] + runs[:start]
    barrier.wait()  # type: ignore[attr-defined]
    began = time.perf_counter()
    claimed, chunk, done = 0, FIRST_FIRE_CHUNK, 0
    while done < fires:
        batch = runs[done : done + chunk]
        ids = store.claim_fires(batch, {(r.job, r.clock): at for r in batch})
        claimed += sum(1 for run_id in ids if run_id is not None)
        done += len(batch)
        chunk = min(2 * chunk, FIRE_CHUNK)
    ended = time.perf_counter()
    store.close()
    out.send((claimed, began, ended))  # type: ignore[attr-defined]


def claim_trial(database: str, fires: int, claimers: int, at: datetime) -> dict[str, object]:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(claimers)
    pipes = [context.Pipe(duplex=False) for _ in range(claimers)]
    processes = [
        context.Process(
            target=_claimer, args=(database, fires, index / claimers, at, barrier, pipes[index][1])
        )
        for index in range(claimers)
    ]
    for process in processes:
        process.start()
    answers = [receiver.recv() for receiver, _ in pipes]
    for process in processes:
        process.join(60)
    began = min(answer[1] for answer in answers)
    ended = max(answer[2] for answer in answers)
    return {
        "rate": fires / (ended - began),
        "claimed": sorted((answer[0] for answer in answers), reverse=True),
    }


CLAIM_SETUPS = ("sqlite ×1", "postgresql ×1", "postgresql ×3", "postgresql, all taken")


def claims_table(args: argparse.Namespace, server: object) -> None:
    fires = args.claim_fires
    print(
        f"\n# claims alone: {fires:,} fires of one instant, chunks of 4, 8, 16, then 32; "
        f"median of {args.repeat} trials"
    )
    print(f"{'setup':<22} {'fires/s':>9} {'µs/fire':>8}  claimed by each")
    results: dict[str, list[dict[str, object]]] = {setup: [] for setup in CLAIM_SETUPS}
    for trial in range(args.repeat):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=trial)
        for setup in CLAIM_SETUPS:
            with tempfile.TemporaryDirectory() as folder:
                if setup.startswith("sqlite"):
                    database = str(Path(folder) / "clockd.db")
                else:
                    database = server.create_database()  # type: ignore[attr-defined]
                try:
                    if setup.endswith("all taken"):  # another daemon claimed them all first
                        claim_trial(database, fires, 1, at)
                    claimers = 3 if setup.endswith("×3") else 1
                    results[setup].append(claim_trial(database, fires, claimers, at))
                finally:
                    if not setup.startswith("sqlite"):
                        server.drop_database(database)  # type: ignore[attr-defined]
    for setup in CLAIM_SETUPS:
        rate = statistics.median(float(r["rate"]) for r in results[setup])  # type: ignore[arg-type]
        claimed = " ".join("/".join(str(n) for n in r["claimed"]) for r in results[setup])  # type: ignore[attr-defined]
        print(f"{setup:<22} {rate:>9,.0f} {1e6 / rate:>8.0f}  {claimed}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="an existing server's admin URL (else one is started)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lead", type=float, default=8.0)
    parser.add_argument("--clocks", type=int, nargs="*", default=[1, 100, 1000])
    parser.add_argument("--claim-fires", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.clocks, args.repeat, args.claim_fires = [1, 100], 1, 200
    server = _server(args.server)
    try:
        lateness_table(args, server)
        claims_table(args, server)
    finally:
        if hasattr(server, "stop"):
            server.stop()


class _Existing:
    """An existing server: databases made and dropped through its admin URL."""

    def __init__(self, url: str) -> None:
        self.admin = url
        self.count = 0

    def create_database(self) -> str:
        import psycopg

        self.count += 1
        name = f"clockd_bench_{self.count}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, url: str) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _server(url: str | None) -> object:
    if url is not None:
        return _Existing(url)
    from tests.pgserver import PostgresServer

    return PostgresServer.start(fast=False)


if __name__ == "__main__":
    main()
