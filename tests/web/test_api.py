"""The HTTP API (spec 5) of a real `clockd serve` on 127.0.0.1, with and without a token."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProcess, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
max_parameters_bytes = 65536
shutdown_grace = "2s"
{extra}

[jobs.echo]
description = "Print three lines"
command = ["sh", "-c", "for i in 1 2 3; do echo \\"line $i $0 n=$1\\"; sleep 0.3; done", "{{ word }}", "{{ n }}"]

[jobs.echo.parameters.word]
type = "string"
default = "hi"
maxLength = 60000

[jobs.echo.parameters.n]
type = "integer"
minimum = 0
maximum = 10

[jobs.echo.parameters.day]
type = "date"
default = "{{ scheduled_time.to_date_string() }}"

[jobs.echo.parameters.tags]
type = "array"
items = { type = "string" }
default = []

[[jobs.echo.clocks]]
name = "hourly"
cron = "0 * * * *"
parameters = { n = 1 }

[[jobs.echo.clocks]]
name = "dates"
at = ["2026-01-01T06:00:00", "2026-01-02T06:00:00", "2026-01-05T06:00:00"]
parameters = { n = 2 }
catchup = "none"

[jobs.sleepy]
command = ["sleep", "30"]

[jobs.fail]
command = ["sh", "-c", "echo oops >&2; exit 3"]

[jobs.probe]
description = "Uses its child token against the API and prints what each call answered"
command = ["{python}", "{probe}"]
"""

PROBE = """
import json, os, urllib.request, urllib.error
url, token = os.environ["CLOCKD_API_URL"], os.environ.get("CLOCKD_TOKEN", "")
def call(method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
status, child = call("POST", "/api/v1/jobs/echo/runs", {"parameters": {"n": 1}, "parent_id": int(os.environ["CLOCKD_RUN_ID"])})
print("create", status, child.get("parent_id"), child.get("trigger"))
print("get-child", call("GET", f"/api/v1/runs/{child['id']}")[0])
print("logs-child", call("GET", f"/api/v1/runs/{child['id']}/logs")[0])
print("list-jobs", call("GET", "/api/v1/jobs")[0])
print("cancel", call("POST", f"/api/v1/runs/{child['id']}/cancel")[0])
print("get-other", call("GET", "/api/v1/runs/1")[0])
"""


def start_daemon(tmp: Path, extra: str = "") -> DaemonProcess:
    probe = tmp / "probe.py"
    probe.write_text(PROBE)
    text = (
        CONFIG.replace("{extra}", extra)
        .replace("{python}", sys.executable)
        .replace("{probe}", str(probe))
    )
    daemon = DaemonProcess(tmp, text)
    return wait_for_api(daemon.__enter__())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = start_daemon(tmp_path_factory.mktemp("api"))
    try:
        yield process
    finally:
        process.__exit__()


