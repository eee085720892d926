"""The web UI in a real chromium (playwright) against a real `clockd serve`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import ROOT, DaemonProcess
from tests.web.test_api import wait_for_api

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
timezone = "Europe/Berlin"

[jobs.report]
description = "Build the sales report for a day"
command = ["sh", "-c", "echo \\"report for $0 x=$1 region=$2\\"; sleep 0.5; echo \\"label=$3\\"; sleep 0.5; echo finished", "{{ day }}", "{{ x }}", "{{ region }}", "{{ label }}"]

[jobs.report.parameters.day]
type = "date"
description = "the day to report on"
default = "{{ scheduled_time.subtract(days=1).to_date_string() }}"

[jobs.report.parameters.x]
type = "integer"
description = "how many items"
minimum = 0
maximum = 1000

[jobs.report.parameters.region]
type = "string"
enum = ["eu", "us", "apac"]
default = "eu"

[jobs.report.parameters.label]
type = "string"
pattern = "^[^0-9]*$"
default = "plain"

[jobs.report.parameters.dry]
type = "boolean"
default = false

[jobs.report.parameters.tags]
type = "array"
items = { type = "string" }
default = ["daily"]

[jobs.report.parameters.since]
type = "datetime"
default = "2026-01-01T00:00:00+00:00"

[jobs.report.parameters.api_key]
type = "string"
secret = true
default = "env:REPORT_API_KEY"

[[jobs.report.clocks]]
name = "small"
cron = "0 6 * * *"
parameters = { x = 9 }

[[jobs.report.clocks]]
name = "large"
cron = "0 7 * * *"
timezone = "Europe/Berlin"
parameters = { x = 99, region = "us" }
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("ui")
    with DaemonProcess(tmp, CONFIG, env={"REPORT_API_KEY": "not-shown"}) as process:
        yield wait_for_api(process)


def test_jobs_page_shows_clocks_defaults_and_pause(page: object, daemon: DaemonProcess) -> None:
    from playwright.sync_api import expect

    page.goto("/")  # type: ignore[attr-defined]
    card = page.locator("#job-report")  # type: ignore[attr-defined]
    expect(card).to_contain_text("Build the sales report for a day")
    rows = card.locator("table.clocks tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("small")
    expect(rows.nth(0)).to_contain_text("x=9")
    expect(rows.nth(1)).to_contain_text("Europe/Berlin")
    expect(rows.nth(1)).to_contain_text("region=us")
    expect(rows.nth(0)).to_contain_text(":00:00 UTC")  # a next fire time
    rows.nth(1).get_by_role("button", name="Pause").click()
    expect(page.locator("#job-report table.clocks tbody tr").nth(1)).to_contain_text("paused")  # type: ignore[attr-defined]
    paused = [c for c in daemon_job(daemon)["clocks"] if c["paused"]]
    assert [c["name"] for c in paused] == ["large"]
    page.locator("#job-report table.clocks tbody tr").nth(1).get_by_role(
        "button", name="Resume"
    ).click()  # type: ignore[attr-defined]
    expect(page.locator("#job-report table.clocks tbody tr").nth(1)).not_to_contain_text("paused")  # type: ignore[attr-defined]
    assert not any(c["paused"] for c in daemon_job(daemon)["clocks"])


def daemon_job(daemon: DaemonProcess) -> dict:
    import httpx

    return httpx.get(f"http://127.0.0.1:{daemon.port}/api/v1/jobs/report").json()


def test_run_form_with_date_picker_starts_a_run_and_streams_its_log(
    page: object, daemon: DaemonProcess
) -> None:
    from playwright.sync_api import expect

    page.goto("/jobs/report")  # type: ignore[attr-defined]
    day = page.locator("#p-day")  # type: ignore[attr-defined]
    assert day.get_attribute("type") == "date"
    assert page.locator("#p-x").get_attribute("type") == "number"  # type: ignore[attr-defined]
    assert page.locator("#p-x").get_attribute("max") == "1000"  # type: ignore[attr-defined]
    assert page.locator("#p-dry").get_attribute("type") == "checkbox"  # type: ignore[attr-defined]
    assert page.locator("#p-region").evaluate("e => e.tagName") == "SELECT"  # type: ignore[attr-defined]
    assert page.locator("#p-tags").input_value() == '["daily"]'  # type: ignore[attr-defined]
    assert page.locator("#p-api_key").input_value() == "env:REPORT_API_KEY"  # type: ignore[attr-defined]
    assert page.locator("#p-label").input_value() == "plain"  # type: ignore[attr-defined]
    # the dynamic default is shown as a hint, rendered for now
    expect(page.locator('[data-field="day"] .hint')).to_contain_text("default now: 20")  # type: ignore[attr-defined]
    # the date picker: typing into <input type=date> goes through the browser's picker widget
    day.click()
    page.keyboard.type("03012026")  # type: ignore[attr-defined]  (mm dd yyyy in en-US)
    assert day.input_value() == "2026-03-01"
    page.locator("#p-x").fill("42")  # type: ignore[attr-defined]
    page.locator("#p-region").select_option("apac")  # type: ignore[attr-defined]
    since = page.locator("#p-since")  # type: ignore[attr-defined]
    assert since.get_attribute("type") == "datetime-local"
    assert since.input_value() == "2026-01-01T01:00"  # the default, as Berlin wall time
    since.fill("2026-03-01T10:00:00")  # wall time in the daemon's zone (Berlin, UTC+1 then)
    page.get_by_role("button", name="Start run").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/runs/*")  # type: ignore[attr-defined]
    log = page.locator("#log")  # type: ignore[attr-defined]
    expect(log).to_contain_text("report for 2026-03-01 x=42 region=apac")
    expect(log).to_contain_text("finished", timeout=15_000)
    expect(page.locator("#log-status")).to_contain_text("run ended: succeeded")  # type: ignore[attr-defined]
    expect(page.locator("#run-state")).to_contain_text("succeeded")  # type: ignore[attr-defined]
    run_id = int(page.url.rsplit("/", 1)[1])  # type: ignore[attr-defined]
    [row] = daemon.runs("id = ?", (run_id,))
    # the daemon that ran it (spec 3, 8)
    expect(page.locator(".facts")).to_contain_text(f"Daemon{row['daemon']}")  # type: ignore[attr-defined]
    assert row["daemon"]
    assert row["parameters"]["day"] == "2026-03-01"
    assert row["parameters"]["x"] == 42
    assert datetime.fromisoformat(row["parameters"]["since"]) == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert row["parameters"]["api_key"] == "***"
    assert row["trigger"] == "manual"
    # it appears in the history, filterable by job and state
    page.goto("/runs?job=report&state=succeeded")  # type: ignore[attr-defined]
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_contain_text("x=42")  # type: ignore[attr-defined]
    page.goto("/runs?state=failed")  # type: ignore[attr-defined]
    expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)  # type: ignore[attr-defined]


def test_422_is_shown_beside_the_right_field(page: object, daemon: DaemonProcess) -> None:
    from playwright.sync_api import expect

    before = len(daemon.runs())
    page.goto("/jobs/report")  # type: ignore[attr-defined]
    page.locator("#p-x").fill("5")  # type: ignore[attr-defined]
    page.locator("#p-label").fill("bad-label-123")  # type: ignore[attr-defined]  (the pattern refuses digits)
    page.get_by_role("button", name="Start run").click()  # type: ignore[attr-defined]
    expect(page.locator(".form-error")).to_contain_text("the run was not created")  # type: ignore[attr-defined]
    field = page.locator('[data-field="label"]')  # type: ignore[attr-defined]
    expect(field).to_have_class(re.compile(r"\bhas-error\b"))
    expect(field.locator(".field-error")).to_contain_text("label")
    expect(page.locator('[data-field="x"] .field-error')).to_have_count(0)  # type: ignore[attr-defined]
    # what was typed is kept
    assert page.locator("#p-label").input_value() == "bad-label-123"  # type: ignore[attr-defined]
    assert page.locator("#p-x").input_value() == "5"  # type: ignore[attr-defined]
    assert len(daemon.runs()) == before


def test_script_in_a_parameter_is_rendered_as_text(page: object, daemon: DaemonProcess) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    page.goto("/jobs/report")  # type: ignore[attr-defined]
    page.locator("#p-x").fill("1")  # type: ignore[attr-defined]
    payload = "<script>alert(document.domain)</script>"
    page.locator("#p-label").fill(payload)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Start run").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/runs/*")  # type: ignore[attr-defined]
    expect(page.locator(".params code.param[data-param=label]")).to_have_text(f"label={payload}")  # type: ignore[attr-defined]
    expect(page.locator("#log")).to_contain_text(f"label={payload}")  # type: ignore[attr-defined]
    assert page.locator("script:not([src])").count() == 0  # type: ignore[attr-defined]
    page.goto("/runs")  # type: ignore[attr-defined]
    expect(page.locator("table.runs")).to_contain_text(payload)  # type: ignore[attr-defined]
    assert dialogs == []


def test_screenshot_for_the_docs(page: object, daemon: DaemonProcess) -> None:
    """Keeps docs/screenshot.png current when CLOCKD_SCREENSHOT=1 (else writes to tmp)."""
    from playwright.sync_api import expect

    page.goto("/jobs/report")  # type: ignore[attr-defined]
    expect(page.locator("table.runs tbody tr").first).to_be_visible()  # type: ignore[attr-defined]
    target = (
        ROOT / "docs" / "screenshot.png"
        if os.environ.get("CLOCKD_SCREENSHOT") == "1"
        else Path(daemon.tmp) / "shot.png"
    )
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
    assert target.stat().st_size > 10_000
