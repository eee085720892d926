"""Trigger-time values against a real `clockd serve`: data, never templates (spec 2.1.3);
secret parameters take only what the config lists (spec 2.1 point 5); backfill bounds read
as `clocks.localtime` reads wall time, through the API and the CLI alike."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import DaemonProcess, run_clockd, wait_for_api, wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
[daemon]
database = "{database}"
listen = "127.0.0.1:{port}"
timezone = "Europe/Berlin"

[jobs.echo]
command = ["sh", "-c", "printf 'msg=%s n=%s\\\\n' \\"$1\\" \\"$2\\"", "sh", "{{ msg }}", "{{ n }}"]

[jobs.echo.parameters.msg]
type = "string"
default = "hi"

[jobs.echo.parameters.n]
type = "integer"
default = 1

[jobs.unlisted]
command = ["sh", "-c", "echo got=${CLOCKD_PARAM_KEY#?-}"]

[jobs.unlisted.parameters.key]
type = "string"
secret = true

[jobs.listed]
command = ["sh", "-c", "echo got=${CLOCKD_PARAM_KEY#?-}"]

[jobs.listed.parameters.key]
type = "string"
secret = true
default = "env:A_KEY"
references = ["env:A_KEY", "env:B_KEY"]

[jobs.night]
command = ["true"]

[[jobs.night.clocks]]
name = "half-past-two"
cron = "30 2 * * *"
catchup = "none"
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("parameters")
    env = {"A_KEY": "a-value", "B_KEY": "b-value"}
    with DaemonProcess(tmp, CONFIG, env=env) as process:
        yield wait_for_api(process)


@pytest.fixture(scope="module")
def api(daemon: DaemonProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
        yield client


def clockd(daemon: DaemonProcess, *args: str) -> tuple[int, str, str]:
    clean = {"CLOCKD_API_URL": "", "CLOCKD_TOKEN": "", "CLOCKD_URL": "", "CLOCKD_RUN_ID": ""}
    done = run_clockd(*args, "-c", str(daemon.config_path), cwd=daemon.tmp, env=clean)
    return done.returncode, done.stdout, done.stderr


def log_of(api: httpx.Client, run_id: int) -> list[str]:
    def final() -> dict | None:
        run = api.get(f"/api/v1/runs/{run_id}").json()
        return run if run["state"] not in ("pending", "running") else None

    run = wait_until(final, 20, f"run {run_id} to end")
    assert run["state"] == "succeeded", run
    lines = api.get(f"/api/v1/runs/{run_id}/logs").json()["lines"]
    return [line["text"] for line in lines]


# -- templates given at trigger time are data ------------------------------------------------


def test_a_template_in_the_api_body_reaches_the_run_and_its_process_as_text(
    api: httpx.Client,
) -> None:
    response = api.post("/api/v1/jobs/echo/runs", json={"parameters": {"msg": "{{ 7*7 }}"}})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["parameters"] == {"msg": "{{ 7*7 }}", "n": 1}
    assert log_of(api, run["id"]) == ["msg={{ 7*7 }} n=1"]


def test_a_template_in_parameter_text_is_text_too(api: httpx.Client) -> None:
    response = api.post("/api/v1/jobs/echo/runs", json={"parameter_text": {"msg": "{{ 7*7 }}"}})
    assert response.status_code == 201, response.text
    assert response.json()["parameters"]["msg"] == "{{ 7*7 }}"
    # converted by its type like any text: a template is not an integer
    refused = api.post("/api/v1/jobs/echo/runs", json={"parameter_text": {"n": "{{ 7*7 }}"}})
    assert refused.status_code == 422
    [detail] = refused.json()["details"]
    assert (detail["parameter"], detail["kind"]) == ("n", "invalid")
    assert detail["message"] == "parameter 'n': '{{ 7*7 }}' is not an integer (write it like 42)"


def test_the_issues_payload_given_at_trigger_time_is_answered_at_once_as_text(
    api: httpx.Client,
) -> None:
    payload = "{% set x = range(20000)|list %}{% for i in x %}{{ x|join(',')|length }}{% endfor %}"
    response = api.post("/api/v1/jobs/echo/runs", json={"parameters": {"msg": payload}})
    assert response.status_code == 201, response.text
    assert response.json()["parameters"]["msg"] == payload


def test_clockd_trigger_and_run_take_a_template_as_text(
    daemon: DaemonProcess, api: httpx.Client
) -> None:
    code, out, err = clockd(daemon, "trigger", "echo", "-p", "msg={{ 7*7 }}")
    assert code == 0, err
    assert log_of(api, int(out)) == ["msg={{ 7*7 }} n=1"]
    code, out, err = clockd(daemon, "run", "echo", "--params-json", '{"msg": "{{ job }}"}')
    assert code == 0, err
    assert "msg={{ job }} n=1" in out + err


# -- secret parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["file:/etc/hostname", "env:HOME", "env:B_KEY"])
def test_a_secret_without_listed_references_refuses_any_trigger_time_value(
    api: httpx.Client, daemon: DaemonProcess, reference: str
) -> None:
    before = len(daemon.runs())
    response = api.post("/api/v1/jobs/unlisted/runs", json={"parameters": {"key": reference}})
    assert response.status_code == 422
    [detail] = response.json()["details"]
    assert (detail["parameter"], detail["kind"]) == ("key", "secret")
    assert detail["message"] == (
        "secret parameter 'key' cannot be chosen at trigger time: the config gives it no "
        "default and no references"
    )
    assert len(daemon.runs()) == before, "a refused run leaves nothing behind"


def test_a_secret_takes_its_default_or_a_listed_reference(api: httpx.Client) -> None:
    default = api.post("/api/v1/jobs/listed/runs", json={}).json()
    assert default["parameters"] == {"key": "***"}
    # the run prints its secret without the first two characters: the whole secret would be
    # masked in the log (spec 2.1), the rest tells which reference was resolved
    assert log_of(api, default["id"]) == ["got=value"]
    chosen = api.post("/api/v1/jobs/listed/runs", json={"parameters": {"key": "env:B_KEY"}})
    assert chosen.status_code == 201, chosen.text
    assert log_of(api, chosen.json()["id"]) == ["got=value"]
    refused = api.post("/api/v1/jobs/listed/runs", json={"parameter_text": {"key": "env:HOME"}})
    assert refused.status_code == 422
    [detail] = refused.json()["details"]
    assert (detail["parameter"], detail["kind"]) == ("key", "secret")
    assert "env:HOME" not in detail["message"]
    schema = api.get("/api/v1/jobs/listed").json()["parameters_schema"]
    assert schema["properties"]["key"]["enum"] == ["env:A_KEY", "env:B_KEY"]


def test_the_cli_refuses_an_unlisted_secret_reference_with_exit_1(daemon: DaemonProcess) -> None:
    for command in ("trigger", "run"):
        code, _, err = clockd(daemon, command, "listed", "-p", "key=file:/etc/hostname")
        assert code == 1, (command, err)
        assert "secret parameter 'key'" in err
        assert "Traceback" not in err


# -- backfill bounds: one wall-time parser ---------------------------------------------------

# Europe/Berlin: 2026-03-29 02:00 → 03:00 does not exist (UTC+1 → UTC+2);
# 2026-10-25 02:00–03:00 happens twice (first at UTC+2, then at UTC+1).


@pytest.mark.parametrize(
    ("start", "end", "instants"),
    [
        # in the gap: the first instant after it, 03:00+02:00
        ("2026-03-29T02:30", "2026-03-29T02:30", ("2026-03-29T01:00:00+00:00",) * 2),
        # in the repeated hour: its first occurrence, +02:00
        ("2026-10-25T02:30", "2026-10-25T02:30", ("2026-10-25T00:30:00+00:00",) * 2),
        # a date alone: its whole local day, from 00:00 to its last second (a 25-hour day)
        ("2026-10-25", "2026-10-25", ("2026-10-24T22:00:00+00:00", "2026-10-25T22:59:59+00:00")),
    ],
    ids=["gap", "repeated-hour", "whole-day"],
)
def test_api_and_cli_read_a_backfill_bound_as_the_same_instant(
    api: httpx.Client, daemon: DaemonProcess, start: str, end: str, instants: tuple[str, str]
) -> None:
    body = {"clock": "half-past-two", "from": start, "to": end, "dry_run": True}
    answer = api.post("/api/v1/jobs/night/backfill", json=body)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["from"], answer.json()["to"]) == instants
    code, out, err = clockd(
        daemon, "backfill", "night", "--clock", "half-past-two", "--from", start, "--to", end,
        "--dry-run", "--json",
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["from"], plan["to"]) == instants


def test_the_fire_in_the_gap_is_found_by_a_bound_in_the_gap(api: httpx.Client) -> None:
    body = {"clock": "half-past-two", "from": "2026-03-29T02:30", "to": "2026-03-29T03:00"}
    fires = api.post("/api/v1/jobs/night/backfill", json={**body, "dry_run": True}).json()["fires"]
    # cron `30 2 * * *` fires at 03:00+02:00 that day (spec 2.3): inside [01:00Z, 01:00Z]
    assert [fire["time"] for fire in fires] == ["2026-03-29T01:00:00+00:00"]


def test_a_bound_that_is_not_a_time_is_refused_before_asking_the_daemon(
    daemon: DaemonProcess,
) -> None:
    code, _, err = clockd(
        daemon, "backfill", "night", "--clock", "half-past-two", "--from", "soon", "--to", "2026-01-01",
    )  # fmt: skip
    assert code == 2
    assert "'soon' is not a date or date-time" in err
