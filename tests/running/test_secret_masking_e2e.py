"""Through a real `clockd serve`: a run that prints its secret shows `***` in the API's run
and log, the database never holds the value, and the run does not inherit the variable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProcess, wait_until

pytestmark = pytest.mark.e2e

SECRET = "e2e-s3cr3t-9b7d"

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"

[jobs.leak]
command = ["sh", "-c", "echo \\"key=$CLOCKD_PARAM_KEY env=${MASKING_E2E_KEY:-unset}\\"; exit 2"]
on_failure = ["sh", "-c", "echo \\"hook env=${MASKING_E2E_KEY:-unset}\\""]

[jobs.leak.parameters.key]
type = "string"
secret = true
default = "env:MASKING_E2E_KEY"
"""


def test_a_printed_secret_is_masked_in_the_api_and_never_stored(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, CONFIG, env={"MASKING_E2E_KEY": SECRET}) as daemon:
        base = f"http://127.0.0.1:{daemon.port}"
        with httpx.Client(base_url=base, timeout=30) as api:
            created = api.post("/api/v1/jobs/leak/runs", json={"parameters": {}})
            assert created.status_code == 201, created.text
            run_id = created.json()["id"]

            def final() -> dict | None:
                run = api.get(f"/api/v1/runs/{run_id}").json()
                return run if run["state"] not in ("pending", "running") else None

            run = wait_until(final, 20, "the run to end")
            log = api.get(f"/api/v1/runs/{run_id}/logs").json()
        assert (run["state"], run["error"], run["parameters"]) == (
            "failed",
            "exit code 2",
            {"key": "***"},
        )
        assert [(line["stream"], line["text"]) for line in log["lines"]] == [
            ("stdout", "key=*** env=unset"),
            ("clockd", "on_failure: hook env=unset"),
        ]
        stored = b"".join(
            p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("clockd.db")
        )
        assert SECRET.encode() not in stored
        assert SECRET not in daemon.log()
