"""Runs on a real Dask cluster through a real `clockd serve` (spec 9).

One scheduler with two workers ("w1", "w2") and one daemon serve the whole module: the
daemon logs in JSON, so the last test also checks that importing `distributed` left that
format intact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import ROOT, DaemonProcess, pid_alive, wait_until
from tests.running.dask.cluster import DaskCluster
from tests.running.dask.conftest import WORKER_SECRET

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "config" / "examples"

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
log_format = "json"
shutdown_grace = "2s"
max_log_bytes = "4KB"

[executors.cluster]
dask = "DASK"

[executors.capped]
dask = "DASK"
max_concurrent_runs = 1

[jobs.pair]
executor = "cluster"
command = ["sh", "-c", "echo x=$CLOCKD_PARAM_X; sleep 2"]

[jobs.pair.parameters.x]
type = "integer"

[[jobs.pair.clocks]]
name = "small"
at = ["AT"]
parameters = { x = 9 }

[[jobs.pair.clocks]]
name = "large"
at = ["AT"]
parameters = { x = 99 }

[jobs.talk]
executor = "cluster"
command = ["sh", "-c", "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.3; done"]

[jobs.sleeper]
executor = "cluster"
command = ["sh", "-c", "echo pid $$; exec sleep 60"]

[jobs.secret]
executor = "cluster"
command = ["sh", "-c", "echo token=$CLOCKD_PARAM_TOKEN; test \\"$CLOCKD_PARAM_TOKEN\\" = SECRETVALUE"]

[jobs.secret.parameters.token]
type = "string"
secret = true
default = "env:CLOCKD_WORKER_SECRET"

[jobs.slow]
executor = "cluster"
command = ["sleep", "30"]
timeout = "1s"

[jobs.failing]
executor = "cluster"
command = ["sh", "-c", "echo failing on purpose >&2; exit 3"]
on_failure = ["echo", "hook on the daemon saw {{ error }}"]

[jobs.parent]
executor = "cluster"
target = "parent_child:parent"
workdir = "EXAMPLES"
timeout = "1m"

[jobs.parent.parameters.n]
type = "integer"
default = 2

[jobs.child]
target = "parent_child:child"
workdir = "EXAMPLES"

[jobs.child.parameters.n]
type = "integer"

[jobs.child.parameters.label]
type = "string"
default = "child"

[jobs.gpu]
executor = "cluster"
resources = { GPU = 1 }
command = ["sh", "-c", "echo on a GPU; sleep 0.5"]
timeout = "2s"

[jobs.gpu_mark]
executor = "cluster"
resources = { GPU = 1 }
command = ["sh", "-c", "echo $CLOCKD_RUN_ID >> GPU_MARKS"]

[jobs.capped]
executor = "capped"
command = ["sleep", "3"]

[jobs.chatty]
executor = "cluster"
command = ["python3", "-c", "for i in range(20000): print(f'{i:09d}')"]
"""


