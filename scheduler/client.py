"""`scheduler.Client`: talk to a running daemon's API over HTTP (httpx).

Inside a run, `Client.from_env()` finds the daemon and a child token, and records the
current run as the parent of the runs it starts:

    from scheduler import Client

    client = Client.from_env()
    run = client.create_run("report", {"x": 3}, wait=True, stream_logs=True)
    assert run["state"] == "succeeded"

Errors are `ClientError` (the API refused: `.status`, `.error`, `.details`) and
`DaemonUnreachable` (no answer) — never a raw httpx traceback.

Why this module is long: it is the whole public client (every API call, waiting, log
streaming) behind one import path that runs' own code depends on (`from scheduler import Client`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TextIO

from scheduler.errors import DaemonUnreachable, UserError
from scheduler.models import FINAL_STATES as FINAL_STATES  # for callers: runs in these states ended

__all__ = ["Client", "ClientError", "DaemonUnreachable"]


def _httpx() -> Any:
    if "httpx" not in sys.modules:
        # httpx imports its optional CLI (rich, click: ~70 ms) when they are installed;
        # nothing here needs it, and `clockd trigger` must start fast.
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
        try:
            import httpx
        finally:
            if sys.modules.get("httpx._main", 0) is None:
                del sys.modules["httpx._main"]
        return httpx
    import httpx

    return httpx


class ClientError(UserError):
    """The API refused a request: `status`, `error` and one `details` entry per problem."""

    def __init__(self, status: int, error: str, details: list[dict[str, Any]] | None = None):
        self.status = status
        self.error = error
        self.details = details or []
        lines = [error]
        for detail in self.details:
            lines.append(f"  {detail.get('message') or detail}")
        super().__init__("\n".join(lines))


def _normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url


class Client:
    """A client of one daemon. `url` like "http://127.0.0.1:8787" (or "127.0.0.1:8787")."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        parent_id: int | None = None,
        timeout: float = 30.0,
        lightweight: bool = False,
    ) -> None:
        """`lightweight=True` talks HTTP with the standard library's http.client instead of
        httpx: the same behaviour, ~80 ms less start-up (what `clockd trigger` uses)."""
        self.url = _normalise_url(url)
        self.parent_id = parent_id
        headers = {"Accept": "application/json", "User-Agent": "clockd-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        backend = _StdlibBackend if lightweight else _HttpxBackend
        self._http: _Backend = backend(self.url, headers, timeout)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Client:
        """The daemon that started this run: CLOCKD_API_URL, CLOCKD_TOKEN, and CLOCKD_RUN_ID as
        the parent of every run created through this client."""
        environ = os.environ if environ is None else environ
        url = environ.get("CLOCKD_API_URL") or environ.get("CLOCKD_URL")
        if not url:
            raise UserError(
                "CLOCKD_API_URL is not set: Client.from_env() works inside a run of a daemon "
                "with an HTTP listen address; elsewhere use Client(url, token)"
            )
        run_id = environ.get("CLOCKD_RUN_ID", "")
        return cls(
            url,
            environ.get("CLOCKD_TOKEN") or None,
            parent_id=int(run_id) if run_id.isdigit() else None,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            status, content = self._http.request(method, path, json_body=json, params=params)
        except self._http.unreachable as error:
            raise DaemonUnreachable(
                f"the daemon at {self.url} did not answer ({type(error).__name__}: {error}); "
                "is `clockd serve` running with this listen address?"
            ) from None
        return _decode(status, content)

    # -- jobs -------------------------------------------------------------------------------

    def jobs(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/v1/jobs")["jobs"])

    def job(self, name: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/v1/jobs/{_segment(name)}"))

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        job: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        clock: str | None = None,
        wait: bool = False,
        stream_logs: bool = False,
        parameter_text: Mapping[str, str] | None = None,
        parent_id: int | None = None,
    ) -> dict[str, Any]:
        """Start a run of `job`; returns its record (the final one with `wait=True`).

        `parameter_text` holds values as text, converted by the daemon by each parameter's
        declared type (what `clockd trigger -p NAME=VALUE` sends).
        """
        body: dict[str, Any] = {"parameters": dict(parameters or {})}
        if clock is not None:
            body["clock"] = clock
        parent = parent_id if parent_id is not None else self.parent_id
        if parent is not None:
            body["parent_id"] = parent
        if parameter_text:
            body["parameter_text"] = dict(parameter_text)
        run = self._request("POST", f"/api/v1/jobs/{_segment(job)}/runs", json=body)
        if wait or stream_logs:
            return self.wait_for_run(run["id"], stream_logs=stream_logs)
        return dict(run)

    def get_run(self, run_id: int) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/v1/runs/{int(run_id)}"))

    def runs(
        self,
        *,
        job: str | None = None,
        clock: str | None = None,
        state: str | None = None,
        parent_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        query = {"job": job, "clock": clock, "state": state, "parent_id": parent_id, "limit": limit}
        params = {k: str(v) for k, v in query.items() if v is not None}
        return list(self._request("GET", "/api/v1/runs", params=params)["runs"])

    def logs(self, run_id: int, *, after: int = 0) -> list[dict[str, Any]]:
        """The run's log lines after line number `after`."""
        params = {"after": str(after)} if after else None
        path = f"/api/v1/runs/{int(run_id)}/logs"
        return list(self._request("GET", path, params=params)["lines"])

    def cancel(self, run_id: int) -> dict[str, Any]:
        return dict(self._request("POST", f"/api/v1/runs/{int(run_id)}/cancel"))

    def pause(self, job: str, clock: str | None = None) -> dict[str, Any]:
        return dict(self._request("POST", _pause_path(job, clock, "pause")))

    def resume(self, job: str, clock: str | None = None) -> dict[str, Any]:
        return dict(self._request("POST", _pause_path(job, clock, "resume")))

    def backfill(
        self,
        job: str,
        clock: str,
        start: str,
        end: str,
        *,
        dry_run: bool = False,
        parameters: Mapping[str, Any] | None = None,
        parameter_text: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One run per fire of `clock` in [start, end]; `parameters` (and `parameter_text`,
        converted by the daemon) set values for every run of the backfill."""
        body: dict[str, Any] = {"clock": clock, "from": start, "to": end, "dry_run": dry_run}
        if parameters:
            body["parameters"] = dict(parameters)
        if parameter_text:
            body["parameter_text"] = dict(parameter_text)
        return dict(self._request("POST", f"/api/v1/jobs/{_segment(job)}/backfill", json=body))

    def reload(self) -> dict[str, Any]:
        """Ask the daemon to re-read its config; ClientError (422) with every problem when
        the new one is refused (the old schedule keeps running)."""
        return dict(self._request("POST", "/api/v1/reload"))

    def health(self) -> dict[str, Any]:
        return dict(self._request("GET", "/healthz"))

    # -- following a run ----------------------------------------------------------------------

    def follow_log(self, run_id: int, *, after: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
        """Server-sent events of the run's log: ("line", line) … then ("end", {state, ...}).

        Reconnects (from the last line seen) if the stream drops before its end.
        """
        attempts = 0
        path = f"/api/v1/runs/{int(run_id)}/logs"
        while True:
            try:
                with self._http.stream(path, {"follow": "true", "after": str(after)}) as (
                    status,
                    lines,
                    read_rest,
                ):
                    if status >= 400:
                        _decode(status, read_rest())
                    for event, data in _parse_sse(lines):
                        attempts = 0
                        if event == "line":
                            after = max(after, int(data.get("seq", after)))
                        yield event, data
                        if event == "end":
                            return
            except self._http.unreachable as error:
                attempts += 1
                if attempts > 5:
                    raise DaemonUnreachable(
                        f"lost the log stream of run {run_id} at {self.url}: {error}"
                    ) from None
                import time

                time.sleep(min(0.2 * attempts, 1.0))

    def wait_for_run(
        self,
        run_id: int,
        *,
        stream_logs: bool = True,
        out: TextIO | None = None,
        on_line: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Wait until the run ends and return its final record; with `stream_logs`, print each
        log line to `out` (stdout) as it arrives."""
        target = out if out is not None else sys.stdout
        for event, data in self.follow_log(run_id):
            if event == "line":
                if on_line is not None:
                    on_line(data)
                if stream_logs:
                    # stderr lines to stderr, unless the caller gave one stream for all
                    stream = (
                        target if out is not None or data.get("stream") != "stderr" else sys.stderr
                    )
                    stream.write(f"{data.get('text', '')}\n")
                    stream.flush()
        return self.get_run(run_id)


def _decode(status: int, content: bytes) -> Any:
    """The JSON body of a success; a ClientError with the API's error and details otherwise."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if status >= 400:
        if isinstance(body, dict) and "error" in body:
            raise ClientError(status, str(body["error"]), body.get("details"))
        text = content[:200].decode("utf-8", "replace")
        raise ClientError(status, f"HTTP {status}: {text}")
    return body


# --- HTTP backends: httpx (default) and http.client (fast start-up) --------------------------

StreamAnswer = tuple[int, Iterator[str], Callable[[], bytes]]


class _Backend(Protocol):
    unreachable: tuple[type[BaseException], ...]

    def request(
        self, method: str, path: str, *, json_body: Any, params: Mapping[str, str] | None
    ) -> tuple[int, bytes]: ...

    def stream(
        self, path: str, params: Mapping[str, str]
    ) -> AbstractContextManager[StreamAnswer]: ...

    def close(self) -> None: ...


class _HttpxBackend:
    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        httpx = _httpx()
        self._httpx = httpx
        self.unreachable: tuple[type[BaseException], ...] = (httpx.TransportError,)
        verify: Any = True
        if url.startswith("http://"):
            import ssl

            # Plain HTTP never uses TLS; skip loading the CA bundle (~100 ms at start-up). A
            # context with no trusted CA fails closed should it ever be used.
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._client = httpx.Client(base_url=url, headers=headers, timeout=timeout, verify=verify)

    def request(
        self, method: str, path: str, *, json_body: Any, params: Mapping[str, str] | None
    ) -> tuple[int, bytes]:
        response = self._client.request(method, path, json=json_body, params=params)
        return response.status_code, response.content

    @contextmanager
    def stream(self, path: str, params: Mapping[str, str]) -> Iterator[StreamAnswer]:
        timeout = self._httpx.Timeout(30.0, read=None)  # a log can be quiet for long
        with self._client.stream("GET", path, params=params, timeout=timeout) as response:
            yield response.status_code, response.iter_lines(), response.read

    def close(self) -> None:
        self._client.close()


class _StdlibBackend:
    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = headers
        self._timeout = timeout
        self._connection: Any = None
        self.unreachable: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)

    def _connect(self, timeout: float | None) -> Any:
        import http.client

        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _target(self, path: str, params: Mapping[str, str] | None) -> str:
        from urllib.parse import urlencode

        return self._prefix + path + (f"?{urlencode(params)}" if params else "")

    def request(
        self, method: str, path: str, *, json_body: Any, params: Mapping[str, str] | None
    ) -> tuple[int, bytes]:
        import http.client

        headers = dict(self._headers)
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        while True:
            reused = self._connection is not None
            if self._connection is None:
                self._connection = self._connect(self._timeout)
            try:
                self._connection.request(method, self._target(path, params), body, headers)
                response = self._connection.getresponse()
                return int(response.status), bytes(response.read())
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused:
                    raise
                # a kept-alive connection the server had closed: once more on a new one
            except BaseException:
                self.close()
                raise

    @contextmanager
    def stream(self, path: str, params: Mapping[str, str]) -> Iterator[StreamAnswer]:
        connection = self._connect(30.0)
        try:
            connection.request("GET", self._target(path, params), headers=self._headers)
            response = connection.getresponse()
            connection.sock.settimeout(None)  # a log can be quiet for long
            lines = (raw.decode("utf-8", "replace").rstrip("\r\n") for raw in response)
            yield response.status, lines, response.read
        finally:
            connection.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                try:
                    payload = json.loads("\n".join(data))
                except ValueError:
                    payload = {"text": "\n".join(data)}
                yield event, payload if isinstance(payload, dict) else {"value": payload}
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def _segment(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _pause_path(job: str, clock: str | None, action: str) -> str:
    if clock is None:
        return f"/api/v1/jobs/{_segment(job)}/{action}"
    return f"/api/v1/jobs/{_segment(job)}/clocks/{_segment(clock)}/{action}"
