"""Readable callbacks through one epoll: real pipes on a real event loop."""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any

import pytest

from scheduler.running.local.readiness import Readiness, readiness

pytestmark = pytest.mark.skipif(not hasattr(__import__("select"), "epoll"), reason="Linux epoll")


def test_a_readable_descriptor_calls_back_until_removed() -> None:
    async def main() -> list[bytes]:
        watch = readiness()
        got: list[bytes] = []
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        done = asyncio.get_running_loop().create_future()

        def readable() -> None:
            data = os.read(read_end, 100)
            got.append(data)
            if data == b"":
                watch.remove(read_end)
                done.set_result(None)

        watch.add(read_end, readable)
        os.write(write_end, b"one")
        await asyncio.sleep(0.05)
        os.write(write_end, b"two")
        await asyncio.sleep(0.05)
        os.close(write_end)
        await asyncio.wait_for(done, 5)
        assert len(watch) == 0
        await asyncio.sleep(0.05)  # removed: no more calls, though the pipe stays at EOF
        os.close(read_end)
        return got

    assert asyncio.run(main()) == [b"one", b"two", b""]


def test_a_number_removed_and_reused_within_one_batch_gets_no_stale_event() -> None:
    async def main() -> list[str]:
        watch = readiness()
        calls: list[str] = []
        first_read, first_write = os.pipe()
        second_read, second_write = os.pipe()
        os.write(first_write, b"x")
        os.write(second_write, b"x")  # both readable: one batch holds both events
        reused = second_read

        def first() -> None:
            calls.append("first")
            watch.remove(first_read)
            if "second" in calls:
                return  # epoll gave the other order; the reuse below needs "first" first
            # the second descriptor goes away and its number now names a silent pipe
            watch.remove(reused)
            fresh_read, fresh_write = os.pipe()
            os.dup2(fresh_read, reused)
            os.close(fresh_read)
            watch.add(reused, lambda: calls.append("fresh"))
            holders.append(fresh_write)

        def second() -> None:
            calls.append("second")
            watch.remove(reused)

        holders: list[int] = []
        watch.add(first_read, first)
        watch.add(second_read, second)
        await asyncio.sleep(0.1)
        watch.remove(reused)
        for fd in (first_read, first_write, reused, second_write, *holders):
            os.close(fd)
        return calls

    calls = asyncio.run(main())
    assert calls in (["first"], ["second", "first"]), calls
    assert "fresh" not in calls


def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    async def main() -> tuple[list[dict[str, Any]], list[str]]:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        watch = readiness()
        calls: list[str] = []
        pipes = [os.pipe() for _ in range(2)]

        def failing() -> None:
            watch.remove(pipes[0][0])
            raise RuntimeError("boom")

        def fine() -> None:
            calls.append("fine")
            watch.remove(pipes[1][0])

        watch.add(pipes[0][0], failing)
        watch.add(pipes[1][0], fine)
        for _, write_end in pipes:
            os.write(write_end, b"x")
        await asyncio.sleep(0.1)
        for pair in pipes:
            for fd in pair:
                os.close(fd)
        return reported, calls

    reported, calls = asyncio.run(main())
    assert calls == ["fine"]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], RuntimeError)


def test_each_loop_has_its_own_epoll_and_a_closed_loop_leaves_no_descriptor() -> None:
    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def use() -> Readiness:
        watch = readiness()
        assert readiness() is watch  # one per loop
        assert isinstance(watch, Readiness)
        return watch

    first = asyncio.run(use())
    del first
    gc.collect()
    before = open_descriptors()
    for _ in range(20):
        asyncio.run(use())
    gc.collect()
    assert open_descriptors() <= before
