"""Two real daemons on one PostgreSQL database, used through each other's API (spec 8): a run
created through one is seen, cancelled and followed through the other; a pause through one
holds in both; a job with `max_active_runs = 1` keeps its runs in one daemon's queue."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.daemon.cluster_helpers import Cluster
from tests.helpers import run_clockd, wait_until

httpx = pytest.importorskip("httpx")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

JOBS = """
[jobs.long]
command = ["sh", "-c", "echo started; sleep 60"]

[jobs.chatty]
command = ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done"]

[jobs.serial]
command = ["sh", "-c", "sleep 1"]
max_active_runs = 1

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "every"
interval = "1s"
"""


def _run(base: str, job: str) -> dict:  # type: ignore[type-arg]
    answer = httpx.post(f"{base}/api/v1/jobs/{job}/runs", json={"parameters": {}}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _get(base: str, run_id: int) -> dict:  # type: ignore[type-arg]
    answer = httpx.get(f"{base}/api/v1/runs/{run_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_runs_of_one_daemon_are_seen_cancelled_and_followed_through_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    with Cluster(tmp_path, postgres_url, JOBS, names=("a", "b")) as cluster:
        a, b = cluster.url_of("a"), cluster.url_of("b")

        # Both daemons are listed, live, with the same config digest, through either API.
        listed = httpx.get(f"{b}/api/v1/daemons", timeout=10).json()["daemons"]
        assert [(d["name"], d["state"], d["config_matches"]) for d in listed] == [
            ("a", "live", True),
            ("b", "live", True),
        ]
        cli = run_clockd(
            "daemons", "--json", "-c", str(cluster.daemons["a"].config_path), cwd=tmp_path
        )
        assert cli.returncode == 0, cli.stderr
        assert [d["name"] for d in json.loads(cli.stdout)] == ["a", "b"]

        # A run created through a runs on a; b sees it and cancels it.
        long_run = _run(a, "long")
        assert long_run["daemon"] == "a"
        wait_until(lambda: _get(b, long_run["id"])["state"] == "running", 15, "running, seen on b")
        cancelled = httpx.post(f"{b}/api/v1/runs/{long_run['id']}/cancel", json={}, timeout=30)
        assert cancelled.status_code == 200, cancelled.text
        wait_until(lambda: _get(a, long_run["id"])["state"] == "cancelled", 15, "cancelled on a")

        # b follows the log of a run on a, to its end.
        chatty = _run(a, "chatty")
        lines, end = [], None
        with httpx.stream(
            "GET", f"{b}/api/v1/runs/{chatty['id']}/logs?follow=true", timeout=30
        ) as stream:
            event = None
            for raw in stream.iter_lines():
                if raw.startswith("event: "):
                    event = raw[len("event: ") :]
                elif raw.startswith("data: ") and event == "line":
                    lines.append(json.loads(raw[len("data: ") :])["text"])
                elif raw.startswith("data: ") and event == "end":
                    end = json.loads(raw[len("data: ") :])
                    break
        assert lines == [f"line {i}" for i in range(1, 6)]
        assert end is not None
        assert end["state"] == "succeeded"

        # max_active_runs = 1 across daemons: the run asked through b joins a's queue.
        first, second = _run(a, "serial"), _run(b, "serial")
        assert (first["daemon"], second["daemon"]) == ("a", "a")
        wait_until(lambda: _get(b, second["id"])["state"] == "succeeded", 20, "both serial runs")
        done_first, done_second = _get(b, first["id"]), _get(b, second["id"])
        assert done_second["started_at"] >= done_first["ended_at"]

        # A pause through b stops the clock in both daemons; resume starts it again.
        paused = httpx.post(f"{b}/api/v1/jobs/tick/clocks/every/pause", json={}, timeout=10)
        assert paused.status_code == 200, paused.text

        def fires() -> int:
            return int(cluster.query("SELECT count(*) FROM runs WHERE job = 'tick'")[0][0])

        at_pause = fires()
        time.sleep(3)
        assert fires() <= at_pause + 1  # at most a claim already under way
        assert httpx.post(
            f"{a}/api/v1/jobs/tick/clocks/every/resume", json={}, timeout=10
        ).is_success
        after_resume = fires()
        wait_until(lambda: fires() >= after_resume + 2, 10, "fires again after resume")
