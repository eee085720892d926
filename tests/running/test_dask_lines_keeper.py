"""The worker-side pieces of Dask runs that need no cluster: line batches (masked, capped,
bounded) and the keeper, a real process that kills a dead worker's run process groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from scheduler.running.dask.keeper import MARKER
from scheduler.running.dask.lines import BATCH_BYTES, LineBatcher, LineSplitter
from scheduler.running.masking import Masker
from tests.helpers import ROOT, pid_alive, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_wait_for_their_batch_and_go_masked() -> None:
    sent: list[list[tuple[float, str, str]]] = []
    clock = Clock()
    batcher = LineBatcher(sent.append, max_bytes=1000, masker=Masker(["hunter2!"]), clock=clock)
    splitter = LineSplitter("stdout", batcher.add)
    splitter.feed(b"one\r\ntoken=hunter2!\npart")
    batcher.tick()
    assert sent == []  # a line waits up to FLUSH_DELAY for others
    clock.now += 0.1
    batcher.tick()
    assert [[(stream, text) for _, stream, text in batch] for batch in sent] == [
        [("stdout", "one"), ("stdout", "token=***")]
    ]
    splitter.close()
    # At the end, what waits goes with the outcome, not as a batch of its own.
    assert [text for _, _, text in batcher.drain()] == ["part"]
    assert len(sent) == 1
    assert batcher.due() is None


def test_the_cap_sends_the_head_then_the_mark_and_the_tail_at_the_end() -> None:
    sent: list[list[tuple[float, str, str]]] = []
    batcher = LineBatcher(sent.append, max_bytes=10)
    for text in ("1234", "5678", "90ab", "cdef"):
        batcher.add("stderr", text)
    batcher.add("clockd", "[clockd: a line of clockd's own]")
    texts = [(stream, text) for _, stream, text in batcher.drain()]
    # 5 bytes of head ("1234\n"), 5 of tail: the last line; clockd's lines are never dropped.
    assert texts == [
        ("stderr", "1234"),
        ("clockd", "[clockd: … 10 bytes dropped …]"),
        ("stderr", "cdef"),
        ("clockd", "[clockd: a line of clockd's own]"),
    ]
    assert batcher.cap.dropped_bytes == 10
    assert sent == []


def test_drain_sends_whole_batches_and_keeps_only_the_last_one() -> None:
    # A run that ends with more than one batch waiting (a last read of 64 KiB) loses none.
    sent: list[list[tuple[float, str, str]]] = []
    batcher = LineBatcher(sent.append, max_bytes=10_000_000)
    texts = [f"{i:05d}" + "x" * 1000 for i in range(100)]  # 100 lines of 1,006 bytes
    for text in texts:
        batcher.add("stdout", text)
    last = batcher.drain()
    # A batch holds 32 lines of 1,006 + 16 bytes within BATCH_BYTES (32 KiB): 3 go, 4 stay.
    assert [len(batch) for batch in sent] == [32, 32, 32]
    assert [text for batch in [*sent, last] for _, _, text in batch] == texts
    assert batcher.drain() == []


def test_a_chatty_run_is_sent_in_bounded_batches_at_a_bounded_rate() -> None:
    sent: list[list[tuple[float, str, str]]] = []
    clock = Clock()
    batcher = LineBatcher(sent.append, max_bytes=10**9, clock=clock)
    for index in range(2000):
        batcher.add("stdout", f"{index:0100d}")
    assert batcher.full  # the reader stops reading: the run's pipe holds the rest
    batcher.tick()
    batcher.tick()  # the second batch must wait for BATCH_INTERVAL
    assert len(sent) == 1
    clock.now += 0.05
    batcher.tick()
    assert len(sent) == 2
    for batch in sent:
        assert sum(len(text) + 16 for _, _, text in batch) <= BATCH_BYTES


def spawn_marked(token: str) -> subprocess.Popen[bytes]:
    """A run's process as a worker starts it: its own session, the keeper's marker."""
    return subprocess.Popen(
        ["sh", "-c", "sleep 60 & exec sleep 60"],
        env={**os.environ, MARKER: token},
        start_new_session=True,
    )


def test_the_keeper_kills_run_groups_when_its_worker_goes() -> None:
    token = "test-" + os.urandom(6).hex()
    keeper = subprocess.Popen(
        [sys.executable, "-m", "scheduler.running.dask.keeper", token],
        stdin=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,
    )
    marked = spawn_marked(token)
    registered = subprocess.Popen(["sleep", "60"], env={}, start_new_session=True)
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert keeper.stdin is not None
        keeper.stdin.write(f"+{registered.pid}\n".encode())
        keeper.stdin.flush()
        assert pid_alive(marked.pid)
        assert pid_alive(registered.pid)
        keeper.stdin.close()  # what the kernel does when the worker dies
        assert keeper.wait(10) == 0
        assert marked.wait(5) == -signal.SIGKILL  # found by its marker
        assert registered.wait(5) == -signal.SIGKILL  # registered, without a marker
        wait_until(lambda: bystander.poll() is None, 1, "the bystander to live on")
    finally:
        for process in (marked, registered, bystander):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        keeper.wait(5)
