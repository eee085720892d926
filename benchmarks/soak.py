"""Soak and fault suite: SIGKILL a real `clockd serve` at random moments, restart it, and
check from the history that every fire ran exactly once per its clock's catch-up rule, that
no run is left pending or running, and that no process of a run outlived its daemon.

    .venv/bin/python benchmarks/soak.py                     # 10 minutes, then the figures
    .venv/bin/python benchmarks/soak.py --minutes 1 --seed 7

The daemon (SQLite, no API) runs clocks of every catch-up policy firing each second, a burst
of 30 clocks every fifth second, a job whose runs keep a grandchild in their group (retried
once when they crash) and one whose runs leave a process in a session of its own. Each life
ends with a SIGKILL of the daemon alone (its runs' groups stay, as after a crash): at a
random moment, or right after a burst instant, while its 30 runs start. It is restarted
after a random pause. The last life ends with SIGTERM.

What is checked, from the database and the harness's own times (kill, start, READY=1):
- lost: an expected fire without a run. Expected: `all` every fire; `none` every fire
  outside the down windows (from a kill, less a second of claims in flight, to the next
  READY=1); `latest` those, plus the latest fire of each down window that has no run of its
  own (the one catch-up run).
- duplicated: a fire with more than one run; unexpected: a run at no fire time, a catch-up
  run a `none` clock should not have, a second catch-up run in one down window.
- unfinished: runs left pending or running after the last, clean, stop.
- orphans: processes of a dead instance's runs (found by a mark of the soak's own in every
  job's `env`, and their CLOCKD_RUN_ID) alive at READY=1 of the next instance, and any run
  process (the mark, or a recorded group leader with its start time) alive after the last
  stop.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLOCKD = Path(sys.executable).parent / "clockd"
BURST = 30  # clocks due at every fifth second
EDGE = timedelta(seconds=1)
MARK = "CLOCKD_SOAK"  # a fire this close before a kill may have its claim in flight


def config_text(name: str) -> str:
    # Every process of every run carries the soak's own mark (the job's `env`): orphans are
    # found whatever marks clockd itself gives its runs.
    marker = f'env = {{ {MARK} = "{name}" }}'
    lines = [
        "[daemon]",
        'database = "clockd.db"',
        'listen = ""',
        f'name = "{name}"',
        'shutdown_grace = "2s"',
        "",
        "[jobs.tick]",
        marker,
        'command = ["true"]',
    ]
    for clock, rule in (("all", "all"), ("latest", "latest"), ("none", "none")):
        lines += ["[[jobs.tick.clocks]]", f'name = "{clock}"', 'cron = "* * * * * *"']
        lines.append(f'catchup = "{rule}"')
    lines += [
        "[[jobs.tick.clocks]]",
        'name = "every2"',
        'interval = "2s"',
        'start = "2026-01-01T00:00:00Z"',
        'catchup = "latest"',
        "",
        "[jobs.burst]",
        marker,
        'command = ["true"]',
    ]
    for index in range(BURST):
        lines += ["[[jobs.burst.clocks]]", f'name = "b{index:02d}"', 'cron = "*/5 * * * * *"']
        lines.append('catchup = "all"')
    lines += [
        "",
        "[jobs.slow]",
        marker,
        'command = ["sh", "-c", "sleep 30 >/dev/null 2>&1 & sleep 2"]',
        "retries = 1",
        'retry_delay = "1s"',
        "[[jobs.slow.clocks]]",
        'name = "s"',
        'cron = "* * * * * *"',
        'catchup = "all"',
        "",
        "[jobs.escaping]",
        marker,
        'command = ["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 & sleep 1"]',
        "[[jobs.escaping.clocks]]",
        'name = "e"',
        'cron = "*/3 * * * * *"',
        'catchup = "none"',
        "",
    ]
    return "\n".join(lines)


def now() -> datetime:
    return datetime.now(UTC)


def marked_processes(name: str) -> dict[int, int]:
    """pid → run id of every live process that carries this soak's mark."""
    found: dict[int, int] = {}
    mark = f"{MARK}={name}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry}/environ", "rb") as environ:
                items = environ.read().split(b"\0")
        except (OSError, IndexError):
            continue
        if mark in items:
            values = dict(item.split(b"=", 1) for item in items if b"=" in item)
            found[int(entry)] = int(values.get(b"CLOCKD_RUN_ID", b"0") or 0)
    return found


