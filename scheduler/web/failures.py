"""What the app answers when a request fails.

- A client's mistake (`ApiError`, `NotFound`, `Conflict` (409), `UserError`, `ParameterError`, Starlette's
  `HTTPException` for an unknown path or a method a path does not allow) is a 4xx with
  `{"error": ..., "details": [...]}` and the exception's headers (405 carries `Allow`).
- Anything else is a bug: `CrashGuard` logs it once through clockd's logger (one record,
  in the configured format) and answers 500 in the same shape. It does not re-raise, so
  uvicorn never prints its own traceback ("Exception in ASGI application") beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from scheduler.errors import ConfigRefused, Conflict, NotFound, UserError
from scheduler.web.bodies import ApiError, error_response, parameter_error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("clockd.api")

Handler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


async def on_api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.error, error.details)


async def on_not_found(request: Request, error: Exception) -> Response:
    return error_response(404, str(error))


async def on_config_refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, ConfigRefused)
    return error_response(422, str(error), [{"message": problem} for problem in error.problems])


async def on_conflict(request: Request, error: Exception) -> Response:
    return error_response(409, str(error))


async def on_user_error(request: Request, error: Exception) -> Response:
    return error_response(400, str(error))


async def on_parameter_error(request: Request, error: Exception) -> Response:
    return parameter_error_response(error)


async def on_store_unavailable(request: Request, error: Exception) -> Response:
    # Not the client's mistake: the database refuses writes (locked, full, gone) and the
    # request's write was withdrawn, so nothing happened; it may be sent again.
    response = error_response(503, f"the run history cannot be written now: {error}")
    response.headers["Retry-After"] = "5"
    return response


async def on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    response = error_response(error.status_code, str(error.detail))
    # 405's `Allow` (RFC 9110 requires it), and whatever else Starlette attached. Starlette
    # lists a route's methods from a set: sorted, the answer is the same every time.
    headers = dict(error.headers or {})
    if "Allow" in headers:
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
    response.headers.update(headers)
    return response


async def on_disconnect(request: Request, error: Exception) -> Response:
    # The client went away mid-body: nobody reads this answer; no traceback in the log.
    return error_response(400, "the client disconnected before sending the whole body")


def exception_handlers() -> dict[Any, Handler]:
    """Starlette's `exception_handlers` for client mistakes. No entry for `Exception`: Starlette
    would answer it and then re-raise it to the server, which logs a second traceback."""
    from clocks.parameters import ParameterError
    from scheduler.storage.base import StoreUnavailable

    return {
        ApiError: on_api_error,
        ClientDisconnect: on_disconnect,
        ConfigRefused: on_config_refused,
        Conflict: on_conflict,
        NotFound: on_not_found,
        ParameterError: on_parameter_error,
        StoreUnavailable: on_store_unavailable,
        UserError: on_user_error,
        HTTPException: on_http_error,
    }


class CrashGuard:
    """ASGI middleware, outermost: an exception that no handler answered is logged once and
    becomes a 500 `{"error", "details"}` — or, when the response had already begun (a log
    stream), the response is ended where it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def watched_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            log.error(
                "request failed method=%s path=%s",
                scope.get("method"),
                scope.get("path"),
                exc_info=error,
            )
            try:
                if not started:
                    response = error_response(500, "internal error; see the daemon's log")
                    await response(scope, receive, send)
                elif not finished:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except (OSError, RuntimeError):
                pass  # the client is gone as well: nothing left to tell it
