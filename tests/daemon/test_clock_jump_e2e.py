"""`clockd serve` while its wall clock jumps (spec 2.3), with Debian's libfaketime.

The daemon and the runs it starts see a wall clock that the test steps by rewriting a
libfaketime timestamp file (an offset from the real time); CLOCK_MONOTONIC stays real. That is
what an NTP step or a suspend looks like from inside: wall and monotonic elapsed time disagree.
The machine's clock is never touched.

libfaketime 0.9.10 (Debian), checked by experiment before relying on it:
- `+7200`, `-600`, `+0` in FAKETIME_TIMESTAMP_FILE, with FAKETIME_NO_CACHE=1: the very next
  `time.time()` of a running process moves by exactly that (the file is re-read on every call;
  FAKETIME_CACHE_DURATION only matters when caching is on), and with
  FAKETIME_DONT_FAKE_MONOTONIC=1 `time.monotonic()` does not move. A FAKETIME variable would
  win over the file, so it is removed from the daemon's environment.
- Children inherit LD_PRELOAD and the file: `date` in a run reads the same wall clock as the
  daemon, at every offset.
- asyncio (epoll timeouts) and coreutils `sleep` behave. Python's `time.sleep` does not: with
  FAKETIME_DONT_FAKE_MONOTONIC=1 it raises EINVAL (libfaketime shifts the absolute
  CLOCK_MONOTONIC deadline of clock_nanosleep anyway; upstream issue #426, fixed in 0.9.11).
  clockd's daemon path never calls it; the runs here are shell commands.
- Each Python process under it leaves /dev/shm/faketime_shm_<pid> and sem.faketime_sem_<pid>
  behind; the fixture removes the ones that appeared while a test ran.

Assertions are on scheduled_time and trigger, fire by fire, never on how many fires happened to
fit in a stretch of real time. Every clock fires on even seconds (interval anchors and the
6-field cron agree), every 2 s.
"""

from __future__ import annotations

import glob
import itertools
import os
import platform
import re
import sysconfig
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import DaemonProcess, pid_alive, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

STEP = timedelta(seconds=2)  # every clock's period
LIMIT = 5  # [daemon] catchup_limit
CATCHUPS = {"latest": 1, "all": LIMIT, "none": 0, "cron-all": LIMIT}
CLOCKS = set(CATCHUPS)

CONFIG = """
[daemon]
database = "{database}"
listen = ""
catchup_limit = LIMIT

[jobs.tick]
# One line per process actually started: run id, clock, fire, and the wall clock the run
# itself reads. Appended (O_APPEND), so concurrent runs do not clobber each other.
command = ["sh", "-c", "echo \\"$CLOCKD_RUN_ID $CLOCKD_CLOCK $CLOCKD_SCHEDULED_TIME $(date -u +%s)\\" >> \\"$0\\"", "EXECUTIONS"]

[[jobs.tick.clocks]]
name = "latest"
interval = "2s"
start = "2020-01-01T00:00:00Z"
catchup = "latest"

[[jobs.tick.clocks]]
name = "all"
interval = "2s"
start = "2020-01-01T00:00:00Z"
catchup = "all"

[[jobs.tick.clocks]]
name = "none"
interval = "2s"
start = "2020-01-01T00:00:00Z"
catchup = "none"

[[jobs.tick.clocks]]
name = "cron-all"
cron = "*/2 * * * * *"
catchup = "all"
"""


# -- libfaketime -----------------------------------------------------------------------------


def find_libfaketime() -> Path | None:
    """libfaketime.so.1 of this machine's architecture, wherever the package put it."""
    found = [
        Path(p)
        for pattern in (
            "/usr/lib/*/faketime/libfaketime.so.1",  # Debian multiarch
            "/usr/lib64/faketime/libfaketime.so.1",
            "/usr/lib/faketime/libfaketime.so.1",
            "/usr/local/lib/faketime/libfaketime.so.1",
        )
        for p in sorted(glob.glob(pattern))
    ]
    arch = sysconfig.get_config_var("MULTIARCH") or platform.machine()
    ours = [p for p in found if arch in str(p)]
    return (ours or found or [None])[0]


LIBFAKETIME = find_libfaketime()
MISSING = (
    "CLOCK JUMP TESTS SKIPPED: Debian's libfaketime is not installed (apt-get install "
    "libfaketime); set CLOCKD_REQUIRE_FAKETIME=1 to make this a failure"
)


