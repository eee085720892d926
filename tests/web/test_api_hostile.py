"""Fifty malformed or hostile request bodies against a real daemon: each is a 4xx, never a
500, and afterwards the daemon is healthy and its history intact."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import DaemonProcess, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
max_parameters_bytes = 8192

[jobs.job]
command = ["echo", "n={{ n }} s={{ s }}"]

[jobs.job.parameters.n]
type = "integer"
minimum = 0

[jobs.job.parameters.s]
type = "string"
default = "plain"

[jobs.job.parameters.when]
type = "datetime"
default = "2026-01-01T00:00:00+00:00"

[jobs.job.parameters.mode]
type = "string"
enum = ["fast", "slow"]
default = "fast"

[jobs.job.parameters.tags]
type = "array"
items = { type = "string" }
default = []

[[jobs.job.clocks]]
name = "c"
cron = "0 0 1 1 *"
parameters = { n = 1 }
"""


def deep(levels: int) -> bytes:
    return b'{"parameters": {"tags": ' + b"[" * levels + b"]" * levels + b"}}"


HOSTILE: list[bytes] = [
    b"",  # empty → {} → required n missing (422)
    b"null",
    b"true",
    b"42",
    b'"a string"',
    b"[]",
    b"[{}]",
    b"{",
    b"}",
    b"{'single': 'quotes'}",
    b'{"parameters": {"n": 1},}',  # trailing comma
    b'{"parameters": NaN}',
    b'{"parameters": {"n": Infinity}}',
    b'{"parameters": null, "clock": null, "parent_id": null, "extra": 1}',
    b'{"parameters": "n=1"}',
    b'{"parameters": {"n": "1"}}',
    b'{"parameters": {"n": 1.5}}',
    b'{"parameters": {"n": -1}}',
    b'{"parameters": {"n": true}}',
    b'{"parameters": {"n": null}}',
    b'{"parameters": {"n": [1]}}',
    b'{"parameters": {"n": {"$gt": 0}}}',
    b'{"parameters": {"n": -99999999999999999999999999999999999999}}',
    b'{"parameters": {"n": 1e400}}',
    b'{"parameters": {"n": 1, "s": 5}}',
    b'{"parameters": {"n": 1, "mode": "medium"}}',
    b'{"parameters": {"n": 1, "when": "not a time"}}',
    b'{"parameters": {"n": 1, "tags": "a,b"}}',
    b'{"parameters": {"n": 1, "tags": [1, 2]}}',
    b'{"parameters": {"n": 1, "__proto__": {"admin": true}}}',
    b'{"parameters": {"n": 1, "../../etc/passwd": 1}}',
    b'{"parameters": {"n": 1, "s": "' + b"x" * 20_000 + b'"}}',  # over max_parameters_bytes
    b'{"parameters": {"n": 1, "s": "' + b"x" * 300_000 + b'"}}',  # over the body limit
    b'{"parameters": {"n": 1, "s": "{{ 7 * 7 }}"}, "clock": "' + b"c" * 5000 + b'"}',
    # Trigger-time values are data (spec 2.1.3): a template is text, refused where its type is not.
    b'{"parameters": {"n": "{{ self.__class__.__mro__ }}"}}',
    b'{"parameter_text": {"n": "{{ cycler.__init__.__globals__.os.system(\'id\') }}"}}',
    b'{"parameters": {"n": 1, "when": "{{ range(99999999) | list | length }}"}}',
    b'{"parameters": {"n": 1}, "parent_id": -5}',
    b'{"parameters": {"n": 1}, "parent_id": 1.5}',
    b'{"parameters": {"n": 1}, "parent_id": 99999999999999999999999}',
    b'{"parameters": {"n": 1}, "clock": ["c"]}',
    b'{"parameters": {"n": 1}, "parameter_text": {"n": 3}}',
    b'{"parameters": {"n": 1}, "parameter_text": "n=3"}',
    deep(30_000),  # under the body limit: refused for its depth
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b"\xff\xfe\x00{",
    b'{"parameters": {"n": 1, "s": "\xed\xa0\x80"}}',  # a UTF-8-encoded surrogate
    b'{"parameters": {"n": 1, "s\x00": "x"}}',
    b'{"parameters": {"n": 1, "s": "\\ud800"}}',  # a lone surrogate escape
    '{"parameters": {"n": 1, "\u202emode": "\U0001f4a3"}}'.encode(),
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with DaemonProcess(tmp_path_factory.mktemp("hostile"), CONFIG) as process:
        yield wait_for_api(process)


def test_there_are_fifty_hostile_bodies() -> None:
    assert len(HOSTILE) == 50
    assert len(set(HOSTILE)) == 50


def test_hostile_bodies_are_all_4xx_and_history_survives(daemon: DaemonProcess) -> None:
    base = f"http://127.0.0.1:{daemon.port}"
    with httpx.Client(base_url=base, timeout=30) as api:
        before = api.post("/api/v1/jobs/job/runs", json={"parameters": {"n": 5, "s": "keep"}})
        assert before.status_code == 201
        kept = before.json()
        wait_until(
            lambda: api.get(f"/api/v1/runs/{kept['id']}").json()["state"] == "succeeded",
            15,
            "the first run to succeed",
        )
        statuses = []
        for body in HOSTILE:
            response = api.post(
                "/api/v1/jobs/job/runs", content=body, headers={"content-type": "application/json"}
            )
            statuses.append(response.status_code)
            assert 400 <= response.status_code < 500, (body[:120], response.text[:300])
            error = response.json()
            assert isinstance(error["error"], str)
            assert error["error"]
            assert isinstance(error["details"], list)
        assert api.get("/healthz").json()["status"] == "ok"
        runs = api.get("/api/v1/runs", params={"limit": 1000}).json()["runs"]
        assert [r["id"] for r in runs] == [kept["id"]], "a hostile body created a run"
        assert api.get(f"/api/v1/runs/{kept['id']}").json()["parameters"]["s"] == "keep"
        lines = api.get(f"/api/v1/runs/{kept['id']}/logs").json()["lines"]
        assert [line["text"] for line in lines if line["stream"] == "stdout"] == ["n=5 s=keep"]
    assert 413 in statuses
    assert 422 in statuses
    assert 400 in statuses
    assert not daemon.exited()
    assert "Traceback" not in daemon.log()


@pytest.mark.parametrize(
    "text",
    [
        "{{ self.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__.os.system('id') }}",
        "{{ range(99999999) | list | length }}",
    ],
)
def test_template_escapes_given_at_trigger_time_are_plain_text(
    daemon: DaemonProcess, text: str
) -> None:
    # Before spec 2.1.3 these were rendered (and refused by the sandbox); now they are data.
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as api:
        response = api.post("/api/v1/jobs/job/runs", json={"parameters": {"n": 2, "s": text}})
        assert response.status_code == 201, response.text
        run = response.json()
        assert run["parameters"]["s"] == text
        wait_until(
            lambda: api.get(f"/api/v1/runs/{run['id']}").json()["state"] == "succeeded",
            15,
            "the run to succeed",
        )
        lines = api.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"]
        assert [line["text"] for line in lines if line["stream"] == "stdout"] == [f"n=2 s={text}"]


def test_lying_content_length_and_raw_garbage_do_not_hurt(daemon: DaemonProcess) -> None:
    # A raw socket: a Content-Length that says more than is sent, then the client goes away.
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw:
        raw.sendall(
            b"POST /api/v1/jobs/job/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"par'
        )
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x00\xa5garbage that is not HTTP\r\n\r\n")
        raw.recv(1024)
    # A huge declared length is refused before anything is read.
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw:
        raw.sendall(
            b"POST /api/v1/jobs/job/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n"
            + json.dumps({"parameters": {"n": 2}}).encode()
        )
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert httpx.get(f"http://127.0.0.1:{daemon.port}/healthz").json()["status"] == "ok"
    assert "Traceback" not in daemon.log()


# --- client mistakes that were 500s (issue 12, finding 6) ------------------------------------

JSON = {"content-type": "application/json"}
DEEP_OBJECT = b'{"a":' * 500 + b"1" + b"}" * 500

# (method, path, request arguments, status, a fragment of the error message)
MISTAKES: list[tuple[str, str, dict[str, object], int, str]] = [
    (
        "POST",
        "/api/v1/jobs/job/runs",
        {"content": b'{"parameters": {"n": ' + b"9" * 5000 + b"}}", "headers": JSON},
        400,
        "integer of 5000 digits",
    ),
    (
        "POST",
        "/api/v1/jobs/job/runs",
        {"content": b'{"parameters": {"n": 1, "tags": [' + DEEP_OBJECT + b"]}}", "headers": JSON},
        400,
        "nested 503 levels deep",
    ),
    (
        "POST",
        "/api/v1/jobs/job/runs",
        {"json": {"parameter_text": {"tags": "[" * 500 + "]" * 500}}},
        422,
        "parameter 'tags' is nested 500 levels deep",
    ),
    (
        "POST",
        "/api/v1/jobs/job/backfill",
        {"json": {"clock": "c", "from": "0001-01-01", "to": "0001-01-02"}},
        400,
        "'from' '0001-01-01' is outside the years a backfill covers",
    ),
    (
        "POST",
        "/api/v1/jobs/job/backfill",
        {"json": {"clock": "c", "from": "2026-01-01", "to": "9999-12-31", "dry_run": True}},
        400,
        "'to' '9999-12-31' is outside",
    ),
    ("GET", "/api/v1/runs?limit=²", {}, 400, "limit must be a whole number from 1 to 1000"),
    ("GET", "/api/v1/runs?parent_id=²", {}, 400, "parent_id must be a run id"),
    ("GET", "/api/v1/runs?parent_id=99999999999999999999", {}, 400, "parent_id must be a run id"),
    ("GET", "/api/v1/runs?state=", {}, 400, "unknown state ''"),
    ("GET", "/api/v1/runs/²", {}, 404, "unknown run '²'"),
    ("GET", "/api/v1/runs/٣", {}, 404, "unknown run '٣'"),
    ("GET", "/api/v1/runs/99999999999999999999", {}, 404, "unknown run"),
    ("POST", "/api/v1/runs/²/cancel", {}, 404, "unknown run '²'"),
    ("GET", "/api/v1/runs/{kept}/logs?after=²", {}, 400, "after must be a log line number"),
    (
        "GET",
        "/api/v1/runs/{kept}/logs?after=99999999999999999999",
        {},
        400,
        "after must be a log line number",
    ),
    (
        "GET",
        "/api/v1/runs/{kept}/logs",
        {"headers": {"last-event-id": b"\xb2"}},  # "²" in Latin-1, as ASGI decodes headers
        400,
        "Last-Event-ID must be a log line number",
    ),
    (
        "POST",
        "/api/v1/runs/{kept}/cancel",
        {"json": {"force": True}},
        400,
        "unknown field in request body: 'force'; this request takes none",
    ),
]


@pytest.fixture(scope="module")
def finished_run(daemon: DaemonProcess) -> int:
    """A run that has ended: the one the first test kept, or a new one when run alone."""
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as api:
        runs = api.get("/api/v1/runs", params={"limit": 1}).json()["runs"]
        run_id = (
            runs[0]["id"]
            if runs
            else api.post("/api/v1/jobs/job/runs", json={"parameters": {"n": 1}}).json()["id"]
        )
        wait_until(
            lambda: api.get(f"/api/v1/runs/{run_id}").json()["state"] == "succeeded",
            15,
            "a run to succeed",
        )
    return int(run_id)


@pytest.mark.parametrize(
    ("method", "path", "arguments", "status", "fragment"),
    MISTAKES,
    ids=[f"{m} {p[:50]} {s}" for m, p, _, s, _ in MISTAKES],
)
def test_client_mistakes_are_4xx_with_a_clear_message(
    daemon: DaemonProcess,
    finished_run: int,
    method: str,
    path: str,
    arguments: dict[str, object],
    status: int,
    fragment: str,
) -> None:
    base = f"http://127.0.0.1:{daemon.port}"
    with httpx.Client(base_url=base, timeout=30) as api:
        response = api.request(method, path.replace("{kept}", str(finished_run)), **arguments)  # type: ignore[arg-type]
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"error", "details"}
    assert fragment in body["error"] + json.dumps(body["details"], ensure_ascii=False)
    assert "Traceback" not in daemon.log()


