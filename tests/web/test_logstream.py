"""`scheduler.web.logstream` on its own, over a real service and SQLite store: server-sent
events framing, the end event, resuming after a line number (Last-Event-ID), keepalives,
and waking followers when a run finishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.config import load_config
from scheduler.daemon.service import Service
from scheduler.running.events import RunEvents
from scheduler.running.executor import Executor
from scheduler.storage.reader import StoreReader
from scheduler.storage.records import NewRun
from scheduler.storage.sqlite.store import Store
from scheduler.storage.writer import StoreWriter
from scheduler.web import logstream
from scheduler.web.logstream import follow_log, log_stream_response, run_waker, sse

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

CONFIG = """
[daemon]
database = "{database}"

[jobs.report]
command = ["true"]
"""


@dataclass
class World:
    service: Service
    store: Store

    def run(self, state: str = "running") -> int:
        run_id = self.store.create_run(
            NewRun(job="report", clock=None, trigger="api", scheduled_time=T0, parameters={})
        )
        self.store.update_run(run_id, state=state)
        return run_id

    def say(self, run_id: int, *texts: str) -> None:
        self.store.append_log(
            run_id, [(T0 + timedelta(seconds=i), "stdout", text) for i, text in enumerate(texts)]
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    path = tmp_path / "clockd.toml"
    path.write_text(CONFIG.replace("{database}", str(tmp_path / "clockd.db")))
    config = load_config(path, environ={})
    store = Store.open(config.daemon.database)
    # The followers only read (reader threads); the writer is never started here.
    writer = StoreWriter(store)
    reader = StoreReader(lambda: Store.open(config.daemon.database, readonly=True))
    executor = Executor(writer, config.daemon, api_url=None, child_token=None)
    yield World(Service(config, writer, reader, executor), store)
    reader.close()
    store.close()


def events(chunks: list[bytes]) -> list[dict[str, str]]:
    """The chunks parsed back as SSE: one dict of fields per event or comment."""
    parsed = []
    for block in b"".join(chunks).decode().split("\n\n"):
        if not block:
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            key, _, value = line.partition(": ") if not line.startswith(":") else ("", "", line)
            fields[key or "comment"] = value
        parsed.append(fields)
    return parsed


async def collect(stream: AsyncIterator[bytes], limit: int = 50) -> list[bytes]:
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        if len(chunks) >= limit:
            break
    return chunks


def test_sse_framing() -> None:
    assert sse("line", {"seq": 3, "text": "ü"}, 3) == (
        'id: 3\nevent: line\ndata: {"seq":3,"text":"ü"}\n\n'.encode()
    )
    assert sse("end", {"state": "failed"}) == b'event: end\ndata: {"state":"failed"}\n\n'


def test_a_finished_run_streams_its_lines_then_one_end_event(world: World) -> None:
    run_id = world.run()
    world.say(run_id, "one", "two")
    world.store.update_run(
        run_id,
        state="failed",
        exit_code=3,
        error="exit code 3",
        started_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
        ended_at=datetime(2026, 3, 1, 9, 0, 2, tzinfo=UTC),
    )
    chunks = asyncio.run(collect(follow_log(world.service, run_id, 0)))
    assert chunks[0] == b"retry: 1000\n\n"
    parsed = events(chunks[1:])
    assert [(e.get("id"), e["event"]) for e in parsed] == [
        ("1", "line"),
        ("2", "line"),
        (None, "end"),
    ]
    assert json.loads(parsed[0]["data"]) == {
        "seq": 1,
        "time": "2026-03-01T09:00:00+00:00",
        "stream": "stdout",
        "text": "one",
    }
    assert json.loads(parsed[2]["data"]) == {
        "id": run_id,
        "state": "failed",
        "exit_code": 3,
        "error": "exit code 3",
        # what the run page needs to show ENDED and DURATION live
        "started_at": "2026-03-01T09:00:00+00:00",
        "ended_at": "2026-03-01T09:00:02+00:00",
    }


def test_resuming_after_a_line_number_skips_what_was_seen(world: World) -> None:
    run_id = world.run("succeeded")
    world.say(run_id, "one", "two", "three")
    parsed = events(asyncio.run(collect(follow_log(world.service, run_id, 2)))[1:])
    assert [(e.get("id"), e["event"]) for e in parsed] == [("3", "line"), (None, "end")]
    assert json.loads(parsed[0]["data"])["text"] == "three"


def test_an_unknown_run_ends_at_once(world: World) -> None:
    parsed = events(asyncio.run(collect(follow_log(world.service, 404, 0)))[1:])
    assert [e["event"] for e in parsed] == ["end"]
    assert json.loads(parsed[0]["data"]) == {
        "id": 404,
        "state": "unknown",
        "exit_code": None,
        "error": None,
        "started_at": None,
        "ended_at": None,
    }


def test_a_quiet_running_run_gets_keepalives(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logstream, "KEEPALIVE_SECONDS", 0.1)
    run_id = world.run()

    async def first_three() -> list[bytes]:
        stream = follow_log(world.service, run_id, 0)
        try:
            return [await anext(stream) for _ in range(3)]
        finally:
            await stream.aclose()

    assert asyncio.run(first_three()) == [
        b"retry: 1000\n\n",
        b": keepalive\n\n",
        b": keepalive\n\n",
    ]


def test_a_follower_sees_new_lines_and_is_woken_by_the_end(world: World) -> None:
    run_id = world.run()
    world.say(run_id, "early")

    async def follow() -> tuple[list[bytes], int]:
        stream = follow_log(world.service, run_id, 0)
        chunks = [await anext(stream), await anext(stream)]  # retry, "early"
        waker = run_waker(world.service)
        assert run_id in waker.events  # the follower is listening
        world.say(run_id, "late")
        world.store.update_run(run_id, state="succeeded", exit_code=0)
        record = world.store.get_run(run_id)
        world.service.events.publish("finished", record)  # what the executor does
        chunks += await collect(stream)
        return chunks, len(waker.events)

    chunks, still_listening = asyncio.run(follow())
    parsed = events(chunks[1:])
    assert [(e.get("id"), e["event"]) for e in parsed] == [
        ("1", "line"),
        ("2", "line"),
        (None, "end"),
    ]
    assert json.loads(parsed[1]["data"])["text"] == "late"
    assert json.loads(parsed[2]["data"])["state"] == "succeeded"
    assert still_listening == 0  # the follower forgot its wake-up when the stream ended


def test_one_waker_per_service() -> None:
    @dataclass
    class Bare:
        events: RunEvents

    service = Bare(RunEvents())
    first = run_waker(service)
    assert run_waker(service) is first
    woken = first.watch(7)
    service.events.publish("finished", NewRun("j", None, "api", T0, {}).to_record(7))
    assert woken.is_set()


def test_the_response_is_an_uncached_event_stream(world: World) -> None:
    response = log_stream_response(world.service, world.run("succeeded"), 0)
    assert response.media_type == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