@pytest.fixture(scope="module")
def api(daemon: DaemonProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
        yield client


def wait_final(api: httpx.Client, run_id: int, timeout: float = 20) -> dict:
    return wait_until(
        lambda: (
            (run := api.get(f"/api/v1/runs/{run_id}").json())["state"] not in ("pending", "running")
            and run
        ),
        timeout,
        f"run {run_id} to end",
    )


# --- service ---------------------------------------------------------------------------------


def test_healthz_answers_ok_with_counts(api: httpx.Client) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["jobs"] == 4
    assert body["clocks"] == 2


def test_jobs_list_clocks_next_fires_and_schema(api: httpx.Client) -> None:
    response = api.get("/api/v1/jobs")
    assert response.status_code == 200
    jobs = {job["name"]: job for job in response.json()["jobs"]}
    assert set(jobs) == {"echo", "sleepy", "fail", "probe"}
    clocks = {clock["name"]: clock for clock in jobs["echo"]["clocks"]}
    assert clocks["hourly"]["parameters"] == {"n": 1}
    assert clocks["hourly"]["next_fire"].endswith(":00:00+00:00")
    assert clocks["dates"]["next_fire"] is None  # every date is in the past
    schema = jobs["echo"]["parameters_schema"]
    assert schema["required"] == ["n"]
    assert schema["properties"]["n"]["maximum"] == 10


def test_one_job_and_unknown_job(api: httpx.Client) -> None:
    assert api.get("/api/v1/jobs/echo").json()["name"] == "echo"
    missing = api.get("/api/v1/jobs/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "unknown job 'nope'", "details": []}


def test_openapi_document_lists_every_path(api: httpx.Client) -> None:
    document = api.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/jobs/{job}/runs" in document["paths"]
    assert "parameter_text" in document["components"]["schemas"]["NewRun"]["properties"]


# --- creating runs -----------------------------------------------------------------------------


def test_create_run_returns_201_and_the_resolved_run(api: httpx.Client) -> None:
    response = api.post("/api/v1/jobs/echo/runs", json={"parameters": {"n": 4, "tags": ["a"]}})
    assert response.status_code == 201
    run = response.json()
    assert response.headers["location"] == f"/api/v1/runs/{run['id']}"
    assert run["job"] == "echo"
    assert run["trigger"] == "api"
    assert run["clock"] is None
    assert run["parameters"]["n"] == 4
    assert run["parameters"]["word"] == "hi"
    assert run["parameters"]["day"] == run["scheduled_time"][:10]
    final = wait_final(api, run["id"])
    assert final["state"] == "succeeded"


def test_parameter_text_is_converted_by_declared_type(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/jobs/echo/runs",
        json={"parameter_text": {"n": "7", "tags": '["x", "y"]', "day": "2026-03-01"}},
    )
    assert response.status_code == 201, response.text
    assert response.json()["parameters"] == {
        "word": "hi",
        "n": 7,
        "day": "2026-03-01",
        "tags": ["x", "y"],
    }


def test_clock_lends_its_values(api: httpx.Client) -> None:
    run = api.post("/api/v1/jobs/echo/runs", json={"clock": "dates"}).json()
    assert run["clock"] == "dates"
    assert run["parameters"]["n"] == 2


def test_refused_parameters_get_422_with_one_detail_per_parameter(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/jobs/echo/runs", json={"parameters": {"n": 11, "dummy": 1, "tags": ["a", 2]}}
    )
    assert response.status_code == 422
    body = response.json()
    details = {d["parameter"]: d for d in body["details"]}
    assert set(details) == {"n", "dummy", "tags"}
    assert details["dummy"]["kind"] == "unexpected"
    assert details["n"]["kind"] == "invalid"
    assert details["n"]["pointer"] == "/n"
    assert details["tags"]["pointer"] == "/tags/1"
    assert "maximum" in details["n"]["message"]


def test_missing_required_parameter_is_422(api: httpx.Client) -> None:
    response = api.post("/api/v1/jobs/echo/runs", json={})
    assert response.status_code == 422
    [detail] = response.json()["details"]
    assert detail["parameter"] == "n"
    assert detail["kind"] == "required"


def test_bad_parameter_text_is_422_for_that_parameter(api: httpx.Client) -> None:
    response = api.post("/api/v1/jobs/echo/runs", json={"parameter_text": {"n": "three"}})
    assert response.status_code == 422
    assert [d["parameter"] for d in response.json()["details"]] == ["n"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'{"parameters": [1]}', "'parameters' must be an object"),
        (b'{"clock": 3}', "'clock' must be a clock name"),
        (b'{"parent_id": "1"}', "'parent_id' must be a run id"),
        (b'{"parent_id": true}', "'parent_id' must be a run id"),
        (b'{"parametres": {}}', "unknown field"),
        (b"\xff\xfe{}", "not valid UTF-8"),
    ],
    ids=[
        "syntax",
        "array",
        "params-list",
        "clock-number",
        "parent-string",
        "parent-bool",
        "typo",
        "utf8",
    ],
)
def test_malformed_bodies_are_400(api: httpx.Client, body: bytes, fragment: str) -> None:
    response = api.post(
        "/api/v1/jobs/echo/runs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_unknown_clock_and_unknown_job_are_404(api: httpx.Client) -> None:
    assert api.post("/api/v1/jobs/echo/runs", json={"clock": "nope"}).status_code == 404
    assert api.post("/api/v1/jobs/nope/runs", json={}).status_code == 404


def test_unknown_parent_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/jobs/echo/runs", json={"parameters": {"n": 1}, "parent_id": 999999}
    )
    assert response.status_code == 400
    assert "parent run 999999" in response.json()["error"]


