"""`scheduler.web.failures`: client mistakes keep their status and headers; anything else is
logged once and answered 500 in the API's error shape, on a real Starlette app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from scheduler.errors import NotFound
from scheduler.web.bodies import ApiError
from scheduler.web.failures import CrashGuard, exception_handlers


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


async def broken(request: Request) -> Response:
    raise KeyError("a bug")


async def refused(request: Request) -> Response:
    raise ApiError(422, "parameters refused", [{"parameter": "n"}])


async def unknown(request: Request) -> Response:
    raise NotFound("unknown job 'x'")


async def half_stream(request: Request) -> Response:
    async def lines() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        raise RuntimeError("the stream broke")

    return StreamingResponse(lines(), media_type="text/event-stream")


def app() -> Starlette:
    routes = [
        Route("/broken", broken),
        Route("/refused", refused, methods=["POST"]),
        Route("/unknown", unknown),
        Route("/stream", half_stream),
    ]
    application = Starlette(routes=routes, exception_handlers=exception_handlers())
    application.add_middleware(CrashGuard)
    return application


def call(method: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app(), raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def test_an_unexpected_exception_is_one_record_and_a_500(
    records: list[logging.LogRecord],
) -> None:
    response = call("GET", "/broken")  # raise_app_exceptions: nothing escaped the guard
    assert response.status_code == 500
    assert response.json() == {"error": "internal error; see the daemon's log", "details": []}
    assert [r.getMessage() for r in records] == ["request failed method=GET path=/broken"]
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is KeyError


def test_a_stream_that_breaks_ends_where_it_is(records: list[logging.LogRecord]) -> None:
    response = call("GET", "/stream")
    assert response.status_code == 200
    assert response.text == "data: one\n\n"
    assert [r.getMessage() for r in records] == ["request failed method=GET path=/stream"]


def test_client_mistakes_keep_their_status_and_are_not_logged(
    records: list[logging.LogRecord],
) -> None:
    refused_answer = call("POST", "/refused")
    assert refused_answer.status_code == 422
    assert refused_answer.json() == {"error": "parameters refused", "details": [{"parameter": "n"}]}
    assert call("GET", "/unknown").json() == {"error": "unknown job 'x'", "details": []}
    nowhere = call("GET", "/nowhere")
    assert nowhere.status_code == 404
    assert set(nowhere.json()) == {"error", "details"}
    wrong_method = call("DELETE", "/refused")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert records == []
