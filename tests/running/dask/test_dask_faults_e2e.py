"""Faults of runs on a Dask cluster (spec 9): a worker killed mid-run, the daemon killed
mid-run and restarted, the scheduler down at fire time. Each test gets a cluster of its
own where it kills parts of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import DaemonProcess, free_port, pid_alive, wait_until
from tests.running.dask.cluster import DaskCluster

pytestmark = pytest.mark.e2e

DAEMON = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
shutdown_grace = "2s"

[executors.cluster]
dask = "DASK"
connect_timeout = "1s"
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    cluster = DaskCluster(tmp_path)
    try:
        yield cluster.start(("w1", "w2"))
    finally:
        cluster.stop()


def api_of(daemon: DaemonProcess) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30)


def trigger(api: httpx.Client, job: str) -> int:
    response = api.post(f"/api/v1/jobs/{job}/runs", json={"parameters": {}})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def pid_from_log(api: httpx.Client, run_id: int) -> int:
    def pid() -> int | None:
        lines = api.get(f"/api/v1/runs/{run_id}/logs").json()["lines"]
        found = [line["text"] for line in lines if line["text"].startswith("pid ")]
        return int(found[0].split()[1]) if found else None

    return wait_until(pid, 30, f"the pid line of run {run_id}")


def final(api: httpx.Client, run_id: int, timeout: float = 30) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = api.get(f"/api/v1/runs/{run_id}").json()
        return None if run["state"] in ("pending", "running") else run

    return wait_until(ended, timeout, f"run {run_id} to end")


def test_a_worker_killed_mid_run_crashes_the_attempt_and_the_retry_runs_once(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    config = (
        DAEMON.replace("DASK", cluster.address)
        + f"""
[jobs.once]
executor = "cluster"
retries = 1
retry_delay = "0s"
command = ["sh", "-c", "echo $$ >> {starts}; echo pid $$; [ $(wc -l < {starts}) -gt 1 ] || exec sleep 60"]
"""
    )
    with DaemonProcess(tmp_path, config) as daemon, api_of(daemon) as api:
        run_id = trigger(api, "once")
        pid = pid_from_log(api, run_id)
        first = api.get(f"/api/v1/runs/{run_id}").json()["worker"]
        cluster.kill_worker(first)
        # The keeper takes the run's process group along with its worker.
        wait_until(lambda: not pid_alive(pid), 5, f"process {pid} of the dead worker to go")
        run = final(api, run_id)
        lines = [line["text"] for line in api.get(f"/api/v1/runs/{run_id}/logs").json()["lines"]]
    assert (run["state"], run["attempt"]) == ("succeeded", 2), lines
    assert run["worker"] == ({"w1", "w2"} - {first}).pop()
    # Attempt 1 and attempt 2 started: Dask's own re-run of attempt 1 refused to start.
    assert len(starts.read_text().split()) == 2
    assert any("attempt 1 of 2 crashed" in line for line in lines), lines


def test_a_killed_daemon_leaves_no_process_and_its_restart_marks_the_run_crashed(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    config = (
        DAEMON.replace("DASK", cluster.address)
        + """
[jobs.sleeper]
executor = "cluster"
command = ["sh", "-c", "echo pid $$; exec sleep 60"]
"""
    )
    daemon = DaemonProcess(tmp_path, config)
    with daemon, api_of(daemon) as api:
        run_id = trigger(api, "sleeper")
        pid = pid_from_log(api, run_id)
        assert api.get(f"/api/v1/runs/{run_id}").json()["state"] == "running"
        daemon.kill()  # SIGKILL: no chance to stop its runs
        # Nobody watches the run any more: its worker kills it (the daemon's client was its lease).
        wait_until(lambda: not pid_alive(pid), 10, f"process {pid} to go after the daemon died")
        daemon.start()
        with api_of(daemon) as again:
            run = again.get(f"/api/v1/runs/{run_id}").json()
    assert run["state"] == "crashed"
    assert run["worker"] in ("w1", "w2")


def test_the_scheduler_down_at_fire_time_fails_the_run_and_other_jobs_keep_firing(
    tmp_path: Path,
) -> None:
    config = (
        DAEMON.replace("DASK", f"tcp://127.0.0.1:{free_port()}")
        + """
[jobs.remote]
executor = "cluster"
command = ["true"]

[[jobs.remote.clocks]]
interval = "1s"

[jobs.here]
command = ["true"]

[[jobs.here.clocks]]
interval = "1s"
"""
    )
    with DaemonProcess(tmp_path, config) as daemon:
        failed = wait_until(
            lambda: daemon.runs("job = 'remote' AND state = 'failed'"), 20, "a failed remote run"
        )
        first_failure = failed[0]["ended_at"]
        wait_until(
            lambda: daemon.runs(
                "job = 'here' AND state = 'succeeded' AND ended_at > ?", (first_failure,)
            ),
            10,
            "a local run after the remote failure",
        )
    error = failed[0]["error"]
    assert error.startswith(
        "executor 'cluster': cannot reach the Dask scheduler at tcp://127.0.0.1:"
    )
    assert "within 1s" in error


def test_a_scheduler_without_clockd_fails_the_run_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    # The Dask scheduler unpickles every task, clockd's included: it needs clockd installed.
    cluster = DaskCluster(tmp_path)
    try:
        cluster.start_scheduler(without_clockd=True)
        cluster.add_worker("w1")
        config = (
            DAEMON.replace("DASK", cluster.address)
            + """
[jobs.remote]
executor = "cluster"
command = ["true"]
"""
        )
        with DaemonProcess(tmp_path, config) as daemon, api_of(daemon) as api:
            run = final(api, trigger(api, "remote"))
    finally:
        cluster.stop()
    assert run["state"] == "failed"
    assert run["error"].startswith(
        f"executor 'cluster': the Dask scheduler at {cluster.address} cannot load clockd's "
        "scheduler plugin ("
    ), run["error"]
    assert run["error"].endswith("; is clockd installed beside the scheduler?")
    assert run["worker"] is None
