"""The jobs page's last run and strip of recent runs per clock, and a job's timeline and
duration chart, in a real chromium against a real `clockd serve` running the demo config
(config/demo.toml) with its clocks sped up from 10 s to 2 s."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, DaemonProcess, wait_until
from tests.web.test_api import wait_for_api

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SPEED_UPS = {
    'database = "../demo-state/clockd.db"': 'database = "{database}"',
    'listen = "127.0.0.1:8787"': 'listen = "127.0.0.1:{port}"',
    'interval = "10s"': 'interval = "2s"',
    'cron = "*/10 * * * * *"': 'cron = "*/2 * * * * *"',
    "sleep 2; echo done": "sleep 1; echo done",
}


def demo_config() -> str:
    text = (ROOT / "config" / "demo.toml").read_text()
    for old, new in SPEED_UPS.items():
        assert old in text, f"config/demo.toml changed: {old!r} is gone"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("ui-charts")
    with DaemonProcess(tmp, demo_config()) as process:
        wait_for_api(process)

        def enough() -> bool:
            done = process.runs("state != 'running' AND state != 'pending'")
            return all(sum(r["clock"] == c for r in done) >= 3 for c in ("small", "large"))

        wait_until(enough, 30, "three finished runs of each clock")
        # and one cancelled run of "large", so that its marks have two colours
        with httpx.Client(base_url=f"http://127.0.0.1:{process.port}", timeout=30) as api:
            run = api.post("/api/v1/jobs/report/runs", json={"clock": "large"}).json()
            api.post(f"/api/v1/runs/{run['id']}/cancel")
        wait_until(
            lambda: process.runs("id = ? AND state = 'cancelled'", (run["id"],)), 10, "a cancel"
        )
        yield process


def test_the_jobs_page_shows_each_clocks_last_run_and_its_recent_runs(
    page: object, daemon: DaemonProcess
) -> None:
    page.goto("/")  # type: ignore[attr-defined]
    rows = page.locator("#job-report table.clocks tbody tr")  # type: ignore[attr-defined]
    runs = daemon.runs("job = 'report' AND clock IS NOT NULL")
    for index, clock in enumerate(("small", "large")):
        row = rows.nth(index)
        assert row.locator("td").first.text_content().strip().startswith(clock)
        marks = row.locator(".strip a.mark")
        ids = [int(i) for i in marks.evaluate_all("ms => ms.map(m => m.dataset.runId)")]
        assert len(ids) >= 3
        assert ids == sorted(ids)  # oldest on the left
        mine = {r["id"]: r for r in runs if r["clock"] == clock}
        assert set(ids) <= set(mine)  # only this clock's runs
        for mark_id, mark in zip(ids, marks.all(), strict=True):
            assert mark.get_attribute("href") == f"/runs/{mark_id}"
            state = (mark.get_attribute("class") or "").split("state-")[1]
            # the page and the database are read at different moments: a run may be
            # ending in between
            stored = mine[mark_id]["state"]
            unfinished = {"running", "pending"}
            assert state == stored or unfinished & {state, stored}
        last = row.locator(".last-run a")
        assert last.get_attribute("href") == f"/runs/{ids[-1]}"
    assert rows.nth(1).locator(".strip a.mark.state-cancelled").count() == 1
    assert rows.nth(0).locator(".strip a.mark.state-succeeded").count() >= 2
    # a mark leads to its run
    first = rows.nth(0).locator(".strip a.mark").first
    target = first.get_attribute("href")
    first.click()
    page.wait_for_url(f"**{target}")  # type: ignore[attr-defined]


def bars(page: object, chart: str) -> list[dict]:
    return page.locator(f"svg#{chart} a").evaluate_all(  # type: ignore[attr-defined]
        """links => links.map(a => {
            const r = a.querySelector("rect");
            return {id: Number(a.dataset.runId), x: Number(r.getAttribute("x")),
                    y: Number(r.getAttribute("y")), width: Number(r.getAttribute("width")),
                    height: Number(r.getAttribute("height")),
                    title: r.querySelector("title").textContent};
        })"""
    )


def test_the_timeline_shows_simultaneous_runs_side_by_side_with_their_values(
    page: object, daemon: DaemonProcess
) -> None:
    page.goto("/jobs/report")  # type: ignore[attr-defined]
    timeline = {bar["id"]: bar for bar in bars(page, "timeline")}
    runs = {r["id"]: r for r in daemon.runs("job = 'report'") if r["id"] in timeline}
    lanes = page.locator("svg#timeline text").all_text_contents()  # type: ignore[attr-defined]
    assert {"small", "large"} <= set(lanes)
    # a fire of "small" and one of "large" at the same instant: bars at the same x, in
    # different lanes, each titled with its values
    by_time: dict[tuple[str, str], dict] = {
        (r["scheduled_time"], r["clock"]): timeline[i] for i, r in runs.items()
    }
    shared = [t for (t, c) in by_time if c == "small" and (t, "large") in by_time]
    assert shared, "no fire of small and large at the same instant"
    small, large = by_time[(shared[0], "small")], by_time[(shared[0], "large")]
    assert abs(small["x"] - large["x"]) < 5  # started within a few hundredths of the chart
    assert small["y"] != large["y"]
    assert "x=9" in small["title"]
    assert "x=99" in large["title"]
    assert " small · " in small["title"]
    # a run's bar is as long as the run took, against its neighbours
    finished = [b for i, b in timeline.items() if runs[i]["state"] == "succeeded"]
    assert all(b["width"] > 3 for b in finished)  # a second-long run is no sliver
    # hovering a bar shows its title; clicking it opens the run
    link = page.locator(f'svg#timeline a[data-run-id="{small["id"]}"]')  # type: ignore[attr-defined]
    link.hover()
    assert link.locator("title").text_content() == small["title"]
    link.click()
    page.wait_for_url(f"**/runs/{small['id']}")  # type: ignore[attr-defined]


def test_the_duration_chart_has_a_bar_per_finished_run(page: object, daemon: DaemonProcess) -> None:
    page.goto("/jobs/report")  # type: ignore[attr-defined]
    drawn = bars(page, "durations")
    runs = {r["id"]: r for r in daemon.runs("job = 'report'")}
    assert len(drawn) >= 6
    assert all(runs[b["id"]]["ended_at"] for b in drawn)
    assert [b["x"] for b in drawn] == sorted(b["x"] for b in drawn)

    # the tallest bar is the run that took longest (the cancelled one is far shorter)
    def took(run_id: int) -> float:
        run = runs[run_id]
        return (
            datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])
        ).total_seconds()

    longest = max(drawn, key=lambda b: b["height"])
    assert took(longest["id"]) == max(took(b["id"]) for b in drawn)


def test_timeline_screenshot_for_the_readme(page: object, daemon: DaemonProcess) -> None:
    """Keeps docs/timeline.png current when CLOCKD_SCREENSHOT=1 (else writes to tmp)."""
    page.goto("/jobs/report")  # type: ignore[attr-defined]
    charts = page.locator("#charts")  # type: ignore[attr-defined]
    target = (
        ROOT / "docs" / "timeline.png"
        if os.environ.get("CLOCKD_SCREENSHOT") == "1"
        else Path(daemon.tmp) / "timeline.png"
    )
    charts.screenshot(path=str(target))
    assert target.stat().st_size > 5_000
