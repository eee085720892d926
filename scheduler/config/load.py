"""Read the main file and its includes, build the frozen Config, or raise every Problem at once.

Files are named in problems as the user named them: the main file exactly as given
(`--config config/demo.toml` → `config/demo.toml`; found in the current folder →
`clockd.toml`), an included file as the main file's folder joined with the include
pattern's match (`config/jobs.d/backup.toml`), so every name can be opened from where
the command ran.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.config.calendars import build_calendars
from scheduler.config.executors import build_executors, check_public_url
from scheduler.config.find import find_config_path
from scheduler.config.jobs import build_job, job_path, sample_now
from scheduler.config.keys import DAEMON_KEYS, INCLUDED_TOP_KEYS, TOP_KEYS
from scheduler.config.values import Section, describe
from scheduler.models import DEFAULT_LISTEN, Config, DaemonSettings
from scheduler.problems import ConfigError, Problem

_TOML_POSITION = re.compile(
    r"^(?P<message>.*?) \((?:at line (?P<line>\d+), column (?P<column>\d+)|at end of document)\)$"
)


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    now: datetime | None = None,
) -> Config:
    """Read and validate the whole config; raise ConfigError with every problem found.

    `now` is the moment used to try each clock once: its next fire after `now` is the
    sample `scheduled_time` with which dynamic parameter values must render and fit.

    >>> config = load_config("config/demo.toml")  # doctest: +SKIP
    >>> config.jobs["report"].clocks[0].name       # doctest: +SKIP
    'small'
    """
    main = find_config_path(path, environ)
    moment = sample_now(now)
    display = str(main)
    folder = main.absolute().parent
    problems: list[Problem] = []
    warnings: list[Problem] = []

    document = read_toml(main, display, problems)
    if document is None:
        raise ConfigError(problems)
    top = Section(display, "", document, problems)
    top.check_keys(TOP_KEYS)
    daemon_section = Section(display, "daemon", top.table_of("daemon"), problems)
    daemon = build_daemon(daemon_section, folder, environ)
    executors = build_executors(
        Section(display, "executors", top.table_of("executors"), problems), folder, daemon, warnings
    )

    sources: list[tuple[str, Path, dict[str, Any]]] = [(display, main.absolute(), document)]
    for shown, included in _included_files(daemon_section, display, main):
        included_document = read_toml(included, shown, problems)
        if included_document is None:
            continue
        section = Section(shown, "", included_document, problems)
        for key in included_document:
            if key == "daemon":
                section.report(
                    "[daemon] settings belong in the main file; an included file holds only [jobs.*] and [calendars.*]"
                )
            elif key not in INCLUDED_TOP_KEYS:
                section.report(
                    f"unknown key '{key}': an included file holds only [jobs.*] and [calendars.*] tables"
                )
        sources.append((shown, included.absolute(), included_document))

    calendar_tables = [
        Section(
            shown,
            "calendars",
            Section(shown, "", content, problems).table_of("calendars"),
            problems,
        )
        for shown, _, content in sources
    ]
    calendars = (
        build_calendars(calendar_tables, moment) if any(s.table for s in calendar_tables) else {}
    )
    jobs = {}
    declared_in: dict[str, str] = {}
    for shown, source, content in sources:
        tables = Section(shown, "", content, problems).table_of("jobs")
        for name, table in tables.items():
            if name in declared_in:
                problems.append(
                    Problem(
                        shown,
                        job_path(name),
                        f"job '{name}' is already defined in {declared_in[name]}: job names are unique across files",
                    )
                )
                continue
            declared_in[name] = shown
            job = build_job(
                name,
                table,
                file=shown,
                folder=source.parent,
                source=source,
                daemon=daemon,
                problems=problems,
                now=moment,
                warnings=warnings,
                executors=executors,
                calendars=calendars,
            )
            if job is not None:
                jobs[name] = job
    if problems:
        raise ConfigError(problems)
    return Config(
        path=main.absolute(),
        daemon=daemon,
        jobs=jobs,
        files=tuple(source for _, source, _ in sources),
        executors=executors,
        warnings=tuple(warnings),
    )


def load_daemon_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] = os.environ
) -> tuple[DaemonSettings, list[Problem]]:
    """For commands that need only `[daemon]` (reading history, spec 4): its settings, and
    the problems found elsewhere in the config, to be shown as warnings. ConfigError when
    the main file cannot be read or `[daemon]` itself has a problem."""
    try:
        return load_config(path, environ=environ).daemon, []
    except ConfigError as error:
        elsewhere = error.problems
    main = find_config_path(path, environ)
    display = str(main)
    problems: list[Problem] = []
    document = read_toml(main, display, problems)
    if document is None:
        raise ConfigError(problems)
    table = document.get("daemon", {})
    if not isinstance(table, dict):
        raise ConfigError([Problem(display, "daemon", f"expected a table, got {describe(table)}")])
    section = Section(display, "daemon", table, problems)
    daemon = build_daemon(section, main.absolute().parent, environ)
    if problems:
        raise ConfigError(problems)
    return daemon, elsewhere


def read_toml(path: Path, shown: str, problems: list[Problem]) -> dict[str, Any] | None:
    """The parsed file, or None with a problem (unreadable, not UTF-8, TOML syntax with line and column)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        problems.append(Problem(shown, "", f"cannot read the file: {error.strerror or error}"))
        return None
    except UnicodeDecodeError as error:
        problems.append(
            Problem(shown, "", f"not UTF-8 text (byte {error.start}): save the file as UTF-8")
        )
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_POSITION.match(str(error))
        message = found["message"] if found else str(error)
        message = message[:1].lower() + message[1:]
        where = (
            f"line {found['line']}, column {found['column']}"
            if found and found["line"]
            else ("end of file" if found else "")
        )
        lines = text.splitlines()
        if found and found["line"] and int(found["line"]) <= len(lines):
            line = lines[int(found["line"]) - 1].strip()
            if line:
                message += f"; the line reads: {line[:80]}"
        problems.append(Problem(shown, where, f"invalid TOML: {message}"))
        return None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$")


