"""schemathesis against the real API of a real `clockd serve`: the OpenAPI document at
/api/v1/openapi.json matches what the server answers.

Every check schemathesis has runs (server errors, status codes and headers as documented,
response schemas, invalid data refused, valid data accepted, undeclared methods answered
405 with `Allow`, authentication as declared), on a bounded number of cases with a fixed
seed so that a run is repeatable. The command line is schemathesis' stable interface; its
JSON report gives the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DaemonProcess, wait_for_api

pytestmark = pytest.mark.e2e

# Cases per operation and phase: about 20 s here for ~1,100 cases over 14 operations.
# A fixed seed keeps CI repeatable; set the variables to explore further by hand.
MAX_EXAMPLES = int(os.environ.get("CLOCKD_SCHEMATHESIS_EXAMPLES", "40"))
SEED = int(os.environ.get("CLOCKD_SCHEMATHESIS_SEED", "20260301"))

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
log_format = "json"
max_parameters_bytes = 8192

[jobs.job]
command = ["echo", "n={{ n }} tags={{ tags }}"]

[jobs.job.parameters.n]
type = "integer"
default = 1

[jobs.job.parameters.tags]
type = "array"
items = { type = "string" }
default = []

[[jobs.job.clocks]]
name = "c"
cron = "0 0 * * *"
"""

# Names that exist in CONFIG, so that the cases reach the handlers and not only 404s; the
# probabilities keep unknown names in the mix.
SCHEMATHESIS_CONFIG = """
[dictionaries.jobs]
values = ["job"]
[dictionaries.clocks]
values = ["c"]
[dictionaries.bounds]
values = ["2026-01-01", "2026-01-03", "2026-01-02T12:00:00"]

[parameters]
"path.job" = { dictionary = "jobs", probability = 0.8 }
"path.clock" = { dictionary = "clocks", probability = 0.8 }
"body.clock" = { dictionary = "clocks", probability = 0.8 }
"body.from" = { dictionary = "bounds", probability = 0.5 }
"body.to" = { dictionary = "bounds", probability = 0.5 }

# Refusals that depend on the config and the history, which a static schema cannot say:
# a job's own parameter schema (422), a parent run that does not exist or a reversed
# backfill range (400). Both are documented answers of these two operations.
[[operations]]
include-operation-id = ["createRun", "backfill"]
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 404, 422]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with DaemonProcess(tmp_path_factory.mktemp("schemathesis"), CONFIG) as process:
        yield wait_for_api(process)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    daemon: DaemonProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"http://127.0.0.1:{daemon.port}/api/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    finished = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert report.exists(), finished.stdout[-3000:] + finished.stderr[-3000:]
    figures = json.loads(report.read_text())
    cases = figures["test_cases"]
    with capsys.disabled():
        print(
            f"\nschemathesis {figures['schemathesis_version']}: {cases['generated']} cases, "
            f"{len(figures['failures'])} failures, {len(figures['errors'])} errors, "
            f"{figures['running_time']:.1f} s (seed {SEED})"
        )
    assert figures["failures"] == [], finished.stdout[-6000:]
    assert figures["errors"] == [], finished.stdout[-6000:]
    assert figures["operations"]["tested"] == figures["operations"]["total"] == 16
    assert cases["generated"] >= 500, "schemathesis ran too few cases to mean anything"
    assert cases["with_failures"] == 0
    assert finished.returncode == 0, finished.stdout[-3000:]
    # The daemon answered every case without a traceback: each line of its log is JSON.
    for line in daemon.log().splitlines():
        assert json.loads(line)["level"] != "error", line
