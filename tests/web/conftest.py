"""Browser fixtures shared by the web UI's browser tests: one chromium per module, a fresh
context per test against the module's `daemon` fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.helpers import DaemonProcess

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = "/usr/bin/chromium"
    if not os.path.exists(path):
        if os.environ.get("CLOCKD_REQUIRE_BROWSER") == "1":
            pytest.fail("CLOCKD_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
        pytest.skip(
            "BROWSER TESTS SKIPPED: /usr/bin/chromium is missing (apt-get install chromium)"
        )
    return path


@pytest.fixture
def page(browser: object, daemon: DaemonProcess) -> Iterator[object]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 900},
        locale="en-US",
        base_url=f"http://127.0.0.1:{daemon.port}",
    )  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