def process_start(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return None if fields[0] == b"Z" else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Life:
    """One daemon instance, in wall time."""

    started: datetime
    ready: datetime
    first_id: int  # runs with a greater id were created by this life or a later one
    ended: datetime | None = None
    killed: bool = True
    marked_at_ready: dict[int, int] = field(default_factory=dict)  # pid → run id


@dataclass
class Figures:
    kills: int = 0
    after_burst: int = 0
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    orphans: int = 0
    unfinished: int = 0
    runs: int = 0
    crashed: int = 0
    retried: int = 0
    problems: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "problems"}


class Harness:
    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.random = random.Random(seed)
        self.name = f"soak-{uuid.uuid4().hex[:8]}"
        self.config = folder / "clockd.toml"
        self.config.write_text(config_text(self.name))
        self.database = folder / "clockd.db"
        self.lives: list[Life] = []
        self.after_burst = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = open(folder / "daemon.log", "ab")  # closed in close()

    def start(self) -> Life:
        notify_path = self.folder / f"notify-{len(self.lives)}.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.settimeout(60)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCKD_")}
        env["NOTIFY_SOCKET"] = str(notify_path)
        first_id = self.max_id()
        started = now()
        self.process = subprocess.Popen(
            [str(CLOCKD), "serve", "-c", str(self.config)],
            cwd=self.folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while b"READY=1" not in notify.recv(4096):
                pass
        finally:
            notify.close()
            notify_path.unlink()
        life = Life(started, now(), first_id, marked_at_ready=marked_processes(self.name))
        self.lives.append(life)
        return life

    def max_id(self) -> int:
        if not self.database.exists():
            return 0
        found = rows(self.database, "SELECT MAX(id) FROM runs")
        return found[0][0] or 0

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)  # the daemon alone: its runs' groups stay
        self.lives[-1].ended = now()
        self.process.wait(30)

    def stop(self) -> None:
        assert self.process is not None
        self.lives[-1].ended = now()
        self.lives[-1].killed = False
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)

    def next_wait(self) -> float:
        """Seconds of life: random, or until just after the next burst instant."""
        if self.random.random() < 0.4:
            moment = time.time() + 0.5
            instant = (int(moment) // 5 + 1) * 5
            self.after_burst += 1
            return instant - time.time() + self.random.uniform(0.0, 0.25)
        return self.random.uniform(0.3, 3.0)

    def run(self, seconds: float, say: Any) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.start()
            time.sleep(self.next_wait())
            self.kill()
            say(f"kill {len(self.lives)} after {self.lives[-1].ended - self.lives[-1].ready}")
            time.sleep(self.random.uniform(0.0, 2.0))
        self.start()
        time.sleep(4)
        self.stop()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.log.close()


# -- the checks ---------------------------------------------------------------------------------


def rows(database: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def check(harness: Harness) -> Figures:
    from scheduler.config import load_config

    figures = Figures(kills=sum(life.killed for life in harness.lives))
    figures.after_burst = harness.after_burst
    runs = rows(harness.database, "SELECT * FROM runs ORDER BY id")
    figures.runs = len(runs)
    figures.unfinished = sum(r["state"] in ("pending", "running") for r in runs)
    figures.crashed = sum(r["state"] == "crashed" for r in runs)
    figures.retried = rows(
        harness.database,
        "SELECT COUNT(DISTINCT run_id) FROM run_logs WHERE text LIKE '[clockd: attempt % crashed:%'",
    )[0][0]
    by_clock: dict[tuple[str, str], list[sqlite3.Row]] = defaultdict(list)
    for run in runs:
        by_clock[(run["job"], run["clock"])].append(run)
    config = load_config(harness.config)
    for job in config.jobs.values():
        for clock in job.clocks:
            check_clock(clock, by_clock[(job.name, clock.name)], harness.lives, figures)
    figures.orphans = count_orphans(harness, runs, figures)
    return figures


def check_clock(clock: Any, runs: list[sqlite3.Row], lives: list[Life], figures: Figures) -> None:
    """One clock's runs against its fires between the first READY=1 and the last stop."""
    last = lives[-1].ended
    assert last is not None
    fires = list(clock.fires(lives[0].ready, last - EDGE))
    fire_set = set(fires)
    times = Counter(parse(r["scheduled_time"]) for r in runs)
    label = f"{clock.name} ({clock.catchup})"
    for moment, count in times.items():
        if count > 1:
            figures.duplicated += count - 1
            figures.problems.append(f"{label}: {count} runs at {moment}")
        if fires and fires[0] <= moment <= fires[-1] and moment not in fire_set:
            figures.unexpected += count
            figures.problems.append(f"{label}: a run at {moment}, no fire time")
    # Down windows: from a kill (less the claims in flight) to the next READY=1.
    gaps = [(a.ended - EDGE, b.ready) for a, b in itertools.pairwise(lives) if a.ended]
    if clock.catchup == "all":
        expected = set(fires)
    else:
        expected = {t for t in fires if not any(a < t <= b for a, b in gaps)}
        expected |= catch_ups(clock, runs, lives, fires, label, figures)
    figures.expected += len(expected)
    lost = sorted(t for t in expected if times[t] == 0)
    figures.lost += len(lost)
    if lost:
        figures.problems.append(f"{label}: no run for {[t.isoformat() for t in lost]}")


def catch_ups(
    clock: Any,
    runs: list[sqlite3.Row],
    lives: list[Life],
    fires: list[datetime],
    label: str,
    figures: Figures,
) -> set[datetime]:
    """The catch-up runs each restart owes (`latest`: the latest fire after the clock's last
    claimed one and not run by the new life itself; `none`: none), checked against those it
    made; the fires they must cover."""
    owed: set[datetime] = set()
    for index, life in enumerate(lives[1:], start=1):
        end = lives[index + 1].first_id if index + 1 < len(lives) else None
        before = [parse(r["scheduled_time"]) for r in runs if r["id"] <= life.first_id]
        mine = [r for r in runs if r["id"] > life.first_id and (end is None or r["id"] <= end)]
        made = sorted(parse(r["scheduled_time"]) for r in mine if r["trigger"] == "catchup")
        fired = {parse(r["scheduled_time"]) for r in mine if r["trigger"] == "clock"}
        last_claimed = max(before, default=None)
        missed = [
            t
            for t in fires
            if last_claimed is not None and last_claimed < t <= life.ready and t not in fired
        ]
        wanted = [max(missed)] if missed and clock.catchup == "latest" else []
        if made != wanted:
            figures.unexpected += len(set(made) - set(wanted))
            figures.problems.append(f"{label}: start {index} caught up {made}, owed {wanted}")
        owed.update(wanted)
    return owed


def count_orphans(harness: Harness, runs: list[sqlite3.Row], figures: Figures) -> int:
    """Processes of runs of dead instances seen at the next READY=1 (a retried run starts
    its new attempt `retry_delay` later: any process then is an old one), and any run
    process (the soak's mark, or a recorded group leader with its start time) alive after
    the last stop. Whatever is found is killed."""
    orphans: set[int] = set()
    for index, life in enumerate(harness.lives[1:], start=1):
        for pid, run_id in life.marked_at_ready.items():
            if run_id <= life.first_id:
                orphans.add(pid)
                figures.problems.append(f"at start {index}: run {run_id}'s process {pid} alive")
    time.sleep(0.5)  # the last stop's kills are under way
    for pid, run_id in marked_processes(harness.name).items():
        orphans.add(pid)
        figures.problems.append(f"after the last stop: run {run_id}'s process {pid} alive")
    for run in runs:
        if run["pid"] and run["pid_start"] is not None:
            if process_start(run["pid"]) == run["pid_start"]:
                orphans.add(run["pid"])
                figures.problems.append(f"after the last stop: run {run['id']}'s leader alive")
    for pid in orphans:  # a failed soak leaves nothing behind either
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(orphans)


def soak(minutes: float, seed: int, folder: Path | None = None, say: Any = print) -> Figures:
    """Run the soak for `minutes` and check it; the figures."""
    with tempfile.TemporaryDirectory(prefix="clockd-soak-") as temporary:
        harness = Harness(folder or Path(temporary), seed)
        try:
            harness.run(minutes * 60, say)
        finally:
            harness.close()
        return check(harness)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the database and the log in this folder")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    figures = soak(
        args.minutes, args.seed, args.keep, say=(lambda text: None) if args.quiet else print
    )
    for problem in figures.problems:
        print("problem:", problem)
    row = figures.row()
    print("| " + " | ".join(row) + " |")
    print("|" + "---:|" * len(row))
    print("| " + " | ".join(f"{value:,}" for value in row.values()) + " |")
    print(json.dumps(row))
    failed = figures.lost or figures.duplicated or figures.unexpected or figures.orphans
    sys.exit(1 if failed or figures.unfinished else 0)


if __name__ == "__main__":
    main()
