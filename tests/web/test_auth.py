"""`scheduler.web.auth` on its own: the bearer token, child tokens and what they may do,
cross-site and foreign-Host refusals, the UI's session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scheduler.web.auth import (
    ADMIN,
    CHILD_PREFIX,
    SESSION_COOKIE,
    ApiGuard,
    Authenticator,
    Principal,
    combined_child_check,
    derive_child_token,
    is_cross_site,
    is_loopback_host,
    read_token,
    session_value,
)

TOKEN = "s3cret-token-value"


def test_read_token_strips_the_file_and_refuses_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"  {TOKEN}\n")
    (tmp_path / "empty").write_text("\n \n")
    assert read_token(tmp_path / "token") == TOKEN
    assert read_token(None) is None
    assert read_token("") is None
    with pytest.raises(ValueError, match="the token file is empty"):
        read_token(tmp_path / "empty")


def headers(value: str) -> dict[str, str]:
    return {"authorization": value}


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (f"Bearer {TOKEN}", ADMIN),
        (f"bearer {TOKEN}", ADMIN),
        (f"Bearer   {TOKEN}  ", ADMIN),
        (f"Bearer {TOKEN}x", None),
        (f"Bearer {TOKEN[:-1]}", None),
        (f"Basic {TOKEN}", None),
        ("Bearer", None),
        ("Bearer ", None),
        (TOKEN, None),
        ("", None),
        (f"Bearer {derive_child_token(TOKEN)}", Principal("child")),
        (f"Bearer {derive_child_token(TOKEN, 7)}", Principal("child", run_id=7)),
        (f"Bearer {derive_child_token('another token', 7)}", None),
        # the MAC of run 7 under another run id, and run ids that are not ASCII digits
        (f"Bearer {derive_child_token(TOKEN, 7).replace('.7.', '.8.')}", None),
        (f"Bearer {derive_child_token(TOKEN, 7).replace('.7.', '.².')}", None),
        (f"Bearer {derive_child_token(TOKEN, 7).replace('.7.', '.٧.')}", None),
        (f"Bearer {CHILD_PREFIX}99999999999999999999.abc", None),
    ],
    ids=[
        "token",
        "lowercase-scheme",
        "spaces",
        "longer",
        "shorter",
        "basic",
        "no-credentials",
        "blank-credentials",
        "no-scheme",
        "nothing",
        "child-for-any-run",
        "child-of-run-7",
        "child-of-another-token",
        "child-run-swapped",
        "child-run-superscript",
        "child-run-arabic-indic",
        "child-run-too-large",
    ],
)
def test_api_principal_of_an_authorization_header(
    authorization: str, expected: Principal | None
) -> None:
    assert Authenticator(TOKEN).api_principal(headers(authorization)) == expected


def test_without_a_token_everyone_is_admin_and_the_ui_needs_no_login() -> None:
    auth = Authenticator(None)
    assert not auth.enabled
    assert auth.api_principal({}) == ADMIN
    assert auth.api_principal(headers("Bearer anything")) == ADMIN
    assert auth.ui_logged_in({})
    assert auth.check_login("anything") is None


def test_a_child_principal_is_not_admin_but_knows_its_run() -> None:
    child = Authenticator(TOKEN).api_principal(headers(f"Bearer {derive_child_token(TOKEN, 3)}"))
    assert child == Principal("child", run_id=3)
    assert not child.is_admin
    assert ADMIN.is_admin


def test_the_daemons_shared_child_token_is_a_child_for_any_run() -> None:
    auth = Authenticator(TOKEN, combined_child_check(TOKEN, "shared-for-runs"))
    assert auth.api_principal(headers("Bearer shared-for-runs")) == Principal("child")
    assert auth.api_principal(headers(f"Bearer {derive_child_token(TOKEN, 5)}")) == Principal(
        "child", run_id=5
    )
    assert auth.api_principal(headers("Bearer shared-for-run")) is None


def test_the_ui_session_proves_the_token_without_holding_it() -> None:
    auth = Authenticator(TOKEN)
    assert not auth.ui_logged_in({})
    assert auth.check_login("wrong") is None
    session = auth.check_login(f" {TOKEN} ")
    assert session == session_value(TOKEN)
    assert TOKEN not in session
    assert auth.ui_logged_in({SESSION_COOKIE: session})
    assert not auth.ui_logged_in({SESSION_COOKIE: session_value("another token")})


@pytest.mark.parametrize(
    ("request_headers", "cross"),
    [
        ({}, False),  # curl, scripts
        ({"sec-fetch-site": "same-origin"}, False),
        ({"sec-fetch-site": "none"}, False),  # typed into the address bar
        ({"sec-fetch-site": "same-site"}, True),
        ({"sec-fetch-site": "cross-site"}, True),
        ({"origin": "http://127.0.0.1:8787", "host": "127.0.0.1:8787"}, False),
        ({"origin": "http://evil.example", "host": "127.0.0.1:8787"}, True),
        ({"origin": "http://127.0.0.1:9999", "host": "127.0.0.1:8787"}, True),
        ({"origin": "null", "host": "127.0.0.1:8787"}, True),  # sandboxed frames, file://
    ],
    ids=[
        "no-browser",
        "same-origin",
        "none",
        "same-site",
        "cross-site",
        "origin-matches-host",
        "origin-elsewhere",
        "origin-other-port",
        "origin-null",
    ],
)
def test_is_cross_site(request_headers: dict[str, str], cross: bool) -> None:
    assert is_cross_site(request_headers) is cross


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:8787", True),
        ("127.0.0.1:8787", True),
        ("[::1]:8787", True),
        ("clockd.localhost", True),
        ("LOCALHOST", True),
        ("evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("10.0.0.1:8787", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# -- the guard in front of a real Starlette app -----------------------------------------------


async def whoami(request: Request) -> Response:
    principal = request.scope.get("clockd.principal")
    return JSONResponse({"principal": None if principal is None else principal.kind})


def guarded(token: str | None, allowed_hosts: frozenset[str] = frozenset()) -> Starlette:
    app = Starlette(
        routes=[
            Route("/api/v1/whoami", whoami, methods=["GET", "POST"]),
            Route("/healthz", whoami, methods=["GET"]),
        ]
    )
    app.add_middleware(ApiGuard, auth=Authenticator(token), allowed_hosts=allowed_hosts)
    return app


def call(app: Starlette, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_guard_asks_api_callers_for_the_token() -> None:
    app = guarded(TOKEN)
    missing = call(app, "GET", "/api/v1/whoami")
    assert missing.status_code == 401
    assert missing.json() == {"error": "missing or wrong bearer token", "details": []}
    assert missing.headers["www-authenticate"] == 'Bearer realm="clockd"'
    admin = call(app, "GET", "/api/v1/whoami", headers=headers(f"Bearer {TOKEN}"))
    assert admin.json() == {"principal": "admin"}
    child = call(
        app, "GET", "/api/v1/whoami", headers=headers(f"Bearer {derive_child_token(TOKEN)}")
    )
    assert child.json() == {"principal": "child"}
    assert call(app, "GET", "/healthz").json() == {"principal": None}  # not under /api


def test_guard_refuses_cross_site_api_posts_but_not_reads() -> None:
    app = guarded(None)
    cross = {"sec-fetch-site": "cross-site"}
    refused = call(app, "POST", "/api/v1/whoami", headers=cross)
    assert refused.status_code == 403
    assert refused.json() == {"error": "cross-site requests are refused", "details": []}
    assert call(app, "GET", "/api/v1/whoami", headers=cross).json() == {"principal": "admin"}
    assert call(app, "POST", "/api/v1/whoami").json() == {"principal": "admin"}


def test_guard_refuses_a_foreign_host_without_a_token_421() -> None:
    app = guarded(None, frozenset({"clockd.internal"}))
    rebound = call(app, "GET", "/healthz", headers={"host": "evil.example"})
    assert rebound.status_code == 421
    assert rebound.json() == {"error": "unexpected Host header 'evil.example'", "details": []}
    assert call(app, "GET", "/healthz", headers={"host": "clockd.internal"}).status_code == 200
    assert call(app, "GET", "/healthz", headers={"host": "localhost:8787"}).status_code == 200
    # With a token, the token is the guard: any Host may ask.
    secured = guarded(TOKEN)
    assert call(secured, "GET", "/healthz", headers={"host": "evil.example"}).status_code == 200