def test_text_plain_body_is_refused_415(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/jobs/echo/runs",
        content=b'{"parameters": {"n": 1}}',
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415


def test_body_over_limit_is_413_from_content_length(api: httpx.Client) -> None:
    huge = json.dumps({"parameters": {"word": "x" * 200_000}}).encode()
    response = api.post(
        "/api/v1/jobs/echo/runs", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_body_over_limit_is_413_while_streaming_without_length(daemon: DaemonProcess) -> None:
    # Chunked, no Content-Length: 200 KB sent, the rest (of a "10 MB" body) never is. The
    # answer must come anyway, so the server counted while streaming instead of reading it all.
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as raw:
        raw.sendall(
            b"POST /api/v1/jobs/echo/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 8192
        raw.sendall(b"19\r\n" + b'{"parameters": {"word": "' + b"\r\n")
        for _ in range(25):
            raw.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = raw.recv(65536)
        while b"larger than" not in answer and len(answer) < 4096:
            more = raw.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request body is larger than" in answer


def test_parameters_over_max_bytes_are_413(api: httpx.Client) -> None:
    # under the body limit (parameters + envelope) but over max_parameters_bytes
    response = api.post(
        "/api/v1/jobs/echo/runs", json={"parameters": {"n": 1, "tags": ["y" * 1000] * 70}}
    )
    assert response.status_code == 413
    assert response.json()["details"][0]["kind"] == "too_large"


# --- history ---------------------------------------------------------------------------------------


def test_runs_filter_by_job_and_state(api: httpx.Client) -> None:
    failed = api.post("/api/v1/jobs/fail/runs", json={}).json()
    assert wait_final(api, failed["id"])["state"] == "failed"
    runs = api.get("/api/v1/runs", params={"job": "fail", "state": "failed"}).json()["runs"]
    assert runs
    assert {r["job"] for r in runs} == {"fail"}
    assert runs[0]["id"] == failed["id"]
    assert runs[0]["exit_code"] == 3
    limited = api.get("/api/v1/runs", params={"limit": 1}).json()["runs"]
    assert len(limited) == 1


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "abc"}, {"limit": "100000"}, {"state": "done"}, {"color": "red"}],
    ids=["zero", "text", "huge", "state", "unknown"],
)
def test_bad_history_queries_are_400(api: httpx.Client, query: dict) -> None:
    response = api.get("/api/v1/runs", params=query)
    assert response.status_code == 400
    assert response.json()["error"]


def test_unknown_run_is_404(api: httpx.Client) -> None:
    for path in ("/api/v1/runs/999999", "/api/v1/runs/abc", "/api/v1/runs/999999/logs"):
        assert api.get(path).status_code == 404
    assert api.post("/api/v1/runs/999999/cancel").status_code == 404


def test_logs_hold_the_lines_of_a_finished_run(api: httpx.Client) -> None:
    run = api.post("/api/v1/jobs/echo/runs", json={"parameters": {"n": 5, "word": "yo"}}).json()
    wait_final(api, run["id"])
    lines = api.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"]
    texts = [line["text"] for line in lines if line["stream"] == "stdout"]
    assert texts == ["line 1 yo n=5", "line 2 yo n=5", "line 3 yo n=5"]


