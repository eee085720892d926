"""The run page's live end, the history's pages and filters, and "Run again", in a real
chromium against a real `clockd serve` (the fixtures are in tests/web/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import SQLiteStore
from tests.helpers import DaemonProcess, wait_until
from tests.web.test_api import wait_for_api

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
timezone = "UTC"

[jobs.slowfail]
command = ["sh", "-c", "echo working; sleep 3; echo broken >&2; exit 3"]

[jobs.bulk]
command = ["true"]

[[jobs.bulk.clocks]]
name = "north"
cron = "0 0 1 1 *"

[[jobs.bulk.clocks]]
name = "south"
cron = "0 0 1 1 *"

[jobs.again]
command = ["sh", "-c", "echo n=$0 mode=$1", "{{ n }}", "{{ mode }}"]

[jobs.again.parameters.n]
type = "integer"

[jobs.again.parameters.mode]
type = "string"
enum = ["fast", "slow"]
default = "fast"

[jobs.again.parameters.day]
type = "date"
default = "{{ scheduled_time.to_date_string() }}"

[jobs.again.parameters.key]
type = "string"
secret = true
default = "env:KEY_A"
references = ["env:KEY_A", "env:KEY_B"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("ui-history")
    env = {"KEY_A": "secret-value-a", "KEY_B": "secret-value-b"}
    with DaemonProcess(tmp, CONFIG, env=env) as process:
        yield wait_for_api(process)


def api(daemon: DaemonProcess) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30)


def test_the_run_page_shows_the_end_as_it_happens(page: object, daemon: DaemonProcess) -> None:
    from playwright.sync_api import expect

    with api(daemon) as client:
        run_id = client.post("/api/v1/jobs/slowfail/runs", json={}).json()["id"]
    page.goto(f"/runs/{run_id}")  # type: ignore[attr-defined]
    # loaded while the run runs (it sleeps 3 s): nothing of the end is on the page yet
    expect(page.locator("#log")).to_contain_text("working")  # type: ignore[attr-defined]
    expect(page.locator("#cancel-form button")).to_be_visible()  # type: ignore[attr-defined]
    assert page.locator("#run-ended").text_content() == "—"  # type: ignore[attr-defined]
    expect(page.locator("#run-error-row")).to_be_hidden()  # type: ignore[attr-defined]
    expect(page.locator("#log-status")).to_contain_text("run ended: failed", timeout=15_000)  # type: ignore[attr-defined]
    [row] = daemon.runs("id = ?", (run_id,))
    ended = datetime.fromisoformat(row["ended_at"]).astimezone(UTC)
    expect(page.locator("#run-ended")).to_have_text(ended.strftime("%Y-%m-%d %H:%M:%S UTC"))  # type: ignore[attr-defined]
    seconds = (ended - datetime.fromisoformat(row["started_at"])).total_seconds()
    expect(page.locator("#run-duration")).to_have_text(f"{seconds:.1f}s")  # type: ignore[attr-defined]
    assert seconds > 2.5  # it slept 3 s (its start is stamped once its process exists)
    expect(page.locator("#run-error")).to_have_text(row["error"])  # type: ignore[attr-defined]
    expect(page.locator("#run-error-row")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#run-exit")).to_have_text("3")  # type: ignore[attr-defined]
    expect(page.locator("#run-state .state-failed")).to_have_text("failed")  # type: ignore[attr-defined]
    expect(page.locator("#cancel-form")).to_have_count(0)  # type: ignore[attr-defined]
    # and the page as loaded now says the same
    live = {
        i: page.locator(f"#{i}").text_content()
        for i in ("run-ended", "run-duration", "run-error", "run-exit")
    }  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    assert {i: page.locator(f"#{i}").text_content() for i in live} == live  # type: ignore[attr-defined]


def insert_runs(daemon: DaemonProcess, count: int) -> list[int]:
    """Finished runs of `bulk` written straight into the daemon's database (as fast as the
    history can grow), alternating clocks and states."""
    store = SQLiteStore.open(daemon.database)
    try:
        ids = []
        for n in range(count):
            run_id = store.create_run(
                NewRun(
                    job="bulk",
                    clock="north" if n % 2 else "south",
                    trigger="clock",
                    scheduled_time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
                    parameters={"n": n},
                    state="failed" if n % 3 == 0 else "succeeded",
                )
            )
            ids.append(run_id)
        return ids
    finally:
        store.close()


def follow(page: object, link: str) -> None:
    """Click a pager link and wait for the page it loads (a click only starts navigating:
    rows read right after it may still be the old page's)."""
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.locator(link).first.click()  # type: ignore[attr-defined]


def shown_ids(page: object) -> list[int]:
    rows = page.locator("table.runs tbody tr[data-run-id]")  # type: ignore[attr-defined]
    return [int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.runId)")]


def test_the_history_pages_past_200_runs_and_keeps_its_filters(
    page: object, daemon: DaemonProcess
) -> None:
    ids = insert_runs(daemon, 650)
    page.goto("/runs?job=bulk")  # type: ignore[attr-defined]
    first = shown_ids(page)
    assert first == ids[::-1][:200]
    assert page.locator(".pager-newer").count() == 0  # type: ignore[attr-defined]
    follow(page, ".pager-older")
    assert shown_ids(page) == ids[::-1][200:400]
    assert f"before={ids[::-1][199]}" in page.url  # type: ignore[attr-defined]  (keyed on ids)
    follow(page, ".pager-older")
    assert shown_ids(page) == ids[::-1][400:600]
    follow(page, ".pager-older")
    assert shown_ids(page) == ids[::-1][600:]
    assert page.locator(".pager-older").count() == 0  # type: ignore[attr-defined]
    follow(page, ".pager-newer")
    assert shown_ids(page) == ids[::-1][400:600]
    follow(page, ".pager-newer")
    assert shown_ids(page) == ids[::-1][200:400]
    follow(page, ".pager-newer")
    assert shown_ids(page) == ids[::-1][:200]
    # the filters are dropdowns with the config's clocks and the known states
    clocks = page.locator("select[name=clock] option").all_text_contents()  # type: ignore[attr-defined]
    assert clocks == ["all", "north", "south"]
    states = page.locator("select[name=state] option").all_text_contents()  # type: ignore[attr-defined]
    assert {"all", "succeeded", "failed", "timed_out", "skipped"} <= set(states)
    page.locator("select[name=clock]").select_option("north")  # type: ignore[attr-defined]
    page.locator("select[name=state]").select_option("succeeded")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Filter").click()  # type: ignore[attr-defined]
    page.wait_for_url("**clock=north**")  # type: ignore[attr-defined]
    wanted = [i for n, i in enumerate(ids) if n % 2 and n % 3][::-1]
    assert len(wanted) > 200
    assert shown_ids(page) == wanted[:200]
    follow(page, ".pager-older")
    assert shown_ids(page) == wanted[200:]
    assert "clock=north" in page.url
    assert "state=succeeded" in page.url
    assert page.locator("select[name=clock]").input_value() == "north"  # type: ignore[attr-defined]
    assert page.locator("select[name=state]").input_value() == "succeeded"  # type: ignore[attr-defined]


def test_run_again_prefills_the_form_with_the_runs_values(
    page: object, daemon: DaemonProcess
) -> None:
    from playwright.sync_api import expect

    with api(daemon) as client:
        made = client.post(
            "/api/v1/jobs/again/runs",
            json={"parameters": {"n": 7, "mode": "slow", "day": "2026-02-03", "key": "env:KEY_B"}},
        ).json()
    page.goto(f"/runs/{made['id']}")  # type: ignore[attr-defined]
    # values as code, not raw text; the secret masked
    expect(page.locator('code.param[data-param="n"]')).to_have_text("n=7")  # type: ignore[attr-defined]
    expect(page.locator('code.param[data-param="key"]')).to_have_text("key=***")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Run again with these values").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"**/jobs/again?from_run={made['id']}*")  # type: ignore[attr-defined]
    assert page.locator("#p-n").input_value() == "7"  # type: ignore[attr-defined]
    assert page.locator("#p-mode").input_value() == "slow"  # type: ignore[attr-defined]
    assert page.locator("#p-day").input_value() == "2026-02-03"  # type: ignore[attr-defined]
    assert page.locator("#p-key").input_value() == "env:KEY_B"  # type: ignore[attr-defined]  (the reference)
    assert "secret-value" not in page.content()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Start run").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/runs/*")  # type: ignore[attr-defined]
    again = int(page.url.rsplit("/", 1)[1])  # type: ignore[attr-defined]
    assert again != made["id"]
    row = wait_until(lambda: daemon.runs("id = ?", (again,)), 10, "the new run")[0]
    assert row["parameters"] == {"n": 7, "mode": "slow", "day": "2026-02-03", "key": "***"}
    assert json.loads(row["secret_refs"]) == {"key": "env:KEY_B"}


def test_the_form_marks_required_fields_and_hints_a_dynamic_defaults_value(
    page: object, daemon: DaemonProcess
) -> None:
    from playwright.sync_api import expect

    page.goto("/jobs/again")  # type: ignore[attr-defined]
    assert page.locator("#p-n").get_attribute("required") is not None  # type: ignore[attr-defined]
    assert page.locator("#p-mode").get_attribute("required") is None  # type: ignore[attr-defined]
    hint = page.locator('[data-field="day"] .hint')  # type: ignore[attr-defined]
    expect(hint).to_have_text(f"default now: {datetime.now(UTC).date().isoformat()}")
    assert "{{" not in hint.text_content()
    # the browser refuses to send the form without the required value: no run is made
    before = len(daemon.runs("job = 'again'"))
    page.get_by_role("button", name="Start run").click()  # type: ignore[attr-defined]
    assert page.locator("#p-n").evaluate("e => e.validity.valueMissing")  # type: ignore[attr-defined]
    assert page.url.endswith("/jobs/again")  # type: ignore[attr-defined]
    assert len(daemon.runs("job = 'again'")) == before
