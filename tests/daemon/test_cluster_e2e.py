"""Three real `clockd serve` with the same jobs on one real PostgreSQL database (spec 8).

For about a minute, clocks every second: one daemon is killed with SIGKILL twice and
started again, and the server is restarted once. Then the history must show every fire
exactly once, the crashed runs retried per their job's `retries`, nothing left pending or
running, and no run's process left behind.
"""

from __future__ import annotations

import itertools
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.daemon.cluster_helpers import Cluster, kill_daemon_only, processes_with
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

MARKER = "clockd-cluster-e2e"
JOBS = f"""
[jobs.tick]
command = ["sh", "-c", "sleep 0.2", "{MARKER}"]
retries = 1
retry_delay = "1s"

[[jobs.tick.clocks]]
name = "every"
interval = "1s"

[jobs.slow]
command = ["sh", "-c", "sleep 1.5", "{MARKER}"]
retries = 3
retry_delay = "1s"

[[jobs.slow.clocks]]
name = "every"
interval = "1s"
"""


def _fires(cluster: Cluster, job: str) -> list[tuple[object, int]]:
    return cluster.query(
        "SELECT scheduled_time, count(*) FROM runs WHERE job = %s AND trigger IN "
        "('clock', 'catchup') GROUP BY scheduled_time ORDER BY scheduled_time",
        (job,),
    )


def _runs_of(cluster: Cluster, name: str) -> int:
    return int(cluster.query("SELECT count(*) FROM runs WHERE daemon = %s", (name,))[0][0])


def test_three_daemons_fire_every_fire_once_through_kills_and_a_server_restart(
    tmp_path: Path, postgres_server, postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    with Cluster(tmp_path, postgres_url, JOBS) as cluster:
        began = time.monotonic()
        a, b, c = (cluster.daemons[name] for name in "abc")
        wait_until(lambda: all(_runs_of(cluster, n) >= 3 for n in "abc"), 30, "runs on all three")

        # b dies hard while it runs runs; a and c take its runs over once it is silent for 3s.
        wait_until(
            lambda: cluster.query(
                "SELECT count(*) FROM runs WHERE daemon = 'b' AND state = 'running'"
            )[0][0],
            20,
            "a run running on b",
        )
        kill_daemon_only(b)
        wait_until(
            lambda: (
                cluster.query(
                    "SELECT count(*) FROM runs WHERE state = 'crashed' "
                    "OR error LIKE 'its daemon b died%%'"
                )[0][0]
                or cluster.query("SELECT count(*) FROM run_logs WHERE text LIKE '%%retrying on%%'")[
                    0
                ][0]
            ),
            20,
            "b's runs taken over",
        )
        b.start()  # the same name again: the dead instance was taken over

        # b dies again and comes back at once, before anyone declared it dead: it handles its
        # own name's leftovers itself.
        def running_on_b() -> int:
            return int(
                cluster.query("SELECT count(*) FROM runs WHERE daemon = 'b' AND state = 'running'")[
                    0
                ][0]
            )

        wait_until(running_on_b, 20, "a run running on b's second instance")
        kill_daemon_only(b)
        b.start()
        wait_until(
            lambda: "runs left unfinished by a dead owner marked crashed" in b.log(),
            20,
            "b's third instance crashing what its second left",
        )

        postgres_server.restart()
        # The daemons reconnect, write what waited, and go on, for about a minute in all.
        time.sleep(max(began + 58 - time.monotonic(), 12))
        for daemon in (a, b, c):
            assert not daemon.exited(), daemon.log()

        for daemon in (a, b, c):
            daemon.signal(signal.SIGTERM)
        for daemon in (a, b, c):
            assert daemon.wait(30) == 0, daemon.log()

        # Every fire exactly once, with no gap: every second from the first to the last.
        for job in ("tick", "slow"):
            fires = _fires(cluster, job)
            assert all(count == 1 for _, count in fires)
            times = [moment for moment, _ in fires]
            assert len(times) >= 50
            gaps = [
                (earlier, later)
                for earlier, later in itertools.pairwise(times)
                if later - earlier != timedelta(seconds=1)
            ]
            assert gaps == [], f"{job}: fires missing between {gaps}"

        # Nothing left pending or running; every crashed run used up its retries.
        states = dict(cluster.query("SELECT state, count(*) FROM runs GROUP BY state"))
        assert states.get("pending", 0) == 0
        assert states.get("running", 0) == 0
        exhausted = cluster.query(
            "SELECT r.id, r.job, r.attempt FROM runs r WHERE r.state = 'crashed' AND "
            "r.attempt < CASE r.job WHEN 'tick' THEN 2 ELSE 4 END"
        )
        assert exhausted == []
        retried = cluster.query(
            "SELECT r.id, r.state, r.daemon FROM runs r JOIN run_logs l ON l.run_id = r.id "
            "WHERE l.text LIKE '%%retrying on%%'"
        )
        assert retried, "no crashed run was retried"
        assert {state for _, state, _ in retried} <= {"succeeded"}
        assert all(_runs_of(cluster, name) > 0 for name in "abc")

        # No run's process outlives the test (b's killed instances' runs ended by themselves).
        wait_until(lambda: not processes_with(MARKER), 15, "no process of a run left")
