"""A real PostgreSQL server for the tests and benchmarks, from Debian's `postgresql` package.

`initdb` and `pg_ctl` live under /usr/lib/postgresql/<version>/bin and refuse to run as
root: as root they run as the `postgres` user (`runuser`), in a folder that user owns
(pytest's own temporary folders are private to root). The server listens on 127.0.0.1 at a
free port and on a socket in its folder; `trust` authentication, so URLs carry no password.

    server = PostgresServer.start()
    url = server.create_database()        # postgresql://postgres@127.0.0.1:PORT/clockd_1
    server.restart()                      # what a failover looks like to a client
    server.stop()
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "postgres"


def find_bin() -> Path | None:
    """Debian's server binaries (the newest version installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self, bindir: Path, folder: Path, port: int, *, fast: bool = True) -> None:
        self.fast = fast
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self._names = itertools.count(1)

    @classmethod
    def start(cls, bindir: Path | None = None, *, fast: bool = True) -> PostgresServer:
        """`fast`: without fsync (tests); else only `synchronous_commit = off`, as SQLite's
        `synchronous = NORMAL` (benchmarks): a crash of the machine may lose the last
        commits, never the database."""
        bindir = bindir or find_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        folder = Path(tempfile.mkdtemp(prefix="clockd-pg-"))
        os.chmod(folder, 0o755)
        if os.geteuid() == 0:
            shutil.chown(folder, USER, USER)
        server = cls(bindir, folder, free_port(), fast=fast)
        server._run("initdb", "-D", str(server.data), "-A", "trust", "-U", USER, "-E", "UTF8")
        server._pg_ctl("start")
        return server

    def _command(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bindir / tool), *args]
        return ["runuser", "-u", USER, "--", *argv] if os.geteuid() == 0 else argv

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            self._command(tool, *args),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c synchronous_commit=off -c max_connections=200"
        )
        if self.fast:
            options += " -c fsync=off -c full_page_writes=off"
        args = ["-D", str(self.data), "-l", str(self.folder / "server.log"), "-w"]
        if action in ("start", "restart"):
            args += ["-o", options]
        self._run("pg_ctl", *args, *extra, action)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = name or f"clockd_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def restart(self) -> None:
        """Stop (fast: clients are disconnected) and start again on the same port."""
        self._pg_ctl("stop", "-m", "fast")
        self._pg_ctl("start")

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
