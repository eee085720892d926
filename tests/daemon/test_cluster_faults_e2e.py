"""The database going away silently is a fault, not a crash (spec 7, 8): packets to the real
PostgreSQL server's port are dropped with iptables (no reset: what a cable pulled or a
firewall looks like), while two daemons run and while one starts.

Needs root and iptables (`.ci/run` installs it); skipped loudly otherwise, unless
CLOCKD_REQUIRE_POSTGRES=1 makes that a failure.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from tests.daemon.cluster_helpers import Cluster
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

JOBS = """
[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "every"
interval = "1s"
"""


def _iptables_usable() -> str | None:
    if shutil.which("iptables") is None:
        return "iptables is not installed (apt-get install iptables)"
    if os.geteuid() != 0:
        return "dropping packets needs root"
    probe = subprocess.run(["iptables", "-L", "-n"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"iptables does not work here: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture
def cut():  # type: ignore[no-untyped-def]
    """`with cut(port):` drops every packet to and from the server's port meanwhile."""
    reason = _iptables_usable()
    if reason is not None:
        if os.environ.get("CLOCKD_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CLOCKD_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(f"NETWORK CUT TESTS SKIPPED: {reason}")
    rules: list[list[str]] = []

    @contextmanager
    def dropping(port: int) -> Iterator[None]:
        added = [
            ["INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"],
            ["INPUT", "-p", "tcp", "--sport", str(port), "-j", "DROP"],
        ]
        for rule in added:
            subprocess.run(["iptables", "-I", *rule], check=True)
            rules.append(rule)
        try:
            yield
        finally:
            for rule in added:
                subprocess.run(["iptables", "-D", *rule], check=False)
                rules.remove(rule)

    yield dropping
    for rule in rules:  # a test that failed inside the block
        subprocess.run(["iptables", "-D", *rule], check=False)


def test_a_silent_cut_loses_no_fire_and_stops_no_daemon(
    tmp_path: Path, postgres_server, postgres_url: str, cut
) -> None:  # type: ignore[no-untyped-def]
    with Cluster(tmp_path, postgres_url, JOBS, names=("a", "b")) as cluster:
        count = "SELECT count(*) FROM runs WHERE job = 'tick'"
        wait_until(lambda: cluster.query(count)[0][0] >= 3, 20, "fires before the cut")
        with cut(postgres_server.port):
            # Longer than daemon_timeout (3s): heartbeats fail, no run starts, fires wait.
            wait_until(
                lambda: all("runs stop starting" in d.log() for d in cluster.daemons.values()),
                20,
                "both daemons noticing the cut",
            )
            time.sleep(4)  # the fault itself: the cut lasts past daemon_timeout
        (back,) = cluster.query("SELECT now()")[0]
        wait_until(
            lambda: cluster.query(
                "SELECT count(*) FROM runs WHERE job = 'tick' AND state = 'succeeded' "
                "AND scheduled_time > %s",
                (back + timedelta(seconds=3),),
            )[0][0],
            30,
            "fires running again after the cut",
        )
        for daemon in cluster.daemons.values():
            assert not daemon.exited(), daemon.log()
            assert "took it over" not in daemon.log()  # both were cut: neither is dead
        fires = cluster.query(
            "SELECT scheduled_time, count(*) FROM runs WHERE job = 'tick' "
            "GROUP BY scheduled_time ORDER BY scheduled_time"
        )
        assert all(number == 1 for _, number in fires)
        times = [moment for moment, _ in fires]
        gaps = [
            (earlier, later)
            for earlier, later in itertools.pairwise(times)
            if later - earlier != timedelta(seconds=1)
        ]
        assert gaps == [], f"fires missing between {gaps}"
        assert len(times) >= 12
        states = dict(cluster.query("SELECT state, count(*) FROM runs GROUP BY state"))
        wait_until(
            lambda: (
                not cluster.query(
                    "SELECT 1 FROM runs WHERE state IN ('pending', 'running') "
                    "AND scheduled_time < now() - interval '3 seconds'"
                )
            ),
            15,
            f"no run left behind (states {states})",
        )


def test_a_daemon_started_while_the_database_is_unreachable_is_ready_once_connected(
    tmp_path: Path, postgres_server, postgres_url: str, cut
) -> None:  # type: ignore[no-untyped-def]
    cluster = Cluster(tmp_path, postgres_url, JOBS, names=("a",), wait_ready=False)
    daemon = cluster.daemons["a"]
    try:
        with cut(postgres_server.port):
            cluster.start()
            wait_until(lambda: "waiting for the database" in daemon.log(), 20, "the daemon waiting")
            assert not daemon.exited(), daemon.log()
            assert daemon.notify is not None
            assert daemon.notify.having("READY") == []
            assert daemon.notify.having("STATUS", "waiting for the database")
        wait_until(lambda: daemon.notify.having("READY", "1"), 30, "READY=1 once connected")  # type: ignore[union-attr]
        wait_until(lambda: cluster.query("SELECT count(*) FROM runs")[0][0] >= 2, 15, "fires")
    finally:
        cluster.stop()
