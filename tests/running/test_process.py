"""Real child processes: process groups, argv without a shell, line capture, the log cap."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from scheduler.running.local.process import LogLimiter, RunProcess, describe_exit
from scheduler.running.secrets import SecretError, resolve_secret
from tests.conftest import ROOT
from tests.helpers import pid_alive
from tests.helpers import wait_until_async as wait_until


class Captured:
    def __init__(self) -> None:
        self.lines: list[tuple[datetime, str, str]] = []

    def __call__(self, moment: datetime, stream: str, text: str) -> None:
        self.lines.append((moment, stream, text))

    def texts(self, stream: str | None = None) -> list[str]:
        return [text for _, s, text in self.lines if stream is None or s == stream]


def run(
    argv: list[str],
    *,
    max_bytes: int = 1 << 20,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, Captured]:
    captured = Captured()

    async def main() -> int:
        limiter = LogLimiter(max_bytes, captured)
        process = RunProcess(argv, env=env or dict(os.environ), cwd=cwd, log=limiter)
        await process.start()
        code = await process.wait()
        limiter.finish()
        return code

    return asyncio.run(main()), captured


def test_killing_the_group_kills_grandchildren(tmp_path: Path) -> None:
    captured = Captured()

    async def main() -> tuple[int, int]:
        process = RunProcess(
            ["sh", "-c", "sleep 60 & echo $!; wait"],
            env=dict(os.environ),
            cwd=tmp_path,
            log=LogLimiter(1 << 20, captured),
        )
        await process.start()
        await wait_until(lambda: captured.texts("stdout"), 10, "the grandchild's pid")
        grandchild = int(captured.texts("stdout")[0])
        assert pid_alive(grandchild)
        assert process.kill_group(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 10)
        await wait_until(lambda: not pid_alive(grandchild), 5, f"grandchild {grandchild} gone")
        return code, grandchild

    code, grandchild = asyncio.run(main())
    assert code == -signal.SIGTERM
    assert not pid_alive(grandchild)
    assert describe_exit(code) == "killed by SIGTERM"


def test_the_child_leads_its_own_process_group() -> None:
    code, captured = run([sys.executable, "-c", "import os; print(os.getpgid(0) == os.getpid())"])
    assert code == 0
    assert captured.texts("stdout") == ["True"]


def test_argv_items_arrive_verbatim_and_no_shell_runs_them(tmp_path: Path) -> None:
    hostile = ["$(touch pwned)", "`touch pwned2`", "a; touch pwned3", "*", "'\"", ""]
    code, captured = run(
        [sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *hostile],
        cwd=tmp_path,
    )
    assert code == 0
    import json

    assert json.loads(captured.texts("stdout")[0]) == hostile
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_lines_are_split_per_stream_and_timestamped_when_read() -> None:
    script = (
        "import sys, time\n"
        "print('first', flush=True)\n"
        "print('oops', file=sys.stderr, flush=True)\n"
        "time.sleep(0.3)\n"
        "sys.stdout.write('no newline at end')\n"
    )
    code, captured = run([sys.executable, "-c", script])
    assert code == 0
    assert captured.texts("stdout") == ["first", "no newline at end"]
    assert captured.texts("stderr") == ["oops"]
    times = {text: moment for moment, _, text in captured.lines}
    assert times["first"].tzinfo is not None
    assert (times["no newline at end"] - times["first"]).total_seconds() >= 0.25


def test_binary_garbage_and_long_lines_are_captured_without_breaking() -> None:
    script = (
        "import sys\n"
        "sys.stdout.buffer.write(b'ok \\xff\\xfe bytes\\r\\n')\n"
        "sys.stdout.buffer.write(b'\\xc3\\xa9' * 100000 + b'\\n')\n"
        "sys.stdout.buffer.write(b'end\\n')\n"
    )
    code, captured = run([sys.executable, "-c", script])
    assert code == 0
    lines = captured.texts("stdout")
    assert lines[0] == "ok \ufffd\ufffd bytes"
    assert lines[-1] == "end"
    long_pieces = lines[1:-1]
    assert len(long_pieces) > 1  # cut into pieces of at most MAX_LINE_BYTES
    # Cuts never split a UTF-8 sequence: every piece decodes to whole é characters.
    assert "".join(long_pieces) == "é" * 100000


def test_the_log_cap_keeps_head_and_tail_with_one_mark_and_keeps_draining_the_pipe() -> None:
    # 2 MB of output through a 1 kB cap: the child must not block on a full pipe. 500 bytes
    # of head (5 lines of 100 bytes) and 500 of tail: 4 lines and "LAST" (5 bytes).
    script = "import sys\nfor i in range(20000):\n    print(f'{i:099d}')\nprint('LAST')"
    started = time.monotonic()
    code, captured = run([sys.executable, "-c", script], max_bytes=1000)
    assert code == 0
    assert time.monotonic() - started < 30
    texts = captured.texts()
    assert texts[:5] == [f"{i:099d}" for i in range(5)]
    dropped = 20000 * 100 + 5 - 500 - 405
    assert texts[5] == f"[clockd: … {dropped} bytes dropped …]"
    assert texts[6:] == [*(f"{i:099d}" for i in range(19996, 20000)), "LAST"]


def test_the_exit_code_comes_back() -> None:
    code, _ = run([sys.executable, "-c", "raise SystemExit(3)"])
    assert code == 3
    assert describe_exit(code) == "exit code 3"


def test_a_missing_program_raises_at_start(tmp_path: Path) -> None:
    async def main() -> None:
        process = RunProcess(
            [str(tmp_path / "nope")], env={}, cwd=tmp_path, log=LogLimiter(100, Captured())
        )
        await process.start()

    with pytest.raises(FileNotFoundError):
        asyncio.run(main())


def test_a_background_child_holding_the_pipe_is_killed_after_the_main_process_exits() -> None:
    captured = Captured()

    async def main() -> int:
        process = RunProcess(
            ["sh", "-c", "sleep 60 & echo $!"],
            env=dict(os.environ),
            cwd=None,
            log=LogLimiter(1 << 20, captured),
        )
        await process.start()
        return await asyncio.wait_for(process.wait(), 15)

    assert asyncio.run(main()) == 0
    grandchild = int(captured.texts("stdout")[0])
    assert any("killed its process group" in text for text in captured.texts("clockd"))
    deadline = time.monotonic() + 5
    while pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(grandchild)


@pytest.mark.parametrize(
    "elsewhere", [False, True], ids=["posix_spawn (daemon's folder)", "Popen (other folder)"]
)
def test_a_grandchild_that_closed_its_output_dies_with_the_main_process(
    elsewhere: bool, tmp_path: Path
) -> None:
    """Issue 12, finding 5: `sleep 301 >/dev/null 2>&1 &` holds no pipe, so the capture
    ends at once; it is killed anyway, before the main process is reaped."""
    from scheduler.running.local.process import SPAWNED

    captured = Captured()

    async def main() -> tuple[int, RunProcess]:
        process = RunProcess(
            ["sh", "-c", "sleep 301 >/dev/null 2>&1 & echo $!; exit 0"],
            env=dict(os.environ),
            cwd=tmp_path if elsewhere else None,
            log=LogLimiter(1 << 20, captured),
        )
        await process.start()
        assert process.pid in SPAWNED
        return await asyncio.wait_for(process.wait(), 15), process

    code, process = asyncio.run(main())
    assert code == 0
    grandchild = int(captured.texts("stdout")[0])
    deadline = time.monotonic() + 5
    while pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(grandchild)
    assert captured.texts("clockd") == []  # it held no pipe: no drain grace, no kill line
    # reaped now: its pid is no longer ours to signal, nor left to a subreaper's care
    assert process.pid not in SPAWNED
    assert not process.kill_group(signal.SIGKILL)


def test_the_main_process_stays_a_zombie_until_its_group_is_killed(tmp_path: Path) -> None:
    """Between the exit and the end of `wait`, the leader's pid (and so its group id) cannot
    be reused: it is a zombie of ours."""

    async def main() -> tuple[str, bool]:
        process = RunProcess(
            ["true"], env=dict(os.environ), cwd=None, log=LogLimiter(100, Captured())
        )
        await process.start()
        await asyncio.wait_for(asyncio.shield(process.exited), 10)
        assert process.pid is not None
        with open(f"/proc/{process.pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        await process.wait()
        return state, os.path.exists(f"/proc/{process.pid}")

    state, still_there = asyncio.run(main())
    assert state == "Z"
    assert not still_there


# --- secrets ---------------------------------------------------------------------------------


def test_env_secret_reads_the_given_environment() -> None:
    assert resolve_secret("env:API_KEY", {"API_KEY": "s3cr3t"}) == "s3cr3t"


def test_file_secret_strips_one_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("line1\nline2\n\n")
    assert resolve_secret(f"file:{tmp_path / 'key'}", {}) == "line1\nline2\n"
    (tmp_path / "rel").write_text("relative\n")
    assert resolve_secret("file:rel", {}, base_dir=tmp_path) == "relative"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("env:MISSING", "secret 'env:MISSING': environment variable 'MISSING' is not set"),
        (
            "file:/nonexistent/key",
            "secret 'file:/nonexistent/key': file '/nonexistent/key' does not exist",
        ),
        ("vault:x", "unknown kind 'vault'"),
        ("plain", "not a reference"),
    ],
    ids=["env-missing", "file-missing", "unknown-kind", "literal"],
)
def test_unresolvable_secrets_are_phrased(reference: str, message: str) -> None:
    with pytest.raises(SecretError, match=re.escape(message)):
        resolve_secret(reference, {})


def test_without_pidfd_a_thread_sees_the_exit_and_kills_still_reach_the_group(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Kernels without pidfd_open (before 5.3): a thread waits for the child instead."""
    import threading

    import scheduler.running.local.process

    monkeypatch.setattr(scheduler.running.local.process, "_pidfd_works", False)
    code, captured = run([sys.executable, "-c", "print('out'); raise SystemExit(4)"])
    assert (code, captured.texts("stdout")) == (4, ["out"])

    async def killed() -> tuple[int, bool]:
        process = RunProcess(
            ["sleep", "60"], env=dict(os.environ), cwd=tmp_path, log=LogLimiter(100, Captured())
        )
        process.spawn()
        waiting = f"clockd-wait-{process.pid}" in {t.name for t in threading.enumerate()}
        assert process.kill_group(signal.SIGTERM)
        return await asyncio.wait_for(process.wait(), 10), waiting

    code, waited_in_thread = asyncio.run(killed())
    assert code == -signal.SIGTERM
    assert waited_in_thread