def _daemon_name(section: Section) -> str | None:
    """`[daemon] name`: this daemon's name among several (spec 8); None: decided at start
    ($CLOCKD_NAME or `--name`, else the hostname)."""
    name = section.string("name", "")
    if name and not _NAME.match(name):
        section.report(
            f"invalid name '{name[:80]}': letters, digits, '.', '_', '@' and '-', "
            "at most 63 characters, starting with a letter or digit",
            "name",
        )
        return None
    return name or None


def database_location(database: str, folder: Path, environ: Mapping[str, str] | None = None) -> str:
    """A database server's URL as given; a SQLite file as an absolute path: relative to
    `$STATE_DIRECTORY` when systemd gives one (the unit's StateDirectory; a config under
    /etc must not put its history there), else to the main file's folder."""
    from scheduler.storage import is_url

    if is_url(database):
        return database
    state = (environ or {}).get("STATE_DIRECTORY", "").split(":")[0]
    base = Path(state) if state else folder
    return str((base / Path(database).expanduser()).absolute())


def build_daemon(
    section: Section, folder: Path, environ: Mapping[str, str] | None = None
) -> DaemonSettings:
    """[daemon] → DaemonSettings; relative paths are relative to the main file's folder."""
    from clocks.errors import ClockError
    from clocks.localtime import get_zone

    section.check_keys(DAEMON_KEYS)
    database = section.string("database", "clockd.db", allow_empty=False)
    timezone = section.string("timezone", "UTC", allow_empty=False)
    try:
        get_zone(timezone)
    except ClockError as error:
        section.report(error.message, "timezone")
        timezone = "UTC"
    listen = section.string("listen", DEFAULT_LISTEN)
    token_text = section.string("token_file", "")
    token_file = (folder / Path(token_text).expanduser()).absolute() if token_text else None
    if listen:
        _check_listen(section, listen, has_token=token_file is not None)
    return DaemonSettings(
        database=database_location(database, folder, environ),
        timezone=timezone,
        listen=listen,
        token_file=token_file,
        max_concurrent_runs=section.integer("max_concurrent_runs", 16, minimum=1),
        shutdown_grace=section.duration("shutdown_grace", timedelta(seconds=30)) or timedelta(0),
        log_format=section.choice("log_format", ("text", "json"), "text"),  # type: ignore[arg-type]
        max_parameters_bytes=section.integer("max_parameters_bytes", 1024 * 1024, minimum=1),
        max_log_bytes=section.size("max_log_bytes", 10 * 1024 * 1024, minimum=1),
        keep_runs_for=section.duration("keep_runs_for", None, positive=True),
        catchup_limit=section.integer("catchup_limit", 100, minimum=1),
        name=_daemon_name(section),
        database_password=_database_password(section, database, folder),
        daemon_timeout=section.duration("daemon_timeout", timedelta(seconds=30), positive=True)
        or timedelta(seconds=30),
        executor=section.string("executor", "local", allow_empty=False),
        public_url=check_public_url(section),
    )


