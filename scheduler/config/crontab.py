"""A crontab → clockd TOML (spec 4, `clockd import-crontab`).

What cron did, clockd does the same way where it can:
- each line runs through a shell (`["/bin/sh", "-c", LINE]`, or $SHELL when the crontab set it),
  so quoting, pipes and `$VARS` behave as before; clockd parameters are not used;
- `CRON_TZ=ZONE` sets the time zone of the lines below it; other `NAME=value` lines become
  the `env` of the jobs below them (`MAILTO`/`MAILFROM` are kept as comments: clockd sends
  no mail — use on_failure hooks);
- `RANDOM_DELAY=N` (cronie: start up to N minutes late) becomes the clocks' `jitter = "Nm"`;
- cron does not run missed jobs, so every clock gets `catchup = "none"`;
- `@reboot`, a `%` in the command (stdin for the command) and expressions clockd refuses are
  reported and kept as comments.
A line whose command and environment equal an earlier line's becomes another clock of that job.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

__all__ = ["CrontabImport", "import_crontab"]

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_ENV_LINE = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$")
_MAIL_VARIABLES = ("MAILTO", "MAILFROM", "CONTENT_TYPE", "CONTENT_TRANSFER_ENCODING")
# Programs that run another command: (options that take a value, positional arguments before it).
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-p", "-C"}), 0),
    "nice": (frozenset({"-n"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p"}), 0),
    "env": (frozenset({"-u", "-C"}), 0),
    "exec": (frozenset({"-a"}), 0),
    "timeout": (frozenset({"-s", "-k"}), 1),
    "flock": (frozenset({"-w", "-E", "-c"}), 1),
    "chronic": (frozenset(), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "-o"}), 0),
}
_INTERPRETERS = re.compile(r"^(python[\d.]*|sh|bash|dash|zsh|perl|ruby|node|php[\d.]*|uv|poetry)$")


@dataclass
class _Line:
    """One crontab line that became a clock."""

    schedule: str
    zone: str | None  # from CRON_TZ
    jitter: str | None  # from RANDOM_DELAY
    number: int
    user: str  # system crontabs only
    comments: list[str]


@dataclass
class _Job:
    name: str
    command: str
    shell: str
    env: dict[str, str]
    comments: list[str] = field(default_factory=list)
    clocks: list[_Line] = field(default_factory=list)


@dataclass
class CrontabImport:
    """The TOML text, and one warning per line that could not be converted."""

    toml: str
    warnings: list[str]
    jobs: int
    lines: int = 0  # cron lines converted (each a clock)
    refused: int = 0  # cron lines not converted (each has its warning)
    users: tuple[str, ...] = ()  # the users system crontab lines named, in order


def import_crontab(
    text: str,
    *,
    source: str = "crontab",
    timezone: str = "UTC",
    system: bool = False,
    jobs_only: bool = False,
) -> CrontabImport:
    """Convert crontab `text`; `timezone` is the zone cron used (the system's local zone).

    `system=True` reads /etc/crontab and /etc/cron.d lines, which name a user after the schedule.
    `jobs_only=True` leaves out the `[daemon]` table (to paste the jobs into a config that has
    one): each clock then names the zone itself.

    >>> result = import_crontab("30 2 * * * /usr/local/bin/backup --full\\n")
    >>> '"/bin/sh", "-c", "/usr/local/bin/backup --full"' in result.toml
    True
    """
    reader = _Reader(source=source, system=system, timezone=timezone)
    for number, raw in enumerate(text.splitlines(), start=1):
        reader.read_line(number, raw.strip())
    lines = [entry for job in reader.jobs.values() for entry in job.clocks]
    return CrontabImport(
        toml=_render(reader, timezone, jobs_only=jobs_only),
        warnings=reader.warnings,
        jobs=len(reader.jobs),
        lines=len(lines),
        refused=reader.refused,
        users=tuple(dict.fromkeys(entry.user for entry in lines if entry.user)),
    )


@dataclass
class _Reader:
    """The state of a crontab read top to bottom: settings apply to the lines below them."""

    source: str
    system: bool
    timezone: str
    warnings: list[str] = field(default_factory=list)
    refused: int = 0  # cron lines (not settings) that were not converted
    header: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    shell: str = "/bin/sh"
    zone: str | None = None  # CRON_TZ
    jitter: str | None = None  # RANDOM_DELAY
    pending: list[str] = field(default_factory=list)  # comments waiting for the next job
    jobs: dict[str, _Job] = field(default_factory=dict)
    by_key: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Job] = field(default_factory=dict)

    def warn(self, number: int, line: str, reason: str) -> None:
        self.warnings.append(f"{self.source}:{number}: {reason}: {line}")
        self.pending.append(f"NOT IMPORTED (line {number}, {reason}): {line}")

    def read_line(self, number: int, line: str) -> None:
        if not line:
            if self.pending:
                self.pending.append("")
        elif line.startswith("#"):
            self.pending.append(line[1:].strip())
        elif (found := _ENV_LINE.match(line)) and not line[0].isdigit() and line[0] not in "*@":
            self.read_setting(number, line, found["name"], _unquote(found["value"]))
        else:
            self.read_entry(number, line)

    def read_setting(self, number: int, line: str, name: str, value: str) -> None:
        from clocks.errors import ClockError
        from clocks.localtime import get_zone

        if name == "CRON_TZ":
            try:
                get_zone(value)
            except ClockError:
                self.warn(number, line, f"unknown time zone '{value}'")
                return
            self.zone = value
        elif name == "RANDOM_DELAY":
            # cronie: delay each start by up to this many minutes → a clock's jitter.
            self.jitter = f"{int(value)}m" if value.isdigit() and int(value) > 0 else None
        elif name in _MAIL_VARIABLES:
            self.header.append(
                f"{name}={value} (line {number}): clockd sends no mail; use on_failure hooks"
            )
        elif name == "SHELL":
            self.shell = value or "/bin/sh"
        else:
            self.env = {**self.env, name: value}

    def read_entry(self, number: int, line: str) -> None:
        warnings = len(self.warnings)
        self._read_entry(number, line)
        if len(self.warnings) > warnings:
            self.refused += 1

    def _read_entry(self, number: int, line: str) -> None:
        from clocks.cron import CronClock
        from clocks.errors import ClockError

        schedule, rest = _split_schedule(line)
        if schedule is None:
            self.warn(number, line, "not a cron line")
            return
        if schedule == "@reboot":
            reason = "@reboot is not supported: clockd has no boot trigger; use a systemd unit"
            self.warn(number, line, reason)
            return
        user = ""
        if self.system:
            user, _, rest = rest.partition(" ")
        command, problem = _cron_command(rest.strip())
        if problem:
            self.warn(number, line, problem)
            return
        try:
            CronClock(name="import", expression=schedule, timezone=self.zone or self.timezone)
        except ClockError as error:
            self.warn(number, line, error.message)
            return
        comments = _trim(self.pending)
        self.pending.clear()
        key = (self.shell, command, tuple(sorted(self.env.items())))
        job = self.by_key.get(key)
        if job is None:
            name = _unique(_job_name(command), self.jobs)
            job = _Job(name, command, self.shell, dict(self.env), comments)
            self.jobs[name] = self.by_key[key] = job
            comments = []
        job.clocks.append(_Line(schedule, self.zone, self.jitter, number, user, comments))


def _render(reader: _Reader, timezone: str, *, jobs_only: bool = False) -> str:
    out = [
        f"# Imported from {reader.source} by `clockd import-crontab`. Check it with `clockd check`.",
        "# Each job runs its crontab line through a shell, as cron did: quoting, pipes and $VARIABLES",
        "# work as before, and clockd parameters are not used. cron does not run missed jobs,",
        '# hence catchup = "none". cron started commands in the home directory; clockd starts',
        "# them in workdir (default: this file's folder).",
    ]
    out += [f"# {item}" for item in reader.header]
    if not jobs_only:
        out += [
            "",
            "[daemon]",
            f"timezone = {_string(timezone)}   # the zone cron used for lines without CRON_TZ",
        ]
    for job in reader.jobs.values():
        out.append("")
        out += [f"# {comment}".rstrip() for comment in job.comments]
        out.append(f"[jobs.{job.name}]")
        out.append(f'command = [{_string(job.shell)}, "-c", {_string(job.command)}]')
        if job.env:
            pairs = ", ".join(f"{_key(k)} = {_string(v)}" for k, v in job.env.items())
            out.append(f"env = {{ {pairs} }}")
        for entry in job.clocks:
            out.append("")
            out += [f"# {comment}".rstrip() for comment in entry.comments]
            ran_as = f", ran as user '{entry.user}'" if entry.user else ""
            out += [f"[[jobs.{job.name}.clocks]]", f"# crontab line {entry.number}{ran_as}"]
            out.append(f"cron = {_string(entry.schedule)}")
            if entry.zone:
                out.append(f"timezone = {_string(entry.zone)}   # from CRON_TZ")
            elif jobs_only:  # no [daemon] timezone to fall back on: the zone cron used
                out.append(f"timezone = {_string(timezone)}")
            if entry.jitter:
                out.append(f"jitter = {_string(entry.jitter)}   # from RANDOM_DELAY")
            out.append('catchup = "none"')
    trailing = _trim(reader.pending)
    if trailing:
        out.append("")
        out += [f"# {comment}".rstrip() for comment in trailing]
    return "\n".join(out) + "\n"


def _split_schedule(line: str) -> tuple[str | None, str]:
    if line.startswith("@"):
        macro, *rest = line.split(None, 1)
        macro = macro.lower()
        if macro == "@reboot" or macro in MACROS:
            return macro, rest[0] if rest else ""
        return None, line
    parts = line.split(None, 5)
    if len(parts) < 6:
        return None, line
    return " ".join(parts[:5]), parts[5]


def _cron_command(text: str) -> tuple[str, str | None]:
    """cron's command text: `\\%` is a literal %, the first other % starts the command's stdin."""
    result = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text[index + 1 : index + 2] == "%":
            result.append("%")
            index += 2
            continue
        if char == "%":
            return (
                "",
                "a % in the command sends the rest as its stdin, which clockd does not support; write \\% for a literal %",
            )
        result.append(char)
        index += 1
    command = "".join(result).strip()
    return (command, None) if command else ("", "no command")


def _job_name(command: str) -> str:
    """A readable name from the program a shell line runs: `cd /srv && ./backup.sh -q` → backup."""
    for segment in re.split(r"&&|\|\||;|\|", command):
        try:
            words = shlex.split(segment)
        except ValueError:
            words = segment.split()
        words = [w for w in words if not re.match(r"^[A-Za-z_]\w*=", w)]
        while words and words[0] in _WRAPPERS:
            takes_value, positional = _WRAPPERS[words.pop(0)]
            while words and words[0].startswith("-"):
                option = words.pop(0)
                if option in takes_value and words:
                    words.pop(0)
            words = words[positional:]
        if not words or words[0] in ("cd", "test", "[", "true", ":"):
            continue
        program = words[0].rsplit("/", 1)[-1]
        if _INTERPRETERS.match(program):
            script = next((w for w in words[1:] if not w.startswith("-")), None)
            if script:
                program = script.rsplit("/", 1)[-1]
        slug = re.sub(r"[^a-z0-9]+", "-", program.rsplit(".", 1)[0].lower()).strip("-")[:40]
        if slug:
            return slug if slug[0].isalnum() else f"job-{slug}"
    return "job"


def _unique(name: str, taken: dict[str, _Job]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    return list(lines)


def _string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)