class WallClock:
    """The wall clock of the daemon and its runs: real time + `offset` seconds.

    Stepped by replacing the timestamp file in one rename, so libfaketime never reads a
    half-written file."""

    def __init__(self, path: Path, library: Path) -> None:
        self.path = path
        self.library = library
        self.offset = 0
        self.step_to(0)

    def step_to(self, offset: int) -> None:
        scratch = self.path.with_name(self.path.name + ".new")
        scratch.write_text(f"{offset:+d}\n")
        os.replace(scratch, self.path)
        self.offset = offset

    def now(self) -> datetime:
        """What the daemon reads as the time now."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def env(self) -> dict[str, str]:
        preload = os.environ.get("LD_PRELOAD", "")
        return {
            "LD_PRELOAD": f"{self.library} {preload}".strip(),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",  # re-read the file on every clock_gettime
            "FAKETIME_CACHE_DURATION": "0",  # and should caching ever be on: at most 1 s old
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # only the wall clock jumps
        }


def _shm_leftovers() -> set[Path]:
    shm = Path("/dev/shm")
    return set(shm.glob("faketime_shm_*")) | set(shm.glob("sem.faketime_sem_*"))


@pytest.fixture
def wall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WallClock]:
    if LIBFAKETIME is None:
        if os.environ.get("CLOCKD_REQUIRE_FAKETIME") == "1":
            pytest.fail(
                "CLOCKD_REQUIRE_FAKETIME=1 but libfaketime is not installed "
                "(apt-get install libfaketime)"
            )
        pytest.skip(MISSING)
    for name in [n for n in os.environ if n.startswith(("FAKETIME", "NO_FAKE", "DONT_FAKE"))]:
        monkeypatch.delenv(name)  # FAKETIME wins over the file; the others change its meaning
    before = _shm_leftovers()
    yield WallClock(tmp_path / "faketime.rc", LIBFAKETIME)
    # The segment before its semaphore: a semaphore without its segment is harmless to a
    # later process with the same pid, the other way round makes it exit.
    for path in sorted(_shm_leftovers() - before, key=lambda p: p.name.startswith("sem.")):
        if not pid_alive(int(path.name.rsplit("_", 1)[1])):
            path.unlink(missing_ok=True)


# -- reading what happened -------------------------------------------------------------------


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Fire:
    id: int
    clock: str
    at: datetime  # scheduled_time
    trigger: str
    state: str
    created: datetime  # the daemon's wall clock when it claimed the fire
    lateness: float


def fires(daemon: DaemonProcess, clock: str | None = None) -> list[Fire]:
    """The job's runs (of one clock), oldest scheduled time first."""
    rows = [
        Fire(
            r["id"],
            r["clock"],
            parse(r["scheduled_time"]),
            r["trigger"],
            r["state"],
            parse(r["created_at"]),
            r["lateness"],
        )
        for r in daemon.runs("job = 'tick'")
    ]
    return sorted((f for f in rows if clock in (None, f.clock)), key=lambda f: f.at)


def settled_instants(daemon: DaemonProcess) -> list[datetime]:
    """Instants at which every clock has a run that succeeded, oldest first."""
    clocks: defaultdict[datetime, set[str]] = defaultdict(set)
    for fire in fires(daemon):
        if fire.state == "succeeded":
            clocks[fire.at].add(fire.clock)
    return sorted(at for at, seen in clocks.items() if seen == CLOCKS)


def newest_settled(daemon: DaemonProcess, count: int) -> datetime:
    """Once `count` instants have every clock's run finished: the newest of them."""
    return wait_until(
        lambda: settled_instants(daemon)[count - 1 :],
        10 + 2 * count,
        f"{count} instants with every clock's run finished",
    )[-1]


def consecutive(times: list[datetime]) -> bool:
    return all(b - a == STEP for a, b in itertools.pairwise(times))


def first_fire_after(moment: datetime) -> datetime:
    """The first instant strictly after `moment` on which every clock fires (even seconds)."""
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=2 - int(whole.timestamp()) % 2)


def executions(path: Path) -> list[tuple[int, str, datetime, int]]:
    """(run id, clock, scheduled time, the run's own `date +%s`), one per process started."""
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(int(i), c, parse(s), int(d)) for i, c, s, d in lines]


