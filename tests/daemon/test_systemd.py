"""systemd: the shipped units, and the notify protocol spoken by a real `clockd serve`."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from scheduler.daemon.systemd import Notifier
from tests.helpers import ROOT, DaemonProcess, NotifySocket, clockd_argv, wait_until

UNITS = ROOT / "systemd"

REQUIRED = {
    "Type": "notify",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "RestartPreventExitStatus": "78 77 73 66",
    "DynamicUser": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
}


def unit_keys(path: Path) -> dict[str, str]:
    keys: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys[key.strip()] = value.strip()
    return keys


@pytest.mark.parametrize("unit", ["clockd.service", "clockd@.service"], ids=["plain", "template"])
def test_unit_has_the_required_keys(unit: str) -> None:
    keys = unit_keys(UNITS / unit)
    for key, value in REQUIRED.items():
        assert keys.get(key) == value, f"{unit}: {key}"
    for key in ("WatchdogSec", "StateDirectory", "ConfigurationDirectory", "ExecStart"):
        assert keys.get(key), f"{unit}: {key} missing"
    assert keys["ExecStart"].split()[1:3] == ["serve", "-c"]


def test_template_takes_its_config_from_the_instance_name() -> None:
    keys = unit_keys(UNITS / "clockd@.service")
    assert keys["ExecStart"].endswith("/etc/clockd/%i.toml")
    assert "%i" in keys["StateDirectory"]


SHIPPED_CLOCKD = Path("/opt/clockd/bin/clockd")
REQUIRED_SYSTEMD = os.environ.get("CLOCKD_REQUIRE_SYSTEMD") == "1"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """As shipped when `/opt/clockd/bin/clockd` exists (.ci/run links it to the venv's, as
    an installation does), else with ExecStart pointed at this venv's clockd."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if REQUIRED_SYSTEMD:
            pytest.fail("CLOCKD_REQUIRE_SYSTEMD=1 but systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    shipped = SHIPPED_CLOCKD.exists()
    if REQUIRED_SYSTEMD and not shipped:
        pytest.fail(f"CLOCKD_REQUIRE_SYSTEMD=1 but {SHIPPED_CLOCKD} does not exist")
    for name in ("clockd.service", "clockd@.service"):
        text = (UNITS / name).read_text()
        if not shipped:
            text = text.replace(str(SHIPPED_CLOCKD), clockd_argv()[0])
        (tmp_path / name).write_text(text)
    (tmp_path / "clockd@demo.service").write_text((tmp_path / "clockd@.service").read_text())
    done = subprocess.run(
        [
            analyze,
            "verify",
            str(tmp_path / "clockd.service"),
            str(tmp_path / "clockd@demo.service"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Unknown" not in output, output
    assert "ignoring" not in output, output


def test_a_relative_database_lands_in_the_state_directory_systemd_gives(tmp_path: Path) -> None:
    from scheduler.config import load_config

    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "clockd.toml"
    config.write_text('[daemon]\nlisten = ""\n')
    state = tmp_path / "var-lib-clockd"
    under_systemd = load_config(config, environ={"STATE_DIRECTORY": f"{state}:/other"})
    assert under_systemd.daemon.database == str(state / "clockd.db")
    by_hand = load_config(config, environ={})
    assert by_hand.daemon.database == str(tmp_path / "etc" / "clockd.db")


def test_notifier_writes_datagrams_and_clears_the_environment(tmp_path: Path) -> None:
    receiver = NotifySocket(tmp_path / "n.sock")
    environ = {"NOTIFY_SOCKET": str(receiver.path), "WATCHDOG_USEC": "2000000", "PATH": "/bin"}
    notifier = Notifier.from_environ(environ)
    assert environ == {"PATH": "/bin"}  # children never inherit the socket
    assert notifier.watchdog_interval == 1.0
    assert notifier.reloading()
    assert notifier.ready("ok")
    notifier.close()
    messages = receiver.drain()
    assert messages[0]["RELOADING"] == "1"
    usec = int(messages[0]["MONOTONIC_USEC"])
    assert abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 5_000_000
    assert messages[1]["READY"] == "1"
    assert messages[1]["STATUS"] == "ok"
    receiver.close()


def test_notifier_reaches_an_abstract_socket() -> None:
    import socket

    name = f"clockd-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(5)
    try:
        assert Notifier(f"@{name}").notify("STATUS=hello")
        assert server.recv(100) == b"STATUS=hello"
    finally:
        server.close()


def test_notifier_without_socket_does_nothing() -> None:
    assert Notifier.from_environ({}).notify("READY=1") is False


CONFIG = """
[daemon]
database = "{database}"
listen = ""
shutdown_grace = "2s"

[jobs.tick]
command = ["true"]

[[jobs.tick.clocks]]
name = "every-second"
interval = "1s"
"""


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_daemon_speaks_the_notify_protocol(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, CONFIG, env={"WATCHDOG_USEC": "2000000"}) as daemon:
        notify = daemon.notify
        assert notify is not None
        ready = notify.having("READY", "1")
        assert ready[0]["STATUS"].startswith("scheduling 1 clocks")
        # WATCHDOG=1 at half of WATCHDOG_USEC (every 1 s): expect several within ~3.5 s
        wait_until(lambda: len(notify.having("WATCHDOG", "1")) >= 3, 6, "three WATCHDOG=1 pings")
        pings = [float(m["_received"]) for m in notify.having("WATCHDOG", "1")]
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert all(0.5 < gap < 1.6 for gap in gaps), gaps

        daemon.signal(signal.SIGHUP)
        reloading = wait_until(lambda: notify.having("RELOADING", "1"), 10, "RELOADING=1")
        usec = int(reloading[0]["MONOTONIC_USEC"])
        assert abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 10_000_000
        wait_until(lambda: len(notify.having("READY", "1")) >= 2, 10, "READY=1 after the reload")

        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
        assert notify.having("STOPPING", "1")
        order = [
            next(k for k in m if k in ("READY", "RELOADING", "STOPPING"))
            for m in notify.drain()
            if {"READY", "RELOADING", "STOPPING"} & set(m)
        ]
        assert order == ["READY", "RELOADING", "READY", "STOPPING"]


@pytest.mark.timeout(20)
def test_notify_never_blocks_on_a_receiver_that_does_not_read(tmp_path: Path) -> None:
    # A receiver whose queue is full (systemd busy, a test socket nobody drains) would make a
    # blocking send stop the daemon's loop; `POST /api/v1/reload` sends on every call.
    receiver = NotifySocket(tmp_path / "notify.sock")
    notifier = Notifier(str(tmp_path / "notify.sock"))
    try:
        sent = [notifier.status(f"message {n}") for n in range(5000)]  # past max_dgram_qlen
        assert sent[0] is True
        assert sent[-1] is False, "the queue never filled: the test proves nothing"
        receiver.drain()
        assert notifier.status("after the queue drained") is True
    finally:
        receiver.close()