def _database_password(section: Section, database: str, folder: Path) -> str | None:
    """`[daemon] database_password`: a secret reference, never the password itself (a
    relative `file:` path is taken from the main file's folder)."""
    from scheduler.storage import is_url

    reference = section.string("database_password", "")
    if not reference:
        return None
    kind, _, target = reference.partition(":")
    if kind not in ("env", "file") or not target:
        section.report(
            "database_password must be a secret reference, env:NAME or file:PATH, never the "
            "password itself",
            "database_password",
        )
        return None
    if not is_url(database):
        section.report(
            'database_password is for a PostgreSQL database (database = "postgresql://..."); '
            "a SQLite file has no password",
            "database_password",
        )
        return None
    if kind == "file":
        return "file:" + str((folder / Path(target).expanduser()).absolute())
    return str(reference)


def split_listen(listen: str) -> tuple[str, int] | None:
    """'127.0.0.1:8787' / '[::1]:8787' / 'localhost:0' → (host, port), or None.

    Port 0 asks the system for a free port (tests use it).
    """
    host, _, port = listen.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        return None
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_listen(section: Section, listen: str, *, has_token: bool) -> None:
    parts = split_listen(listen)
    if parts is None:
        section.report(
            f"invalid address {describe(listen)}: use HOST:PORT such as '127.0.0.1:8787' or '[::1]:8787', "
            'or "" to turn the API off',
            "listen",
        )
    elif not is_loopback(parts[0]) and not has_token:
        section.report(
            f"'{listen}' is not a loopback address and no token_file is set: the daemon refuses to "
            "serve its API unauthenticated; set daemon.token_file or listen on 127.0.0.1",
            "listen",
        )


def _included_files(section: Section, display: str, main: Path) -> list[tuple[str, Path]]:
    """(name as shown, path) of each included file, in pattern order, each file once."""
    if not section.has("include"):
        return []
    raw = section.table["include"]
    patterns = [raw] if isinstance(raw, str) else raw
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        section.report(
            f"expected an array of file patterns such as ['jobs.d/*.toml'], got {describe(raw)}",
            "include",
        )
        return []
    base = os.path.dirname(display)
    seen = {main.resolve()}
    result = []
    for pattern in patterns:
        joined = os.path.join(base, os.path.expanduser(pattern))
        matches = sorted(glob.glob(joined))
        if not matches and not glob.has_magic(pattern):
            section.report(f"included file '{pattern}' does not exist", "include")
        for match in matches:
            path = Path(match)
            if not path.is_file() or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            result.append((os.path.normpath(match), path))
    return result
