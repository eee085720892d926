"""Every command has help, and the README documents every command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scheduler.cli import COMMANDS

from .conftest import ROOT


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", name, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Usage: clockd {name}" in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_documents_every_command(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"clockd {name}" in readme


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from scheduler.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "import json\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    heavy = {"apscheduler", "croniter", "starlette", "uvicorn", "jinja2", "pendulum", "rich", "httpx", "sqlite_utils"}
    assert not heavy & modules
