"""`log_format = "json"` holds for everything a real `clockd serve` writes: uvicorn's own
messages and a request whose handler fails go through clockd's logger, one JSON object a
line, never a raw traceback on stderr."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProcess, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
log_format = "json"

[jobs.hello]
command = ["echo", "hello"]
"""


def test_uvicorn_messages_and_a_failing_handler_are_json_records(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, CONFIG) as daemon:
        wait_for_api(daemon)
        base = f"http://127.0.0.1:{daemon.port}"
        # uvicorn's own warning: bytes that are not HTTP.
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01\x00\xa5not HTTP at all\r\n\r\n")
            raw.recv(1024)
        with httpx.Client(base_url=base, timeout=30) as api:
            run = api.post("/api/v1/jobs/hello/runs", json={}).json()
            wait_until(
                lambda: api.get(f"/api/v1/runs/{run['id']}").json()["state"] == "succeeded",
                15,
                "the run to succeed",
            )
            # A real fault under the handler: the log table disappears behind the store.
            with sqlite3.connect(daemon.database) as other:
                other.execute("DROP TABLE run_logs")
            failed = api.get(f"/api/v1/runs/{run['id']}/logs")
            healthy = api.get("/healthz")
        wait_until(lambda: "run_logs" in daemon.log(), 10, "the failure in the daemon's log")
        text = daemon.log()
    assert failed.status_code >= 500
    assert set(failed.json()) == {"error", "details"}
    assert healthy.status_code == 200, "one failed request does not take the server down"
    records = [json.loads(line) for line in text.splitlines()]  # every line is one object
    uvicorn = [r for r in records if r["logger"].startswith("uvicorn")]
    assert [r["message"] for r in uvicorn] == ["Invalid HTTP request received."]
    assert uvicorn[0]["level"] == "warning"
    failures = [r for r in records if "run_logs" in r.get("exception", "")]
    assert len(failures) == 1, failures  # logged once, by clockd, with its traceback inside
    assert failures[0]["level"] == "error"
    assert f"/api/v1/runs/{run['id']}/logs" in failures[0]["message"]
    assert "Exception in ASGI application" not in text
