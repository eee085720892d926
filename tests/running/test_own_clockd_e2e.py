"""A command named `clockd` runs the daemon's own clockd (issue 16, bug 3): the daemon started
as `.venv/bin/clockd serve` with its venv on no PATH, as the README says, still runs it —
and the PATH its runs get is left alone (which `python3` a job finds does not change)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.helpers import DaemonProcess, run_clockd, wait_for_api

pytestmark = pytest.mark.e2e

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"

[jobs.version]
command = ["clockd", "--version"]

[jobs.child]
command = ["echo", "child of the cli"]

[jobs.parent-cli]
command = ["clockd", "trigger", "child", "--watch"]

[jobs.which-python]
command = ["sh", "-c", "echo PATH=$PATH; command -v python3 || echo no-python3"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with DaemonProcess(
        tmp_path_factory.mktemp("own-clockd"), CONFIG, env={"PATH": SYSTEM_PATH}
    ) as process:
        yield wait_for_api(process)


def watch(daemon: DaemonProcess, job: str) -> tuple[int, list[str]]:
    clean = {"CLOCKD_URL": "", "CLOCKD_API_URL": "", "CLOCKD_TOKEN": ""}
    done = run_clockd(
        "trigger", job, "--watch", "-c", str(daemon.config_path), cwd=daemon.tmp, env=clean
    )
    return done.returncode, done.stdout.splitlines()[1:]


def test_a_command_named_clockd_runs_the_daemons_own(daemon: DaemonProcess) -> None:
    assert shutil.which("clockd", path=SYSTEM_PATH) is None, "clockd is on the system PATH"
    code, lines = watch(daemon, "version")
    assert code == 0, daemon.log()
    assert lines == ["clockd, version 0.1.0"]


def test_the_parent_cli_example_starts_its_child(daemon: DaemonProcess) -> None:
    code, lines = watch(daemon, "parent-cli")
    assert code == 0, daemon.log()
    assert lines[-1] == "child of the cli"
    [child] = daemon.runs("job = 'child'")
    [parent] = daemon.runs("job = 'parent-cli'")
    assert child["parent_id"] == parent["id"]


def test_the_path_of_runs_is_left_alone(daemon: DaemonProcess) -> None:
    code, lines = watch(daemon, "which-python")
    assert code == 0
    assert lines == [
        f"PATH={SYSTEM_PATH}",
        shutil.which("python3", path=SYSTEM_PATH) or "no-python3",
    ]