def test_follow_streams_lines_until_the_run_ends(api: httpx.Client) -> None:
    run = api.post("/api/v1/jobs/echo/runs", json={"parameters": {"n": 6}}).json()
    events = []
    with api.stream("GET", f"/api/v1/runs/{run['id']}/logs", params={"follow": "true"}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end"
    assert kinds.count("end") == 1
    texts = [data["text"] for kind, data in events if kind == "line" and data["stream"] == "stdout"]
    assert texts == ["line 1 hi n=6", "line 2 hi n=6", "line 3 hi n=6"]
    assert events[-1][1]["state"] == "succeeded"
    assert events[-1][1]["exit_code"] == 0


def test_cancel_a_running_run(api: httpx.Client) -> None:
    run = api.post("/api/v1/jobs/sleepy/runs", json={}).json()
    wait_until(
        lambda: api.get(f"/api/v1/runs/{run['id']}").json()["state"] == "running", 10, "running"
    )
    response = api.post(f"/api/v1/runs/{run['id']}/cancel")
    assert response.status_code == 200
    assert wait_final(api, run["id"], 10)["state"] == "cancelled"


# --- pause, resume, backfill ------------------------------------------------------------------


def test_pause_and_resume_a_clock_and_a_job(api: httpx.Client) -> None:
    job = api.post("/api/v1/jobs/echo/clocks/hourly/pause").json()
    clocks = {c["name"]: c for c in job["clocks"]}
    assert clocks["hourly"]["paused"] is True
    assert clocks["dates"]["paused"] is False
    job = api.post("/api/v1/jobs/echo/clocks/hourly/resume").json()
    assert not any(c["paused"] for c in job["clocks"])
    job = api.post("/api/v1/jobs/echo/pause").json()
    assert job["paused"] is True
    assert api.get("/api/v1/jobs/echo").json()["paused"] is True
    assert api.post("/api/v1/jobs/echo/resume").json()["paused"] is False
    assert api.post("/api/v1/jobs/echo/clocks/nope/pause").status_code == 404
    assert api.post("/api/v1/jobs/nope/pause").status_code == 404


def test_backfill_dry_run_then_real_then_again(api: httpx.Client) -> None:
    body = {"clock": "dates", "from": "2026-01-01", "to": "2026-01-02", "dry_run": True}
    plan = api.post("/api/v1/jobs/echo/backfill", json=body)
    assert plan.status_code == 200, plan.text
    fires = plan.json()["fires"]
    assert [f["time"] for f in fires] == ["2026-01-01T06:00:00+00:00", "2026-01-02T06:00:00+00:00"]
    assert [f["parameters"]["day"] for f in fires] == ["2026-01-01", "2026-01-02"]
    assert all(f["run_id"] is None for f in fires)
    real = api.post("/api/v1/jobs/echo/backfill", json={**body, "dry_run": False}).json()
    assert real["created"] == 2
    for fire in real["fires"]:
        run = api.get(f"/api/v1/runs/{fire['run_id']}").json()
        assert run["trigger"] == "backfill"
        assert run["scheduled_time"] == fire["time"]
    again = api.post("/api/v1/jobs/echo/backfill", json={**body, "dry_run": False}).json()
    assert (again["created"], again["skipped"]) == (0, 2)


@pytest.mark.parametrize(
    "body",
    [
        {"from": "2026-01-01", "to": "2026-01-02"},
        {"clock": "dates", "from": "yesterday", "to": "2026-01-02"},
        {"clock": "dates", "from": "2026-01-03", "to": "2026-01-01"},
        {"clock": "dates", "from": "2026-01-01", "to": "2026-01-02", "dry_run": "yes"},
    ],
    ids=["no-clock", "bad-date", "reversed", "dry-run-string"],
)
def test_bad_backfill_bodies_are_400(api: httpx.Client, body: dict) -> None:
    response = api.post("/api/v1/jobs/echo/backfill", json=body)
    assert response.status_code == 400
    assert response.json()["error"]


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_expose_runs_clocks_and_queue(api: httpx.Client) -> None:
    run = api.post("/api/v1/jobs/fail/runs", json={}).json()
    wait_final(api, run["id"])
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "clockd_clocks_loaded 2.0" in text
    assert "clockd_jobs_loaded 4.0" in text
    assert "clockd_active_runs " in text
    assert "clockd_pending_runs " in text
    assert "clockd_last_reload_success 1.0" in text
    assert "clockd_fire_lateness_seconds_bucket" in text
    wait_until(
        lambda: 'clockd_runs_finished_total{job="fail",state="failed"}' in api.get("/metrics").text,
        10,
        "the finished run counted",
    )
    assert 'clockd_runs_started_total{job="fail",trigger="api"}' in api.get("/metrics").text


# --- authentication ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("secured")
    (tmp / "token").write_text("s3cret-token\n")
    os.chmod(tmp / "token", 0o600)
    process = start_daemon(tmp, extra=f'token_file = "{tmp / "token"}"')
    try:
        yield process
    finally:
        process.__exit__()


def test_token_is_required_on_every_api_path(secured: DaemonProcess) -> None:
    base = f"http://127.0.0.1:{secured.port}"
    for method, path in [
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/runs"),
        ("POST", "/api/v1/jobs/echo/runs"),
        ("GET", "/api/v1/openapi.json"),
    ]:
        assert httpx.request(method, base + path).status_code == 401
        wrong = httpx.request(method, base + path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "missing or wrong bearer token"
    good = httpx.get(base + "/api/v1/jobs", headers={"Authorization": "Bearer s3cret-token"})
    assert good.status_code == 200
    assert httpx.get(base + "/healthz").status_code == 200


def test_ui_requires_login_then_a_strict_cookie(secured: DaemonProcess) -> None:
    base = f"http://127.0.0.1:{secured.port}"
    with httpx.Client(base_url=base) as browser:
        first = browser.get("/jobs/echo")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/login")
        refused = browser.post("/login", data={"token": "wrong", "next": "/jobs/echo"})
        assert refused.status_code == 401
        accepted = browser.post("/login", data={"token": "s3cret-token", "next": "/jobs/echo"})
        assert accepted.status_code == 303
        cookie = accepted.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "s3cret-token" not in cookie
        assert browser.get("/jobs/echo").status_code == 200


def test_child_token_may_only_start_and_read_child_runs(secured: DaemonProcess) -> None:
    headers = {"Authorization": "Bearer s3cret-token"}
    with httpx.Client(base_url=f"http://127.0.0.1:{secured.port}", headers=headers) as api:
        first = api.post("/api/v1/jobs/echo/runs", json={"parameters": {"n": 1}}).json()
        wait_final(api, first["id"])
        probe = api.post("/api/v1/jobs/probe/runs", json={}).json()
        final = wait_final(api, probe["id"])
        lines = [
            line["text"] for line in api.get(f"/api/v1/runs/{probe['id']}/logs").json()["lines"]
        ]
    assert final["state"] == "succeeded", lines
    assert f"create 201 {probe['id']} child" in lines
    assert "get-child 200" in lines
    assert "logs-child 200" in lines
    assert "list-jobs 403" in lines
    assert "cancel 403" in lines
    assert "get-other 403" in lines


# --- cross-site requests --------------------------------------------------------------------------


def test_cross_site_posts_are_refused(api: httpx.Client, daemon: DaemonProcess) -> None:
    before = len(daemon.runs())
    evil = api.post(
        "/api/v1/jobs/echo/runs",
        json={"parameters": {"n": 1}},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert evil.status_code == 403
    only_origin = api.post("/api/v1/jobs/echo/pause", headers={"Origin": "http://evil.example"})
    assert only_origin.status_code == 403
    same = api.post(
        "/api/v1/jobs/echo/runs",
        json={"parameters": {"n": 1}},
        headers={"Origin": f"http://127.0.0.1:{daemon.port}", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 201
    assert len(daemon.runs()) == before + 1


def test_rebound_host_name_is_refused_without_a_token(api: httpx.Client) -> None:
    response = api.get("/api/v1/jobs", headers={"Host": "evil.example:8787"})
    assert response.status_code == 421
    assert api.get("/api/v1/jobs", headers={"Host": "localhost"}).status_code == 200


def test_ui_form_posts_need_the_csrf_token(daemon: DaemonProcess) -> None:
    before = len(daemon.runs())
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}") as browser:
        page = browser.get("/jobs/echo")
        assert page.status_code == 200
        token = browser.cookies["clockd_csrf"]
        assert f'name="csrf" value="{token}"' in page.text
        missing = browser.post("/jobs/echo/runs", data={"p.n": "1"})
        assert missing.status_code == 403
        forged = browser.post("/jobs/echo/runs", data={"p.n": "1", "csrf": "guess"})
        assert forged.status_code == 403
        cross = browser.post(
            "/jobs/echo/runs",
            data={"p.n": "1", "csrf": token},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross.status_code == 403
        assert len(daemon.runs()) == before
        good = browser.post("/jobs/echo/runs", data={"p.n": "1", "csrf": token})
        assert good.status_code == 303
        assert good.headers["location"].startswith("/runs/")
    assert len(daemon.runs()) == before + 1


def test_metrics_observe_fire_lateness_of_clock_runs(tmp_path: Path) -> None:
    config = """
    [daemon]
    database = "{database}"
    listen = "127.0.0.1:{port}"

    [jobs.tick]
    command = ["true"]

    [[jobs.tick.clocks]]
    name = "every-second"
    interval = "1s"
    """
    with DaemonProcess(tmp_path, config) as daemon:
        wait_for_api(daemon)
        url = f"http://127.0.0.1:{daemon.port}/metrics"

        def samples() -> dict[str, float]:
            found = {}
            for line in httpx.get(url).text.splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    found[name] = float(value)
            return found

        wait_until(
            lambda: samples().get("clockd_fire_lateness_seconds_count", 0) >= 2,
            15,
            "two fires observed",
        )
        seen = samples()
    assert seen['clockd_runs_started_total{job="tick",trigger="clock"}'] >= 2
    assert seen["clockd_fire_lateness_seconds_sum"] >= 0
    # every observation is in the +Inf bucket, and fires are late by well under a minute
    assert (
        seen['clockd_fire_lateness_seconds_bucket{le="+Inf"}']
        == seen["clockd_fire_lateness_seconds_count"]
    )
    assert (
        seen['clockd_fire_lateness_seconds_bucket{le="60.0"}']
        == seen["clockd_fire_lateness_seconds_count"]
    )
    assert seen["clockd_clocks_loaded"] == 1


def test_the_api_answers_as_soon_as_ready_is_sent(tmp_path: Path) -> None:
    # systemd starts dependent units on READY=1: the API must already be listening then.
    config = """
    [daemon]
    database = "{database}"
    listen = "127.0.0.1:{port}"

    [jobs.hello]
    command = ["echo", "hello"]
    """
    with DaemonProcess(tmp_path, config) as daemon:
        assert httpx.get(f"http://127.0.0.1:{daemon.port}/healthz", timeout=2).status_code == 200
