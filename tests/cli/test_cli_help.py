"""Every command has help, and the README documents every command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scheduler.cli import COMMANDS
from tests.conftest import ROOT


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
    heavy = {
        "apscheduler",
        "croniter",
        "starlette",
        "uvicorn",
        "jinja2",
        "pendulum",
        "rich",
        "httpx",
        "sqlite_utils",
        "jsonschema",
        "prometheus_client",
    }
    assert not heavy & modules
    # The clocks model is not needed to print help: at most the lazy face (clocks/__init__).
    assert not {m for m in modules if m.startswith("clocks.")}
    assert not {m for m in modules if m.startswith(("scheduler.web", "scheduler.daemon"))}


def test_readme_schedule_fires_both_clocks_at_the_same_instant_with_their_own_values(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A schedule") :]
    block = section[
        section.index("```toml") + len("```toml") : section.index(
            "```", section.index("```toml") + 7
        )
    ]
    (tmp_path / "clockd.toml").write_text(block)
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "next", "report", "-n", "2", "--json",
         "--after", "2026-03-01T09:00:00", "-c", str(tmp_path / "clockd.toml")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fires = json.loads(result.stdout)
    assert [(f["time"], f["clock"], f["parameters"]["x"]) for f in fires] == [
        ("2026-03-01T09:01:00+01:00", "small", 9),
        ("2026-03-01T09:01:00+01:00", "large", 99),
    ]
    assert {f["parameters"]["day"] for f in fires} == {"2026-02-28"}


def test_dash_v_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "-V"], capture_output=True, text=True, cwd=ROOT
    )
    assert (result.returncode, result.stdout) == (0, "clockd, version 0.1.0\n")


COMPLETION_CONFIG = """
[daemon]
include = ["more/*.toml"]

[jobs.report]
command = ["true"]

[[jobs.report.clocks]]
name = "small"
cron = "* * * * *"

[[jobs.report.clocks]]
cron = "0 6 * * *"

[jobs.rebuild]
command = ["true"]
retires = 1   # a problem: completion still reads the names
"""


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("clockd next re", ["report", "rebuild", "reindex"]),
        ("clockd run rep", ["report"]),
        ("clockd trigger report --clock ", ["small", "clock-2"]),
        ("clockd backfill report --clock s", ["small"]),
        ("clockd pause report/", ["report/small", "report/clock-2"]),
        ("clockd resume rei", ["reindex"]),
        ("clockd runs --job reb", ["rebuild"]),
        ("clockd rel", ["reload"]),
    ],
    ids=["next", "run", "trigger-clock", "backfill-clock", "pause", "resume", "runs", "command"],
)
def test_shell_completion_offers_job_and_clock_names(
    tmp_path,
    words: str,
    expected: list[str],  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "clockd.toml").write_text(COMPLETION_CONFIG)
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "x.toml").write_text('[jobs.reindex]\ncommand = ["true"]\n')
    env = {
        "PATH": "/usr/bin:/bin",
        "_CLOCKD_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    offered = [line.split(",", 1)[1] for line in result.stdout.splitlines()]
    assert offered == expected


def test_the_package_metadata_installs_without_a_license_deprecation_banner() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # setuptools >= 77 warns on every install about a `license = { text = ... }` table.
    assert project["project"]["license"] == "MIT"
    assert project["build-system"]["requires"] == ["setuptools>=77"]