# A child that starts in the daemon's own folder is started by os.posix_spawn, any other by
# subprocess.Popen (which can change directory): both must give it the same world.
STARTS = pytest.mark.parametrize(
    "elsewhere", [False, True], ids=["posix_spawn (daemon's folder)", "Popen (other folder)"]
)


def start_in(elsewhere: bool, tmp_path: Path) -> Path | None:
    return tmp_path if elsewhere else None


@STARTS
def test_both_starts_give_the_same_session_stdin_signals_and_environment(
    elsewhere: bool, tmp_path: Path
) -> None:
    script = (
        'echo "pgid=$(ps -o pgid= -p $$ | tr -d " ") sid=$(ps -o sid= -p $$ | tr -d " ") pid=$$"; '
        "cat; echo stdin-done; grep -E '^SigIgn:' /proc/self/status; "
        'echo "x=$CLOCKD_X path=$PATH"'
    )
    code, captured = run(
        ["sh", "-c", script],
        cwd=start_in(elsewhere, tmp_path),
        env={"CLOCKD_X": "ä 1", "PATH": os.environ["PATH"]},
    )
    assert code == 0
    lines = captured.texts("stdout")
    ids = dict(item.split("=") for item in lines[0].split())
    assert ids["pgid"] == ids["sid"] == ids["pid"]  # a session and group of its own
    assert lines[1] == "stdin-done"  # stdin is /dev/null: cat ends at once
    ignored = int(lines[2].split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))  # SIGPIPE back to default
    assert lines[3] == f"x=ä 1 path={os.environ['PATH']}"


