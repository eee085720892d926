"""clocks/ stays pure: it imports nothing from scheduler/, does no I/O, reads no clock, no
environment, and logs nothing. Checked on the source (AST), so a lazy import inside a
function counts too; the checker itself is tested on a sample that breaks every rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Modules whose import means I/O, the environment, the clock, randomness, processes,
# logging or the daemon. (zoneinfo and pendulum read the time-zone database: that is data,
# like a table, and allowed; importlib loads the library face's own modules lazily, and
# tests/clocks/test_face.py checks they are all clocks modules.)
FORBIDDEN_MODULES = frozenset(
    {
        "scheduler",
        "os",
        "io",
        "sys",
        "socket",
        "ssl",
        "select",
        "selectors",
        "subprocess",
        "multiprocessing",
        "threading",
        "asyncio",
        "signal",
        "sqlite3",
        "sqlite_utils",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "fcntl",
        "mmap",
        "logging",
        "warnings",
        "time",
        "random",
        "secrets",
        "uuid",
        "platform",
        "urllib",
        "http",
        "httpx",
        "requests",
        "ctypes",
        "atexit",
    }
)
# Calls that read the clock or do I/O, whatever object they are called on.
FORBIDDEN_METHODS = frozenset(
    {
        "now",
        "utcnow",
        "today",
        "yesterday",
        "tomorrow",
        "local_timezone",
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "open",
    }
)
FORBIDDEN_BUILTINS = frozenset({"open", "print", "input", "breakpoint", "__import__"})


def violations(source: str, filename: str) -> list[str]:
    """Every broken rule in `source`, as `file:line: what`, in source order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append((node.lineno, f"imports {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:
                found.append((node.lineno, "imports from outside clocks/ (relative)"))
            elif node.level == 0 and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                found.append((node.lineno, f"imports from {node.module}"))
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id in FORBIDDEN_BUILTINS:
                found.append((node.lineno, f"calls {function.id}()"))
            elif isinstance(function, ast.Attribute) and (
                function.attr in FORBIDDEN_METHODS or _base_name(function) in FORBIDDEN_MODULES
            ):
                # time.time(), os.getenv(): a forbidden module reached without importing it
                # here (a name handed in), or any object's now()/today()/open().
                found.append((node.lineno, f"calls {ast.unparse(function)}()"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(found)]


def _base_name(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


CLOCK_FILES = sorted((ROOT / "clocks").glob("*.py"))


def test_there_are_clock_modules_to_check() -> None:
    names = {path.name for path in CLOCK_FILES}
    assert {"__init__.py", "cron.py", "interval.py", "parameters.py", "schedule.py"} <= names


@pytest.mark.parametrize("path", CLOCK_FILES, ids=[path.name for path in CLOCK_FILES])
def test_clock_module_is_pure(path: Path) -> None:
    assert violations(path.read_text(), f"clocks/{path.name}") == []


SAMPLE = """\
import os
import logging.handlers
from scheduler.web import api
from time import time
from . import cron
from ..scheduler import store
import datetime as dt


def fire():
    import sqlite3
    stamp = dt.datetime.now()
    day = dt.date.today()
    print(open("/etc/hostname").read())
    return time.time(), __import__("socket")
"""


def test_the_checker_finds_every_kind_of_violation() -> None:
    assert violations(SAMPLE, "sample.py") == [
        "sample.py:1: imports os",
        "sample.py:2: imports logging.handlers",
        "sample.py:3: imports from scheduler.web",
        "sample.py:4: imports from time",
        "sample.py:6: imports from outside clocks/ (relative)",
        "sample.py:11: imports sqlite3",
        "sample.py:12: calls dt.datetime.now()",
        "sample.py:13: calls dt.date.today()",
        "sample.py:14: calls open()",
        "sample.py:14: calls print()",
        "sample.py:15: calls __import__()",
        "sample.py:15: calls time.time()",
    ]
