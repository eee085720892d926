"""`clockd serve` with an rrule clock under exclude and between (spec 2.5): the runs recorded
are the filtered fires, and the API says why the others do not happen. 2-second clocks; the
config is written from the current time so that the removed fires fall inside the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.helpers import DaemonProcess, wait_for_api, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
timezone = "UTC"

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "kept"
rrule = "FREQ=SECONDLY;INTERVAL=2"
start = "2026-01-01T00:00:00"
exclude = [EXCLUDED]
between = ["OPEN", "CLOSE"]

[[jobs.tick.clocks]]
name = "outside"
rrule = "FREQ=SECONDLY;INTERVAL=2"
start = "2026-01-01T00:00:00"
between = ["CLOSE", "OPEN"]
"""


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def test_the_daemon_fires_only_what_exclude_and_between_leave(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # Two fires (even seconds) a few seconds ahead are excluded by date-time.
    first = now + timedelta(seconds=10 + now.second % 2)
    excluded = [first, first + timedelta(seconds=2)]
    # "kept" keeps [this minute, this minute + 3 min): the whole test; "outside" keeps the
    # rest of the day only (an end before the start spans midnight): nothing during the test.
    minute = now.replace(second=0)
    config = (
        CONFIG.replace(
            "EXCLUDED", ", ".join(f'"{m.replace(tzinfo=None).isoformat()}"' for m in excluded)
        )
        .replace("OPEN", hhmm(minute))
        .replace("CLOSE", hhmm(minute + timedelta(minutes=3)))
    )
    with DaemonProcess(tmp_path, config) as daemon:
        wait_for_api(daemon)
        job = httpx.get(f"http://127.0.0.1:{daemon.port}/api/v1/jobs/tick", timeout=5).json()
        outside = next(c for c in job["clocks"] if c["name"] == "outside")
        window = f"outside {hhmm(minute + timedelta(minutes=3))}–{hhmm(minute)}"
        assert outside["next_fires"][0] == {
            "time": outside["next_fires"][0]["time"],
            "skipped": window,
        }
        assert outside["next_fire"] is not None  # later today (or tomorrow), not now
        last = excluded[-1] + timedelta(seconds=4)

        def recorded() -> list[datetime]:
            rows = daemon.runs("job = 'tick' AND clock = 'kept'")
            return sorted(datetime.fromisoformat(r["scheduled_time"]).astimezone(UTC) for r in rows)

        wait_until(lambda: any(t >= last for t in recorded()), 30, f"a run of 'kept' at {last}")
        times = [t for t in recorded() if excluded[0] - timedelta(seconds=2) <= t <= last]
        assert times == [excluded[0] - timedelta(seconds=2), last - timedelta(seconds=2), last]
        assert daemon.runs("job = 'tick' AND clock = 'outside'") == []
