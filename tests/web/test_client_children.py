"""A parent run starts a child run through the daemon's API — with `scheduler.Client.from_env()`
from a Python target and with `clockd trigger --watch` from a command — using the shipped
config/parent_child.toml; and the Client's errors outside runs."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.client import Client, ClientError
from scheduler.errors import DaemonUnreachable, UserError
from tests.helpers import ROOT, DaemonProcess, free_port, wait_for_api

pytestmark = pytest.mark.e2e


def shipped_config(token_file: Path | None = None) -> str:
    """config/parent_child.toml with a temp database and a free port (and maybe a token)."""
    text = (ROOT / "config" / "parent_child.toml").read_text()
    text = re.sub(r"(?m)^database = .*$", 'database = "{database}"', text)
    text = re.sub(r"(?m)^listen = .*$", 'listen = "127.0.0.1:{port}"', text)
    if token_file is not None:
        text = text.replace("[daemon]\n", f'[daemon]\ntoken_file = "{token_file}"\n', 1)
    return text


def start(tmp: Path, *, token: bool) -> DaemonProcess:
    shutil.copytree(ROOT / "config" / "examples", tmp / "examples")
    token_file = None
    if token:
        token_file = tmp / "token"
        token_file.write_text("parent-child-secret")
    # `clockd` (for parent-cli) and `scheduler` (for the Python targets) from this venv
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    daemon = DaemonProcess(tmp, shipped_config(token_file), env=env)
    return wait_for_api(daemon.__enter__())


@pytest.fixture(scope="module", params=[False, True], ids=["open", "token"])
def daemon(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    process = start(tmp_path_factory.mktemp("children"), token=request.param)
    process.token = "parent-child-secret" if request.param else None  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        process.__exit__()


@pytest.fixture(params=[False, True], ids=["httpx", "http.client"])
def client(daemon: DaemonProcess, request: pytest.FixtureRequest) -> Iterator[Client]:
    url = f"http://127.0.0.1:{daemon.port}"
    with Client(url, daemon.token, lightweight=request.param) as api:  # type: ignore[attr-defined]
        yield api


def log_texts(client: Client, run_id: int) -> list[str]:
    return [line["text"] for line in client.logs(run_id)]


def test_parent_starts_child_with_client_from_env(client: Client) -> None:
    parent = client.create_run("parent", {"n": 3}, wait=True)
    texts = log_texts(client, parent["id"])
    assert parent["state"] == "succeeded", "\n".join(texts)
    [child] = client.runs(parent_id=parent["id"])
    assert child["job"] == "child"
    assert child["trigger"] == "child"
    assert child["parent_id"] == parent["id"]
    assert child["parameters"] == {"n": 3, "label": "child"}
    assert child["state"] == "succeeded"
    assert child["result"] == {"counted": 3}
    assert parent["result"] == {"child": child["id"], "state": "succeeded"}
    # the child's log lines streamed into the parent's log, in order, before the summary
    assert log_texts(client, child["id"]) == ["child says 1/3", "child says 2/3", "child says 3/3"]
    said = [t for t in texts if t.startswith("child says")]
    assert said == ["child says 1/3", "child says 2/3", "child says 3/3"]
    assert texts.index("child says 3/3") < texts.index(f"child run {child['id']} ended succeeded")


def test_parent_starts_child_with_clockd_trigger_watch(client: Client) -> None:
    parent = client.create_run("parent-cli", {"n": 2}, wait=True)
    texts = log_texts(client, parent["id"])
    assert parent["state"] == "succeeded", "\n".join(texts)
    [child] = client.runs(parent_id=parent["id"])
    assert child["trigger"] == "child"
    assert child["parameters"] == {"n": 2, "label": "cli-child"}  # "-p n=2" became the integer 2
    assert str(child["id"]) in texts  # `clockd trigger` printed the child's id
    assert [t for t in texts if "says" in t] == ["cli-child says 1/2", "cli-child says 2/2"]


def test_failed_child_fails_the_watching_parent(client: Client) -> None:
    # n=101 is over the child's maximum: the trigger is refused, the parent fails with the reason
    parent = client.create_run("parent-cli", {"n": 101}, wait=True)
    assert parent["state"] == "failed"
    assert client.runs(parent_id=parent["id"]) == []
    assert any("maximum" in t for t in log_texts(client, parent["id"]))


def test_client_errors_carry_the_api_details(client: Client) -> None:
    with pytest.raises(ClientError) as refused:
        client.create_run("child", {"n": "many", "bogus": 1})
    assert refused.value.status == 422
    assert {d["parameter"] for d in refused.value.details} == {"n", "bogus"}
    assert "\n  unexpected parameter 'bogus'" in str(refused.value)
    with pytest.raises(ClientError) as missing:
        client.get_run(999_999)
    assert missing.value.status == 404


def test_wait_for_run_streams_lines_to_a_file(client: Client, tmp_path: Path) -> None:
    run = client.create_run("child", {"n": 2, "label": "streamed"})
    with (tmp_path / "out.txt").open("w") as out:
        final = client.wait_for_run(run["id"], out=out)
    assert final["state"] == "succeeded"
    assert (tmp_path / "out.txt").read_text() == "streamed says 1/2\nstreamed says 2/2\n"


@pytest.mark.parametrize("lightweight", [False, True], ids=["httpx", "http.client"])
def test_unreachable_daemon_is_a_clear_error(lightweight: bool) -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}", lightweight=lightweight) as nobody,
        pytest.raises(DaemonUnreachable) as error,
    ):
        nobody.jobs()
    assert "did not answer" in str(error.value)


def test_from_env_needs_the_run_environment() -> None:
    with pytest.raises(UserError, match="CLOCKD_API_URL"):
        Client.from_env({})
    inside = Client.from_env(
        {"CLOCKD_API_URL": "http://127.0.0.1:9", "CLOCKD_TOKEN": "t", "CLOCKD_RUN_ID": "12"}
    )
    assert inside.parent_id == 12
    assert inside.url == "http://127.0.0.1:9"
    inside.close()


def test_token_decides_who_gets_in(daemon: DaemonProcess) -> None:
    with Client(f"http://127.0.0.1:{daemon.port}", "wrong") as api:
        if daemon.token is None:  # type: ignore[attr-defined]
            assert {job["name"] for job in api.jobs()} == {"child", "parent", "parent-cli"}
            return
        with pytest.raises(ClientError) as error:
            api.jobs()
    assert error.value.status == 401