@STARTS
def test_both_starts_look_the_program_up_in_the_childs_path(
    elsewhere: bool, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    program = tools / "hello-clockd"
    program.write_text("#!/bin/sh\necho hello from $0\n")
    program.chmod(0o755)
    (tools / "not-executable").write_text("#!/bin/sh\n")
    env = {"PATH": f"{tmp_path / 'empty'}:{tools}:/usr/bin:/bin"}
    code, captured = run(["hello-clockd"], cwd=start_in(elsewhere, tmp_path), env=env)
    assert (code, captured.texts("stdout")) == (0, [f"hello from {program}"])

    async def start(name: str) -> None:
        process = RunProcess(
            [name], env=env, cwd=start_in(elsewhere, tmp_path), log=LogLimiter(100, Captured())
        )
        await process.start()

    with pytest.raises(FileNotFoundError):
        asyncio.run(start("no-such-program-clockd"))
    with pytest.raises(PermissionError):
        asyncio.run(start("not-executable"))


@STARTS
def test_both_starts_report_a_signal_death(elsewhere: bool, tmp_path: Path) -> None:
    code, _ = run(["sh", "-c", "kill -TERM $$"], cwd=start_in(elsewhere, tmp_path))
    assert code == -signal.SIGTERM


def test_a_run_gets_no_descriptor_the_daemon_inherited(tmp_path: Path) -> None:
    """The daemon is started with an inheritable descriptor open (a careless parent): neither
    way of starting a run passes it on."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            f"""
            import asyncio, os, sys
            sys.path.insert(0, {str(ROOT)!r})
            from scheduler.running.local.process import LogLimiter, RunProcess
            leaked = os.dup2(os.open(os.devnull, os.O_RDONLY), 100)  # inheritable
            lines = []

            async def main(cwd):
                process = RunProcess(
                    ["sh", "-c", "ls /proc/self/fd"], env=dict(os.environ), cwd=cwd,
                    log=LogLimiter(10_000, lambda moment, stream, text: lines.append(text)),
                )
                await process.start()
                await process.wait()

            for cwd in (None, {str(tmp_path)!r}):
                lines.clear()
                asyncio.run(main(cwd))
                print(leaked, sorted(int(n) for n in lines))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        leaked, listed = line.split(" ", 1)
        # 0-2, and the descriptor ls itself opened to read the folder
        descriptors = json.loads(listed)
        assert int(leaked) not in descriptors
        assert len(descriptors) == 4, line


def test_the_open_files_limit_is_raised_only_as_needed_and_never_past_the_hard_one() -> None:
    import resource

    code = textwrap.dedent(
        """
        import resource
        from scheduler.running.local.process import make_room_for_runs
        print(make_room_for_runs(0), make_room_for_runs(10), make_room_for_runs(100))
        print(make_room_for_runs(50))  # needs less than it has: never lowered
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        print(make_room_for_runs(1000))
        """
    )

    def limited(soft: int, hard: int) -> Callable[[], None]:
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    out = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=limited(200, 2000), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # 0 runs: nothing; each run needs 3, and 256 beside: 10 runs 286, 100 runs 556
    assert lines[0] == "(256, 200, 200) (286, 200, 286) (556, 286, 556)"
    assert lines[1] == "(406, 556, 556)"
    assert lines[2] == "556"
    # 1,000 runs want 3,256; the hard limit of 2,000 stops it there (the daemon warns)
    assert lines[3] == "(3256, 556, 2000)"
