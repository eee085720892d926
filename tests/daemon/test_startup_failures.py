"""`clockd serve` that cannot start says so in one line and exits with the sysexits code of
spec 7, so that the shipped unit does not restart it in a loop on faults a restart cannot
fix (`RestartPreventExitStatus=78 77 73 66`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import clockd_argv

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = ""

[jobs.tick]
command = ["true"]
"""


def serve(tmp_path: Path, database: str, *, fsize: int | None = None) -> tuple[int, str]:
    config = tmp_path / "clockd.toml"
    config.write_text(CONFIG.replace("{database}", database))

    def limit() -> None:
        import resource

        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

    done = subprocess.run(
        [*clockd_argv(), "serve", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limit,
    )
    return done.returncode, done.stdout + done.stderr


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    errors = [line for line in lines if " ERROR " in line]
    assert len(errors) == 1, output
    return errors[0]


def test_a_folder_clockd_may_not_write_exits_77(tmp_path: Path) -> None:
    # /sys refuses to create files, even for root (the tests may run as root, for whom a
    # chmod would not do).
    code, output = serve(tmp_path, "/sys/clockd-test/clockd.db")
    assert code == 77
    assert "permission denied" in one_line(output)


def test_a_database_path_below_a_file_cannot_be_created_exits_73(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    code, output = serve(tmp_path, str(tmp_path / "plain-file" / "clockd.db"))
    assert code == 73
    assert "cannot be created" in one_line(output)


def test_a_corrupt_database_exits_66(tmp_path: Path) -> None:
    database = tmp_path / "clockd.db"
    database.write_bytes(b"this is not a SQLite file at all " * 200)
    code, output = serve(tmp_path, str(database))
    assert code == 66
    assert "corrupt" in one_line(output)


def test_no_room_for_the_database_exits_74(tmp_path: Path) -> None:
    # The file may not grow past 100 bytes: creating the schema fails as on a full disk.
    # (The daemon's own output is a pipe here, which the limit does not touch.)
    code, output = serve(tmp_path, str(tmp_path / "clockd.db"), fsize=100)
    assert code == 74
    assert "I/O error" in one_line(output) or "disk is full" in one_line(output)
