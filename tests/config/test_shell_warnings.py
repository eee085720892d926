"""A template inside a shell's script string is injectable (issue 12, finding 10): found,
and turned into the safe form that passes the value as an argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config.shell import safe_form, script_index, shell_warnings
from tests.helpers import DaemonProcess, wait_until

SAFE = ["sh", "-c", 'echo "$1"', "sh", "{{ msg }}"]


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["sh", "-c", "echo {{ msg }}"], 2),
        (["/bin/sh", "-c", "x"], 2),
        (["bash", "-lc", "x"], 2),
        (["bash", "-e", "-c", "x"], 3),
        (["bash", "-o", "pipefail", "-c", "x"], 4),
        (["zsh", "-c", "x"], 2),
        (["dash", "-ec", "x"], 2),
        (["env", "LANG=C", "sh", "-c", "x"], 4),
        (["/usr/bin/env", "-i", "bash", "-c", "--", "x"], 5),
        (["busybox", "sh", "-c", "x"], 3),
        (["sh", "script.sh", "{{ msg }}"], None),  # a script file, not a script string
        (["sh", "-e", "script.sh"], None),
        (["python3", "-c", "print(1)"], None),
        (["echo", "-c", "x"], None),
        (["sh", "-c"], None),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_it_finds_the_script_string_of_a_shell(argv: list[str], index: int | None) -> None:
    assert script_index(argv) == index


@pytest.mark.parametrize(
    ("argv", "safe"),
    [
        (["sh", "-c", "echo {{ msg }}"], SAFE),
        (["sh", "-c", 'echo "{{ msg }}"'], SAFE),  # quotes do not protect: $(...) runs inside
        (["sh", "-c", "echo '{{ msg }}'"], SAFE),  # nor do single quotes: a ' ends them
        (
            ["bash", "-c", "cp {{ a }} {{ b }}"],
            ["bash", "-c", 'cp "$1" "$2"', "bash", "{{ a }}", "{{ b }}"],
        ),
        (  # arguments already there: $0 is theirs, the templates come after them
            ["sh", "-c", 'echo "$1" {{ b }}', "me", "{{ a }}"],
            ["sh", "-c", 'echo "$1" "$2"', "me", "{{ a }}", "{{ b }}"],
        ),
        (["sh", "-c", "{% if x %}echo{% endif %}"], None),
    ],
    ids=["bare", "double-quoted", "single-quoted", "two", "after-arguments", "statement"],
)
def test_the_safe_form_passes_each_template_as_an_argument(
    argv: list[str], safe: list[str] | None
) -> None:
    assert safe_form(argv, script_index(argv) or 0) == safe


def test_no_warning_for_the_safe_form_or_a_script_without_templates() -> None:
    assert shell_warnings(SAFE) == []
    assert shell_warnings(["sh", "-c", "echo hi; date"]) == []
    assert shell_warnings(["echo", "{{ msg }}"]) == []


@pytest.mark.e2e
def test_serve_logs_the_warning_once_at_start(tmp_path: Path) -> None:
    config = """
[daemon]
database = "{database}"
listen = ""

[jobs.echo]
command = ["sh", "-c", "echo {{ msg }}"]

[jobs.echo.parameters.msg]
type = "string"
default = "hi"
"""
    with DaemonProcess(tmp_path, config) as daemon:
        line = (
            f"config warning: {daemon.config_path}: jobs.echo.command[2]: a template inside the "
            "script of 'sh -c' is injectable"
        )
        wait_until(lambda: line in daemon.log(), 10, "the warning in the daemon's log")
        assert daemon.log().count(line) == 1
