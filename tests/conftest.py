"""Shared pytest setup: browser availability, and the repository root for subprocess tests."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM:
        return
    required = os.environ.get("CLOCKD_REQUIRE_BROWSER") == "1"
    for item in items:
        if "browser" not in item.keywords:
            continue
        if required:
            item.add_marker(pytest.mark.usefixtures("_require_chromium"))
        else:
            item.add_marker(
                pytest.mark.skip(
                    reason="BROWSER TESTS SKIPPED: Debian's chromium is not installed "
                    "(apt-get install chromium); set CLOCKD_REQUIRE_BROWSER=1 to make this a failure"
                )
            )


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if _POSTGRES_SKIPPED:
        terminalreporter.write_line(
            "WARNING: PostgreSQL tests were skipped: " + _POSTGRES_SKIPPED[0], red=True, bold=True
        )
    if not CHROMIUM and os.environ.get("CLOCKD_REQUIRE_BROWSER") != "1":
        terminalreporter.write_line(
            "WARNING: browser tests were skipped: chromium is missing (apt-get install chromium)",
            red=True,
            bold=True,
        )


@pytest.fixture
def _require_chromium() -> None:
    pytest.fail("CLOCKD_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")


@pytest.fixture
def chromium_path() -> str:
    if not CHROMIUM:
        pytest.skip("chromium is not installed")
    return CHROMIUM


@pytest.fixture
def clockd_bin() -> list[str]:
    """The clockd command as argv, from this interpreter's environment."""
    candidate = Path(sys.executable).parent / "clockd"
    return [str(candidate)] if candidate.exists() else [sys.executable, "-m", "scheduler.cli"]


# -- PostgreSQL (spec 8): one server per session, a fresh database per test -----------------

_POSTGRES_SKIPPED: list[str] = []


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server (tests/pgserver.py). Skipped loudly when the package is
    missing, unless CLOCKD_REQUIRE_POSTGRES=1 (set by .ci/run) makes that a failure."""
    from tests.pgserver import PostgresServer, find_bin

    required = os.environ.get("CLOCKD_REQUIRE_POSTGRES") == "1"
    reason = None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "psycopg is not installed (pip install 'psycopg[binary]')"
    if reason is None and find_bin() is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql)"
    if reason is not None:
        if required:
            pytest.fail(f"CLOCKD_REQUIRE_POSTGRES=1 but {reason}")
        _POSTGRES_SKIPPED[:] = [reason]
        pytest.skip(f"POSTGRESQL TESTS SKIPPED: {reason}; set CLOCKD_REQUIRE_POSTGRES=1 to fail")
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):  # type: ignore[no-untyped-def]
    """The URL of a new, empty database on the session's server."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
