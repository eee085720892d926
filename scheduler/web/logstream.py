"""Following a run's log as server-sent events, until the run ends (`?follow=true`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from scheduler.models import FINAL_STATES
from scheduler.web.bodies import dumps

POLL_SECONDS = 0.05
KEEPALIVE_SECONDS = 5.0


def line_json(line: Any) -> dict[str, Any]:
    return {
        "seq": line.seq,
        "time": line.time.isoformat(),
        "stream": line.stream,
        "text": line.text,
    }


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {dumps(data)}\n\n".encode()


class RunWaker:
    """Wakes log followers when a run logs, starts or finishes (subscribed to the service's
    run events), so new lines and the end are seen at once instead of at the next poll."""

    def __init__(self) -> None:
        self.events: dict[int, set[asyncio.Event]] = {}

    def __call__(self, kind: str, record: Any) -> None:
        for event in self.events.get(record.id, ()):
            event.set()

    def watch(self, run_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self.events.setdefault(run_id, set()).add(event)
        return event

    def forget(self, run_id: int, event: asyncio.Event) -> None:
        waiting = self.events.get(run_id)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self.events[run_id]


def run_waker(service: Any) -> RunWaker:
    """The service's one waker, subscribed to its run events on first use."""
    waker: RunWaker | None = getattr(service, "_log_waker", None)
    if waker is None:
        waker = RunWaker()
        service.events.subscribe(waker)
        service._log_waker = waker
    return waker


async def follow_log(service: Any, run_id: int, after: int) -> AsyncIterator[bytes]:
    """Server-sent events: `line` events until the run ends, then one `end` event."""
    waker = run_waker(service)
    woken = waker.watch(run_id)
    try:
        async for chunk in _follow_log(service, run_id, after, woken):
            yield chunk
    finally:
        waker.forget(run_id, woken)


async def _follow_log(
    service: Any, run_id: int, after: int, woken: asyncio.Event
) -> AsyncIterator[bytes]:
    idle = 0.0
    yield b"retry: 1000\n\n"
    while True:
        record = await service.get_run(run_id)
        lines = await service.read_log(run_id, after_seq=after)
        for line in lines:
            after = line.seq
            yield sse("line", line_json(line), line.seq)
        if record is None or (record.state in FINAL_STATES and not service.holds(run_id)):
            # A run's last lines are stored before its final state, and the executor holds a
            # run until its final state is stored: read once more, then end.
            for line in await service.read_log(run_id, after_seq=after):
                after = line.seq
                yield sse("line", line_json(line), line.seq)
            final = record.to_json() if record else {"id": run_id, "state": "unknown"}
            yield sse(
                "end",
                {
                    "id": run_id,
                    "state": final["state"],
                    "exit_code": final.get("exit_code"),
                    "error": final.get("error"),
                    # what a page showing the run needs to show it ended (ISO with offset)
                    "started_at": final.get("started_at"),
                    "ended_at": final.get("ended_at"),
                },
            )
            return
        if lines:
            idle = 0.0
        else:
            idle += POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield b": keepalive\n\n"
        try:
            await asyncio.wait_for(woken.wait(), POLL_SECONDS)
        except TimeoutError:
            pass
        woken.clear()


def log_stream_response(service: Any, run_id: int, after: int) -> Response:
    return StreamingResponse(
        follow_log(service, run_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
