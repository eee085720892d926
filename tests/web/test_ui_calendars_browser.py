"""The job page lists the fires that calendar, exclude and between removed, with the reason
(spec 2.5), in a real chromium against a real `clockd serve`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import DaemonProcess
from tests.web.test_api import wait_for_api

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
timezone = "UTC"

[jobs.poll]
command = ["true"]

[[jobs.poll.clocks]]
name = "half-hourly"
cron = "*/30 * * * *"
between = ["OPEN", "CLOSE"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    # The window is closed for the coming hour: its fires are listed as removed.
    now = datetime.now(UTC)
    config = CONFIG.replace(
        "OPEN", (now + timedelta(hours=1, minutes=5)).strftime("%H:%M")
    ).replace("CLOSE", now.strftime("%H:%M"))
    with DaemonProcess(Path(tmp_path_factory.mktemp("calendars-ui")), config) as process:
        yield wait_for_api(process)


def test_the_job_page_says_which_fires_are_removed_and_why(
    page: object,
    daemon: DaemonProcess,
) -> None:
    from playwright.sync_api import expect

    page.goto("/jobs/poll")  # type: ignore[attr-defined]
    fates = page.locator("[data-fates-for='half-hourly'] li")  # type: ignore[attr-defined]
    expect(fates.first).to_contain_text("skipped: outside")
    texts = fates.all_inner_texts()
    skipped = [text for text in texts if "skipped: outside" in text]
    assert 1 <= len(skipped) <= 3, texts  # the half-hours of the closed hour
    assert len(texts) - len(skipped) == 5  # then the next five fires
