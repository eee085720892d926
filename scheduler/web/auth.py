"""Who may call the API and use the UI (spec 6).

- With a token (the contents of `token_file`), every `/api` request needs
  `Authorization: Bearer TOKEN`, compared in constant time; otherwise 401.
- Runs get a *child token* in `CLOCKD_TOKEN`, derived from the token. It may only create
  runs and read runs and their logs — only children of its own run when the token names
  a run (`derive_child_token(token, run_id)`), any child run otherwise.
- The UI logs in once with the token and gets an HttpOnly, SameSite=Strict session cookie
  (derived from the token, never the token itself). Its form posts carry a CSRF token
  (cookie + hidden field) and are refused when the browser says they come from elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.web.numbers import whole_number

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

CHILD_PREFIX = "clockd-child."
SESSION_COOKIE = "clockd_session"
CSRF_COOKIE = "clockd_csrf"
CSRF_FIELD = "csrf"

# A child-token check: the token text → None (not a child token), True (any child run)
# or an int (the run whose children it may create and read).
ChildTokenCheck = Callable[[str], "bool | int | None"]


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    kind: str  # "admin" (full access, or auth off) | "child"
    run_id: int | None = None  # for a child token naming its run

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


ADMIN = Principal("admin")


def read_token(token_file: Path | str | None) -> str | None:
    """The API token: the file's contents without surrounding whitespace; None when unset.

    An empty file is refused: it would make the empty string the password.
    """
    if not token_file:
        return None
    text = Path(token_file).read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{token_file}: the token file is empty")
    return text


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def derive_child_token(token: str, run_id: int | None = None) -> str:
    """The token handed to runs as CLOCKD_TOKEN.

    `derive_child_token(token)` is valid for every run; with `run_id` it is scoped to that
    run's children. The daemon gives it to the executor; the API recognises it.
    """
    if run_id is None:
        return f"{CHILD_PREFIX}{_mac(token, 'clockd child runs')}"
    return f"{CHILD_PREFIX}{run_id}.{_mac(token, f'clockd child runs of {run_id}')}"


def default_child_check(token: str) -> ChildTokenCheck:
    """Recognise the child tokens `derive_child_token` makes from `token`."""
    generic = derive_child_token(token)

    def check(candidate: str) -> bool | int | None:
        if not candidate.startswith(CHILD_PREFIX):
            return None
        if hmac.compare_digest(candidate.encode(), generic.encode()):
            return True
        head, _, _ = candidate[len(CHILD_PREFIX) :].partition(".")
        run_id = whole_number(head)
        if run_id is None:
            return None
        if hmac.compare_digest(candidate.encode(), derive_child_token(token, run_id).encode()):
            return run_id
        return None

    return check


def combined_child_check(token: str, shared: str | None) -> ChildTokenCheck:
    """The daemon's one child token for every run (`Service.child_token`), and the tokens
    `derive_child_token(token, ...)` makes."""
    derived = default_child_check(token)

    def check(candidate: str) -> bool | int | None:
        if shared and hmac.compare_digest(candidate.encode(), str(shared).encode()):
            return True
        return derived(candidate)

    return check


def session_value(token: str) -> str:
    """What the UI's session cookie holds: proof of the token, not the token."""
    return _mac(token, "clockd ui session")


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


class Authenticator:
    """Decides who a request comes from. `token=None` turns authentication off."""

    def __init__(self, token: str | None, child_token_check: ChildTokenCheck | None = None) -> None:
        self.token = token
        if child_token_check is None and token is not None:
            child_token_check = default_child_check(token)
        self.child_token_check = child_token_check
        self._session = session_value(token) if token else None

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def api_principal(self, headers: Mapping[str, str]) -> Principal | None:
        """The caller of an `/api` request, or None (→ 401)."""
        if self.token is None:
            return ADMIN
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            return None
        if hmac.compare_digest(credentials.encode(), self.token.encode()):
            return ADMIN
        if self.child_token_check is not None:
            scope = self.child_token_check(credentials)
            if scope is True:
                return Principal("child")
            if isinstance(scope, int) and not isinstance(scope, bool):
                return Principal("child", run_id=scope)
        return None

    def ui_logged_in(self, cookies: Mapping[str, str]) -> bool:
        if self._session is None:
            return True
        value = cookies.get(SESSION_COOKIE, "")
        return bool(value) and hmac.compare_digest(value.encode(), self._session.encode())

    def check_login(self, candidate: str) -> str | None:
        """The session cookie value when `candidate` is the token, else None."""
        if self.token is None or self._session is None:
            return None
        if hmac.compare_digest(candidate.strip().encode(), self.token.encode()):
            return self._session
        return None


def is_cross_site(headers: Mapping[str, str]) -> bool:
    """True when the browser says the request comes from another site or origin.

    `Sec-Fetch-Site` (all current browsers) or else `Origin` compared with `Host`.
    Requests without either (curl, scripts) are not browsers' cross-site requests.
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = headers.get("origin")
    if origin and origin != "null":
        host = headers.get("host", "")
        _, _, origin_host = origin.partition("://")
        return origin_host.rstrip("/").lower() != host.lower()
    return origin == "null"


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def is_loopback_host(host_header: str) -> bool:
    """Host header names this machine: guards an unauthenticated daemon against DNS rebinding."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host in LOOPBACK_HOSTS or host.endswith(".localhost")


def _refusal(status: int, error: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": error, "details": []}, status_code=status)


class ApiGuard:
    """ASGI middleware for `/api`: bearer authentication, cross-site refusal, Host check."""

    def __init__(self, app: ASGIApp, auth: Authenticator, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.auth = auth
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem: Response | None = None
        host = headers.get("host", "")
        if (
            not self.auth.enabled
            and host
            and not (is_loopback_host(host) or host.lower() in self.allowed_hosts)
        ):
            # Without a token, only names of this machine: no DNS rebinding.
            problem = _refusal(421, f"unexpected Host header {host[:100]!r}")
        elif scope["path"].startswith("/api/"):
            principal = self.auth.api_principal(headers)
            if principal is None:
                problem = _refusal(401, "missing or wrong bearer token")
                problem.headers["WWW-Authenticate"] = 'Bearer realm="clockd"'
            elif scope["method"] not in ("GET", "HEAD", "OPTIONS") and is_cross_site(headers):
                problem = _refusal(403, "cross-site requests are refused")
            else:
                scope["clockd.principal"] = principal
        if problem is not None:
            await problem(scope, receive, send)
            return
        await self.app(scope, receive, send)
