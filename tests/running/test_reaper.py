"""The daemon as a subreaper, in a process of its own (a subreaper changes who inherits every
orphan of the process: not something to do to the test runner): a process that left its
run's group becomes its child and is killed once the run has ended; runs' own children keep
their exit statuses; other zombies are reaped; unmarked children are left alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT

PROBE = """
import asyncio, json, os, signal, sys, time
sys.path.insert(0, ROOT)
from scheduler.running.local.process import SPAWNED, LogLimiter, RunProcess
from scheduler.running.local.reaper import become_subreaper, children, start_subreaper

OWNER = "daemon:probe:0123456789ab"
active = {5}
result = {"subreaper": become_subreaper()}
reaper = start_subreaper(OWNER, lambda run_id: run_id in active)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def until(predicate, what):
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def run(argv, run_id, lines):
    env = dict(os.environ, CLOCKD_OWNER=OWNER, CLOCKD_RUN_ID=str(run_id))
    sink = lambda moment, stream, text: lines.append(text)
    return RunProcess(argv, env=env, cwd=None, log=LogLimiter(10_000, sink))


async def main():
    lines = []
    # the leader exits once the escapee has a session of its own (field 6 of its stat):
    # before that, the group kill at the leader's exit would still reach it
    script = (
        "setsid sleep 302 >/dev/null 2>&1 & p=$!; "
        "until [ $(cut -d' ' -f6 /proc/$p/stat) = $p ]; do sleep 0.01; done; echo $p"
    )
    escaping = run(["sh", "-c", script], 5, lines)
    await escaping.start()
    # a run of an ended id (6) whose own process is still running: a run's child, never swept
    keeper = run(["sleep", "30"], 6, [])
    await keeper.start()
    # a child of ours that is no run's and has no marks (started before the daemon, say)
    plain = os.posix_spawn("/bin/sleep", ["sleep", "300"], {})
    result["exit"] = await escaping.wait()
    escaped = int(lines[0])
    await until(lambda: escaped in children(), "the escapee reparented to us")
    result["while_active"] = reaper.sweep()
    result["escaped_alive_while_active"] = alive(escaped)
    active.discard(5)
    quick = os.posix_spawn("/bin/true", ["true"], {})  # a zombie of no run, soon
    await until(lambda: not os.path.exists(f"/proc/{quick}/cmdline") or not alive(quick), "true")
    swept = reaper.sweep()
    await until(lambda: not alive(escaped), "the escapee killed")
    again = reaper.sweep()
    result["after_end"] = [swept[0] + again[0], swept[1] + again[1]]
    result["escaped_alive"] = alive(escaped)
    result["zombies_left"] = [pid for pid in children() if not alive(pid)]
    result["plain_alive"] = alive(plain)
    result["keeper_spawned"] = keeper.pid in SPAWNED
    keeper.kill_group(signal.SIGTERM)
    result["keeper_exit"] = await keeper.wait()
    os.kill(plain, signal.SIGKILL)
    os.waitpid(plain, 0)


asyncio.run(main())
print(json.dumps(result))
"""


def test_a_process_that_left_its_group_dies_with_its_run_and_runs_keep_their_statuses(
    tmp_path: Path,
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(PROBE).replace("ROOT", repr(str(ROOT)), 1))
    done = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["subreaper"] is True
    assert result["exit"] == 0
    # while its run is active, the escapee is left alone
    assert result["while_active"] == [0, 0]
    assert result["escaped_alive_while_active"] is True
    # once it ended: killed (1), then it and `true` reaped as zombies (2)
    assert result["after_end"] == [2, 1]
    assert result["escaped_alive"] is False
    assert result["zombies_left"] == []
    assert result["plain_alive"] is True  # no marks: not ours to judge
    assert result["keeper_spawned"] is True
    assert result["keeper_exit"] == -15  # its status was not stolen by a sweep
