"""Request bodies and error responses of the HTTP API: strict JSON objects in, spec-5 errors out.

A client's mistake becomes an `ApiError` (status, error, details), rendered as
`{"error": ..., "details": [...]}`; nothing here lets a malformed body reach a handler.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scheduler.web.nesting import MAX_NESTING, nesting_depth, too_deep
from scheduler.web.numbers import whole_number

UNSET: Any = object()
# A request body may hold the parameters plus a little envelope.
BODY_OVERHEAD = 64 * 1024
# A body nests the parameters two levels down: {"parameters": {"name": value}}.
BODY_NESTING = MAX_NESTING + 2


class ApiError(Exception):
    """A response with the API's error shape."""

    def __init__(self, status: int, error: str, details: list[dict[str, Any]] | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details or []


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))


class ApiJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def error_response(
    status: int, error: str, details: list[dict[str, Any]] | None = None
) -> Response:
    return ApiJSON({"error": error, "details": details or []}, status_code=status)


def problem_details(problems: Any) -> list[dict[str, Any]]:
    """ParameterProblems → one detail per parameter."""
    return [
        {
            "parameter": problem.name,
            "kind": problem.kind,
            "message": problem.message,
            "pointer": problem.pointer or (f"/{problem.name}" if problem.name else ""),
        }
        for problem in problems
    ]


def parameter_error_response(error: Any) -> Response:
    problems = list(getattr(error, "problems", []))
    details = problem_details(problems)
    if problems and all(p.kind == "too_large" for p in problems):
        return error_response(413, "parameters are too large", details)
    return error_response(422, "parameters refused", details)


# --- request bodies ------------------------------------------------------------------------


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, refused with 413 past `limit` bytes — by Content-Length
    before reading, and while streaming (a lying or absent Content-Length)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length_header = request.headers.get("content-length")
    if length_header is not None:
        length = whole_number(length_header)
        if length is None:
            raise ApiError(400, "invalid Content-Length header")
        if length > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        return {}  # no body: no fields (whitespace is not JSON, and is refused below)
    # Browsers may send text/plain cross-site without a preflight: JSON only.
    if content_type not in ("application/json", ""):
        raise ApiError(415, "request body must be application/json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"request body is not valid UTF-8 (byte {error.start})") from None
    depth = nesting_depth(text)
    if depth > BODY_NESTING:
        raise ApiError(
            400, f"request body is nested {depth} levels deep; at most {BODY_NESTING} are accepted"
        )
    try:
        value = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"request body must be a JSON object, not {_json_type(value)}")
    try:
        # "\ud800" escapes decode to lone surrogates, which nothing downstream can store.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, "request body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
        ) from None
    except (RecursionError, ValueError):
        raise ApiError(400, "request body is nested too deeply or holds invalid numbers") from None
    return value


def refuse_deep_texts(job: Any, texts: Mapping[str, Any]) -> None:
    """`parameter_text` values of JSON-typed parameters nested deeper than MAX_NESTING: 422,
    one detail per parameter, before anything converts them."""
    details = []
    for name, text in texts.items():
        parameter = job.parameters[name] if name in job.parameters else None
        message = (
            too_deep(name, parameter.type, text)
            if parameter is not None and isinstance(text, str)
            else None
        )
        if message is not None:
            details.append(
                {"parameter": name, "kind": "invalid", "message": message, "pointer": f"/{name}"}
            )
    if details:
        raise ApiError(422, "parameters refused", details)


def _parse_int(text: str) -> int:
    # json.loads would raise a ValueError that is not a JSONDecodeError (Python's limit on
    # converting long digit strings), and it would surface as a 500.
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        raise ApiError(
            400,
            f"request body holds an integer of {len(text.lstrip('-'))} digits; "
            f"at most {limit} are accepted",
        )
    return int(text)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def check_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(
            400,
            f"unknown field{'s' if len(unknown) > 1 else ''} in request body: "
            f"{', '.join(repr(u)[:80] for u in unknown[:10])}; "
            + (f"allowed: {', '.join(sorted(allowed))}" if allowed else "this request takes none"),
        )


def field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ApiError(400, f"'{name}' must be {what}, not a boolean")
    if not isinstance(value, kind):
        raise ApiError(400, f"'{name}' must be {what}, not {_json_type(value)}")
    return value


# --- the app -------------------------------------------------------------------------------
