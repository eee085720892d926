"""Two real daemons on one PostgreSQL database (spec 8): `overlap` holds across them, a
catch-up after both were down is done once, a third daemon with a live one's name is
refused, and a daemon whose jobs differ is warned about and counted in metrics."""

from __future__ import annotations

import itertools
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.daemon.cluster_helpers import Cluster
from tests.helpers import DaemonProcess, run_clockd, wait_until

httpx = pytest.importorskip("httpx")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

JOBS = """
[jobs.solo]
command = ["sh", "-c", "sleep 2.5"]
overlap = "skip"

[[jobs.solo.clocks]]
name = "every"
interval = "1s"

[jobs.caught]
command = ["true"]

[[jobs.caught.clocks]]
name = "every"
interval = "1s"
catchup = "all"
"""

EXTRA_ON_B = """
[jobs.only_on_b]
command = ["true"]
"""


def test_overlap_catch_up_names_and_config_digests_across_daemons(
    tmp_path: Path, postgres_url: str
) -> None:
    with Cluster(
        tmp_path, postgres_url, JOBS, names=("a", "b"), extra={"b": EXTRA_ON_B}
    ) as cluster:
        a, b = cluster.daemons["a"], cluster.daemons["b"]

        # A second live daemon named "a" is refused: one line, exit 1, the first goes on.
        twin_folder = tmp_path / "twin"
        twin_folder.mkdir()
        twin = DaemonProcess(twin_folder, a.config_path.read_text(), wait_ready=False)
        try:
            twin.start()
            assert twin.wait(30) == 1, twin.log()
            refusals = [line for line in twin.log().splitlines() if "another live daemon" in line]
            assert len(refusals) == 1, twin.log()
            assert "named 'a'" in refusals[0]
            assert "Traceback" not in twin.log()
        finally:
            twin.stop()
        assert not a.exited()

        # b loads another job: both see it in the listing, a warns once and counts it.
        def listed() -> list[tuple[str, str, bool]]:
            answer = httpx.get(f"{cluster.url_of('a')}/api/v1/daemons", timeout=10).json()
            return [(d["name"], d["state"], d["config_matches"]) for d in answer["daemons"]]

        assert listed() == [("a", "live", True), ("b", "live", False)]
        table = run_clockd("daemons", "-c", str(a.config_path), cwd=tmp_path)
        assert table.returncode == 0, table.stderr
        rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
        assert " live " in rows["a"]
        assert "(differs)" in rows["b"]
        assert "(differs)" not in rows["a"]
        wait_until(lambda: "daemon b runs another config" in a.log(), 15, "a's warning")
        wait_until(
            lambda: (
                "clockd_daemons_config_differs 1.0"
                in httpx.get(f"{cluster.url_of('a')}/metrics", timeout=10).text
            ),
            15,
            "the differing digest in a's metrics",
        )

        # overlap = "skip": never two runs of the clock at once, whichever daemon claimed.
        wait_until(
            lambda: (
                cluster.query("SELECT count(*) FROM runs WHERE job = 'solo' AND state = 'skipped'")[
                    0
                ][0]
                >= 3
            ),
            30,
            "skipped fires of solo",
        )

        # Both stop; fires come due meanwhile; both start again at once: each missed fire
        # is caught up once, by one of them.
        for daemon in (a, b):
            daemon.signal(signal.SIGTERM)
        for daemon in (a, b):
            assert daemon.wait(30) == 0, daemon.log()
        time.sleep(3)
        cluster.start_together("a", "b")
        wait_until(
            lambda: (
                cluster.query(
                    "SELECT count(*) FROM runs WHERE job = 'caught' AND trigger = 'catchup'"
                )[0][0]
                >= 2
            ),
            20,
            "catch-up runs",
        )
        (now,) = cluster.query("SELECT now()")[0]
        wait_until(
            lambda: cluster.query(
                "SELECT count(*) FROM runs WHERE job = 'caught' AND trigger = 'clock' "
                "AND scheduled_time > %s",
                (now + timedelta(seconds=1),),
            )[0][0],
            15,
            "fires after the restart",
        )

    fires = cluster.query(
        "SELECT scheduled_time, count(*) FROM runs WHERE job = 'caught' "
        "GROUP BY scheduled_time ORDER BY scheduled_time"
    )
    assert all(count == 1 for _, count in fires)
    times = [moment for moment, _ in fires]
    gaps = [
        (earlier, later)
        for earlier, later in itertools.pairwise(times)
        if later - earlier != timedelta(seconds=1)
    ]
    assert gaps == [], f"fires missing between {gaps}"

    solo = cluster.query(
        "SELECT started_at, ended_at, daemon FROM runs WHERE job = 'solo' "
        "AND started_at IS NOT NULL AND ended_at IS NOT NULL ORDER BY started_at"
    )
    assert len(solo) >= 2
    overlapping = [
        (first, second) for first, second in itertools.pairwise(solo) if second[0] < first[1]
    ]
    assert overlapping == []