def assert_every_fire_ran_once_on_the_daemons_wall_clock(daemon: DaemonProcess, out: Path) -> None:
    """One process per finished run and one run per process, never two for a fire; each run
    read its fire's time or a little later: the same (jumped) wall clock as the daemon."""
    ran = executions(out)
    assert [k for k, n in Counter((c, s) for _, c, s, _ in ran).items() if n > 1] == []
    runs = fires(daemon)
    assert [k for k, n in Counter((f.clock, f.at) for f in runs).items() if n > 1] == []
    by_id = {f.id: f for f in runs}
    assert {i for i, f in by_id.items() if f.state == "succeeded"} <= {i for i, *_ in ran}
    assert {f.state for f in by_id.values()} <= {"pending", "running", "succeeded"}
    for run_id, clock, scheduled, seen in ran:
        assert (by_id[run_id].clock, by_id[run_id].at) == (clock, scheduled)
        assert 0 <= seen - int(scheduled.timestamp()) < 60, (clock, scheduled, seen)


def start(tmp_path: Path, wall: WallClock) -> tuple[DaemonProcess, Path]:
    out = tmp_path / "executions.txt"
    config = CONFIG.replace("LIMIT", str(LIMIT)).replace("EXECUTIONS", str(out))
    return DaemonProcess(tmp_path, config, env=wall.env()), out


def step(wall: WallClock, offset: int, *, ahead_of: datetime | None) -> datetime:
    """Step the wall clock to real + `offset`: at once, or 0.1 s before the fire `ahead_of`
    (APScheduler's timer for it then wakes before the daemon's ~1 s tick, most likely).
    The wall time just before the step."""
    if ahead_of is not None:
        moment = ahead_of - timedelta(seconds=0.1)
        wait_until(lambda: wall.now() >= moment, 5, f"{moment}", interval=0.002)
    before = wall.now()
    wall.step_to(offset)
    return before


MOMENTS = {
    "right after a fire": False,  # the daemon's tick notices the jump first
    "just before a fire": True,  # APScheduler's timer for that fire does
}


# -- forward ---------------------------------------------------------------------------------

FORWARD = 2 * 3600  # an NTP step of two hours


@pytest.mark.parametrize("before_a_fire", list(MOMENTS.values()), ids=list(MOMENTS))
def test_forward_jump_of_two_hours_catches_up_by_each_clocks_rule_then_fires_on_the_new_time(
    tmp_path: Path, wall: WallClock, before_a_fire: bool
) -> None:
    daemon, out = start(tmp_path, wall)
    with daemon:
        last = newest_settled(daemon, 1)
        stepped = step(wall, FORWARD, ahead_of=last + STEP if before_a_fire else None)
        jumped = stepped + timedelta(seconds=FORWARD)  # the wall time right after the step
        wait_until(
            lambda: [t for t in settled_instants(daemon) if t > jumped][1:],
            15,
            "two instants fired by every clock on the new time",
        )
        seen_by_now = wall.now()
        assert not daemon.exited()
        log = daemon.log()
        runs = {clock: fires(daemon, clock) for clock in CLOCKS}

    assert re.search(r"wall clock jumped seconds=(7199|7200|7201)\b", log), log
    for clock, expected in CATCHUPS.items():
        # Which side of the jump the daemon was on when it claimed each fire.
        before = [f for f in runs[clock] if f.created < stepped + timedelta(minutes=1)]
        after = [f for f in runs[clock] if f not in before]
        assert before, clock
        assert consecutive([f.at for f in before]), (clock, before)
        assert {f.trigger for f in before} == {"clock"}, (clock, before)
        catchups = [f for f in after if f.trigger == "catchup"]
        regular = [f for f in after if f.trigger == "clock"]
        # Nothing else ran for the two skipped hours — not 3,600 fires, and not the fire that
        # was next when the clock jumped, two hours late: the catch-up runs the rule allows,
        # then every fire on the new time, none skipped between them.
        assert after == catchups + regular, (clock, after)
        assert len(catchups) == expected, (clock, catchups)
        assert consecutive([f.at for f in after]), (clock, after)
        if catchups:
            newest = catchups[-1].at  # the most recent fire missed when the jump was seen
            assert jumped - STEP < newest <= seen_by_now, (clock, newest, jumped)
        else:
            assert regular[0].at > jumped, (clock, regular[0], jumped)
        assert len(regular) >= 2, (clock, regular)
        assert all(f.lateness < 30 for f in regular), (clock, regular)
    assert_every_fire_ran_once_on_the_daemons_wall_clock(daemon, out)