def test_a_method_a_path_does_not_allow_is_405_with_allow(daemon: DaemonProcess) -> None:
    base = f"http://127.0.0.1:{daemon.port}"
    with httpx.Client(base_url=base, timeout=30) as api:
        runs = api.delete("/api/v1/runs")
        create = api.get("/api/v1/jobs/job/runs")
    assert runs.status_code == 405
    assert runs.headers["allow"] == "GET, HEAD"
    assert runs.json() == {"error": "Method Not Allowed", "details": []}
    assert create.status_code == 405
    assert create.headers["allow"] == "POST"


def test_ui_run_pages_refuse_unicode_digits(daemon: DaemonProcess, finished_run: int) -> None:
    base = f"http://127.0.0.1:{daemon.port}"
    with httpx.Client(base_url=base, timeout=30) as browser:
        browser.get("/")  # the CSRF cookie
        csrf = browser.cookies["clockd_csrf"]
        page = browser.get("/runs/²")
        events = browser.get("/runs/²/events")
        cancel = browser.post("/runs/²/cancel", data={"csrf": csrf})
        deep = browser.post(
            "/jobs/job/runs", data={"csrf": csrf, "p.n": "1", "p.tags": "[" * 500 + "]" * 500}
        )
        wrong_resume = browser.get(
            f"/runs/{finished_run}/events", headers={"last-event-id": b"\xb2"}, timeout=30
        )
    assert page.status_code == 404
    assert "unknown run" in page.text
    assert events.status_code == 404
    assert cancel.status_code == 404
    assert deep.status_code == 422
    assert "nested 500 levels deep; at most 64 are accepted" in deep.text
    # A Last-Event-ID that is not a line number replays the log from its start.
    assert wrong_resume.status_code == 200
    assert "event: end" in wrong_resume.text
    assert "Traceback" not in daemon.log()