@pytest.fixture(scope="module")
def daemon(
    dask_cluster: DaskCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    folder = tmp_path_factory.mktemp("daemon")
    text = (
        CONFIG.replace("DASK", dask_cluster.address)
        .replace("AT", at.strftime("%Y-%m-%dT%H:%M:%S"))
        .replace("EXAMPLES", str(EXAMPLES))
        .replace("SECRETVALUE", WORKER_SECRET)
        .replace("GPU_MARKS", str(folder / "gpu-marks"))
    )
    with DaemonProcess(folder, text) as process:
        process.at = at  # type: ignore[attr-defined]
        yield process


@pytest.fixture
def api(daemon: DaemonProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
        yield client


def trigger(api: httpx.Client, job: str, parameters: dict[str, Any] | None = None) -> int:
    response = api.post(f"/api/v1/jobs/{job}/runs", json={"parameters": parameters or {}})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def run_of(api: httpx.Client, run_id: int) -> dict[str, Any]:
    return api.get(f"/api/v1/runs/{run_id}").json()  # type: ignore[no-any-return]


def final(api: httpx.Client, run_id: int, timeout: float = 30) -> dict[str, Any]:
    return wait_until(
        lambda: (run := run_of(api, run_id))["state"] not in ("pending", "running") and run,
        timeout,
        f"run {run_id} to end",
    )


def log_texts(api: httpx.Client, run_id: int) -> list[str]:
    lines = api.get(f"/api/v1/runs/{run_id}/logs").json()["lines"]
    return [line["text"] for line in lines]


def test_two_clocks_at_one_instant_run_on_the_two_workers(
    api: httpx.Client, daemon: DaemonProcess
) -> None:
    def both_ended() -> list[dict[str, Any]]:
        runs = api.get("/api/v1/runs", params={"job": "pair"}).json()["runs"]
        done = [r for r in runs if r["state"] == "succeeded"]
        return done if len(done) == 2 else []

    runs = wait_until(both_ended, 40, "the two fires of job pair to succeed")
    by_clock = {run["clock"]: run for run in runs}
    assert by_clock["small"]["scheduled_time"] == by_clock["large"]["scheduled_time"]
    assert by_clock["small"]["scheduled_time"] == daemon.at.isoformat()  # type: ignore[attr-defined]
    assert {by_clock["small"]["worker"], by_clock["large"]["worker"]} == {"w1", "w2"}
    assert "x=9" in log_texts(api, by_clock["small"]["id"])
    assert "x=99" in log_texts(api, by_clock["large"]["id"])


def test_log_lines_follow_live_over_sse(api: httpx.Client) -> None:
    run_id = trigger(api, "talk")
    seen: list[tuple[str, Any]] = []
    state_at_first_line = None
    with api.stream("GET", f"/api/v1/runs/{run_id}/logs", params={"follow": "true"}) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                seen.append((event, data))
                if event == "line" and state_at_first_line is None:
                    state_at_first_line = run_of(api, run_id)["state"]
    texts = [data["text"] for kind, data in seen if kind == "line"]
    assert texts == [f"line {i}" for i in range(1, 7)]
    # The first line reached the follower while the run was still going on the worker.
    assert state_at_first_line == "running"
    assert seen[-1][0] == "end"
    assert seen[-1][1]["state"] == "succeeded"


def test_cancel_kills_the_remote_process_group(api: httpx.Client) -> None:
    run_id = trigger(api, "sleeper")
    pid_line = wait_until(
        lambda: [t for t in log_texts(api, run_id) if t.startswith("pid ")], 20, "the pid line"
    )
    pid = int(pid_line[0].split()[1])
    assert pid_alive(pid)
    assert run_of(api, run_id)["worker"] in ("w1", "w2")
    assert api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    wait_until(lambda: not pid_alive(pid), 1.5, f"process {pid} on the worker to be killed")
    run = final(api, run_id)
    assert run["state"] == "cancelled"
    assert run["exit_code"] == -15  # SIGTERM reached the group


def test_secrets_are_resolved_on_the_worker_and_masked_there(api: httpx.Client) -> None:
    # CLOCKD_WORKER_SECRET is in the workers' environment only, not the daemon's.
    run = final(api, trigger(api, "secret"))
    assert run["state"] == "succeeded", run
    assert "token=***" in log_texts(api, run["id"])
    assert run["parameters"] == {"token": "***"}


def test_timeout_kills_the_run_on_the_worker(api: httpx.Client) -> None:
    run = final(api, trigger(api, "slow"))
    assert run["state"] == "timed_out"
    assert run["error"] == "timed out after 0:00:01"
    assert "[clockd: timed out after 0:00:01; killing the run]" in log_texts(api, run["id"])


def test_a_log_past_the_cap_keeps_its_first_and_last_lines_with_one_marker(
    api: httpx.Client,
) -> None:
    # 20,000 lines of 10 bytes through max_log_bytes = 4 KiB: 2,048 bytes of head (204
    # lines), a marker, and 2,048 bytes of tail, capped on the worker (nothing more travels)
    run = final(api, trigger(api, "chatty"))
    assert run["state"] == "succeeded"
    texts = log_texts(api, run["id"])
    assert texts[:204] == [f"{i:09d}" for i in range(204)]
    assert texts[204] == f"[clockd: … {200000 - 204 * 10 - 204 * 10} bytes dropped …]"
    assert texts[205:] == [f"{i:09d}" for i in range(20000 - 204, 20000)]


def test_exit_code_and_the_failure_hook_on_the_daemon(api: httpx.Client) -> None:
    run = final(api, trigger(api, "failing"))
    assert (run["state"], run["exit_code"], run["error"]) == ("failed", 3, "exit code 3")
    texts = wait_until(
        lambda: [t for t in log_texts(api, run["id"]) if "hook on the daemon" in t],
        10,
        "the hook's line",
    )
    assert texts == ["on_failure: hook on the daemon saw exit code 3"]
    assert "failing on purpose" in log_texts(api, run["id"])


def test_a_python_target_on_a_worker_starts_a_child_run_through_public_url(
    api: httpx.Client,
) -> None:
    parent = final(api, trigger(api, "parent", {"n": 2}), 60)
    assert parent["state"] == "succeeded", log_texts(api, parent["id"])
    assert parent["worker"] in ("w1", "w2")
    child_id = parent["result"]["child"]
    child = run_of(api, child_id)
    assert (child["parent_id"], child["trigger"], child["state"]) == (
        parent["id"],
        "child",
        "succeeded",
    )
    assert child["worker"] is None  # the child job runs on the daemon's machine
    assert "child says 2/2" in log_texts(api, parent["id"])


def test_a_job_waits_pending_until_a_worker_with_its_resources_joins(
    api: httpx.Client, dask_cluster: DaskCluster
) -> None:
    run_id = trigger(api, "gpu")
    # Longer than its 2 s timeout: the timeout starts with its process, not while waiting.
    with pytest.raises(AssertionError):
        wait_until(lambda: run_of(api, run_id)["state"] != "pending", 3, "a change")
    dask_cluster.add_worker("gpu", resources="GPU=1")
    try:
        run = final(api, run_id)
    finally:
        dask_cluster.stop_worker("gpu")
    assert (run["state"], run["worker"]) == ("succeeded", "gpu")
    assert "on a GPU" in log_texts(api, run_id)


def test_an_executor_cap_keeps_its_further_runs_pending(api: httpx.Client) -> None:
    first, second = trigger(api, "capped"), trigger(api, "capped")
    wait_until(lambda: run_of(api, first)["state"] == "running", 20, "the first to run")
    assert run_of(api, second)["state"] == "pending"
    assert final(api, first)["state"] == "succeeded"
    assert final(api, second)["state"] == "succeeded"


def test_the_daemon_log_stays_json_with_distributed_loaded(daemon: DaemonProcess) -> None:
    lines = [line for line in daemon.log().splitlines() if line.strip()]
    assert any("connected to the Dask scheduler" in line for line in lines)
    for line in lines:
        entry = json.loads(line)  # every line, distributed's included
        assert set(entry) >= {"time", "level", "logger", "message"}
    assert not [line for line in lines if re.search(r"distributed\.\w+ - INFO", line)]


def test_show_runs_and_the_ui_name_the_worker(daemon: DaemonProcess, api: httpx.Client) -> None:
    from tests.helpers import run_clockd

    run = final(api, trigger(api, "talk"))
    config = str(daemon.config_path)
    shown = run_clockd("show", str(run["id"]), "-c", config, cwd=Path(daemon.tmp))
    assert re.search(rf"^worker\s+{run['worker']}$", shown.stdout, re.MULTILINE), shown.stdout
    listed = run_clockd("runs", "--job", "talk", "--limit", "1", "-c", config, cwd=Path(daemon.tmp))
    assert f"worker {run['worker']}" in listed.stdout.splitlines()[2], listed.stdout
    wide = run_clockd(
        "runs", "--wide", "--job", "talk", "--limit", "1", "-c", config, cwd=Path(daemon.tmp)
    )
    header, row = wide.stdout.splitlines()[:2]
    column = header.split().index("WORKER")
    assert row.split()[column] == run["worker"], wide.stdout
    page = api.get(f"/runs/{run['id']}").text
    assert f'<dd id="run-worker">{run["worker"]}</dd>' in page


def test_clockd_run_submits_a_dask_job_to_the_cluster(
    daemon: DaemonProcess, api: httpx.Client
) -> None:
    from tests.helpers import run_clockd

    done = run_clockd("run", "talk", "-c", str(daemon.config_path), cwd=Path(daemon.tmp))
    assert done.returncode == 0, done.stderr
    # Its lines reach this terminal as they come from the worker.
    assert [line.split(" ", 1)[1] for line in done.stdout.splitlines()] == [
        f"line {i}" for i in range(1, 7)
    ]
    found = re.search(r"clockd: run (\d+) succeeded", done.stderr)
    assert found, done.stderr
    run = run_of(api, int(found.group(1)))
    assert (run["trigger"], run["state"]) == ("manual", "succeeded")
    assert run["worker"] in ("w1", "w2")


def test_a_run_starts_when_its_worker_says_so_not_when_the_daemon_hears_it(
    api: httpx.Client,
) -> None:
    # The start travels with the run's first lines or its outcome; started_at is the
    # worker's moment of the spawn, within the time between submission and the news.
    run = final(api, trigger(api, "talk"))
    created = datetime.fromisoformat(run["created_at"])
    started = datetime.fromisoformat(run["started_at"])
    first_line = datetime.fromisoformat(
        api.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"][0]["time"]
    )
    assert created <= started <= first_line


def uncommented_dask_example(text: str, address: str) -> str:
    """config/demo.toml with its commented Dask example switched on, for `address`: the TOML
    lines after "# [executors.cluster]" ("# " then text, not "#   " of the prose) and
    `public_url`."""
    lines, inside = [], False
    for line in text.splitlines():
        inside = inside or line == "# [executors.cluster]"
        if (inside or line.startswith("# public_url")) and re.match(r"# \S", line):
            line = line[2:]
        lines.append(line.replace("tcp://127.0.0.1:8786", address))
    return "\n".join(lines) + "\n"


def test_the_demo_configs_commented_dask_example_runs_on_a_cluster(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    from tests.helpers import run_clockd

    demo = (ROOT / "config" / "demo.toml").read_text()
    assert "# [executors.cluster]" in demo
    folder = tmp_path / "config"  # the demo's database is ../demo-state/clockd.db
    folder.mkdir()
    (folder / "demo.toml").write_text(uncommented_dask_example(demo, dask_cluster.address))
    checked = run_clockd("check", "-c", "demo.toml", cwd=folder)
    assert checked.returncode == 0, checked.stderr
    assert "warning" not in checked.stderr  # public_url is set with it
    job_table = re.compile(r"^\[jobs\.([\w-]+)\]$", re.MULTILINE)
    (job,) = set(job_table.findall((folder / "demo.toml").read_text())) - set(
        job_table.findall(demo)
    )  # the example's one job
    done = run_clockd("run", job, "-c", "demo.toml", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert re.search(r"clockd: run \d+ succeeded", done.stderr), done.stderr
    shown = run_clockd("runs", "-c", "demo.toml", cwd=folder)
    assert re.search(rf"\b{job}\b.*\bsucceeded\b.*\n +worker w[12]\n", shown.stdout), shown.stdout


def test_cancelling_a_run_that_waits_for_resources_drops_its_task(
    api: httpx.Client, dask_cluster: DaskCluster, daemon: DaemonProcess
) -> None:
    run_id = trigger(api, "gpu_mark")  # no worker has GPU: it waits, pending
    wait_until(lambda: run_of(api, run_id)["state"] == "pending", 10, "the run to wait")
    assert api.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    run = final(api, run_id, 10)
    assert (run["state"], run["error"], run["worker"], run["started_at"]) == (
        "cancelled",
        "cancelled",
        None,
        None,
    )
    # Its task is gone from the cluster: a worker with a GPU that joins runs the next only.
    dask_cluster.add_worker("gpu2", resources="GPU=1")
    try:
        later = final(api, trigger(api, "gpu_mark"))
    finally:
        dask_cluster.stop_worker("gpu2")
    assert (later["state"], later["worker"]) == ("succeeded", "gpu2")
    assert (daemon.tmp / "gpu-marks").read_text().split() == [str(later["id"])]