# -- backward --------------------------------------------------------------------------------

BACKWARD = -600  # an NTP step of ten minutes back


def test_backward_jump_of_ten_minutes_keeps_firing_and_runs_nothing_twice_when_time_comes_back(
    tmp_path: Path, wall: WallClock
) -> None:
    """Ten minutes back, 0.1 s before a fire; then, once the daemon fired on the rewound time,
    a step forward that lands 3 s before the pre-jump time P, so that the wall clock passes P
    again within seconds: the fires up to P have run already and must not run again."""
    daemon, out = start(tmp_path, wall)
    with daemon:
        # Three instants first, so that the fires just before P are fires that already ran.
        last = newest_settled(daemon, 3)
        stepped = step(wall, BACKWARD, ahead_of=last + STEP)
        back = stepped + timedelta(seconds=BACKWARD)

        def on_rewound_time(fire: Fire) -> bool:  # claimed while the wall clock was rewound
            return fire.created < stepped - timedelta(minutes=5)

        # Fires ten minutes before anything this daemon ran are new: they come at once, not
        # after a ten-minute wait for the fire that was planned before the step.
        wait_until(
            lambda: [t for t in settled_instants(daemon) if t < stepped - timedelta(minutes=5)][1:],
            15,
            "two instants fired by every clock on the rewound time",
        )
        first_rewound = min(f.id for f in fires(daemon) if on_rewound_time(f))
        pre_jump = max(f.at for f in fires(daemon) if f.id < first_rewound)

        landing = pre_jump - timedelta(seconds=3)
        wall.step_to(round((landing - datetime.now(UTC)).total_seconds()))
        wait_until(
            lambda: [t for t in settled_instants(daemon) if t > pre_jump][1:],
            15,
            "two instants fired by every clock after the pre-jump time",
        )
        assert not daemon.exited()
        log = daemon.log()
        runs = {clock: fires(daemon, clock) for clock in CLOCKS}

    assert re.search(r"wall clock jumped seconds=(-599|-600|-601)\b", log), log
    assert re.search(r"wall clock jumped seconds=5\d\d\b", log), log  # the landing step
    for clock, limit in CATCHUPS.items():
        # In claim order: before the step back, on the rewound time, after the landing.
        rewound = [f for f in runs[clock] if on_rewound_time(f)]
        ran = [f for f in runs[clock] if f.id < min(r.id for r in rewound)]
        landed = [f for f in runs[clock] if f.id > max(r.id for r in rewound)]
        assert len(ran) + len(rewound) + len(landed) == len(runs[clock]), (clock, runs[clock])
        assert len(ran) >= 3, (clock, ran)
        assert consecutive([f.at for f in ran]), (clock, ran)
        assert ran[-1].at == pre_jump, (clock, ran, pre_jump)

        # On the rewound time: regular fires, none lost from the first one after the step
        # (due 0.1 s after it, before the daemon's tick noticed the jump).
        assert {f.trigger for f in rewound} == {"clock"}, (clock, rewound)
        assert consecutive([f.at for f in rewound]), (clock, rewound)
        assert back - 2 * STEP < rewound[0].at <= first_fire_after(back), (clock, rewound, back)

        # The landing step skipped (last rewound fire, P - 3 s]: the catchup rule applies to
        # it, but fires that already ran do not run again. So catch-up runs only fill the
        # fires before the first one that ran, right up to it, within the limit.
        catchups = [f for f in landed if f.trigger == "catchup"]
        later = [f for f in landed if f.trigger == "clock"]
        assert landed == catchups + later, (clock, landed)
        assert len(catchups) <= limit, (clock, catchups)
        if limit <= 1:
            assert catchups == [], (clock, catchups)  # its one catch-up fire had run before
        if catchups:
            assert consecutive([f.at for f in catchups]), (clock, catchups)
            assert rewound[-1].at < catchups[0].at, (clock, catchups, rewound)
            assert catchups[-1].at == ran[0].at - STEP, (clock, catchups, ran)
        # After P: every fire once, from the very next one on.
        assert later, clock
        assert later[0].at == pre_jump + STEP, (clock, later, pre_jump)
        assert consecutive([f.at for f in later]), (clock, later)
    assert_every_fire_ran_once_on_the_daemons_wall_clock(daemon, out)
