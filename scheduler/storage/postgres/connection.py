"""Reaching PostgreSQL: the URL and its options, the password, and which errors pass.

The URL is libpq's (`postgresql://` or `postgres://`, options such as `sslmode` in its query),
passed through psycopg's `conninfo`. The password never stands in the config: libpq reads
`PGPASSWORD` and `~/.pgpass` by itself, and `[daemon] database_password` names a secret
reference (`file:/etc/clockd/db-password`, `env:NAME`) resolved here, at connect time.

A silent network cut (no reset, packets dropped) must be noticed within `daemon_timeout`
(spec 8): unless the URL says otherwise, TCP keepalives probe an idle connection and
`tcp_user_timeout` closes one whose sent data stays unacknowledged, both well inside it.

    options = ConnectOptions.from_url("postgresql://clockd@db/clockd", password="file:/etc/pw")
    conn = options.connect()                    # psycopg.Connection, or ConnectFailed
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scheduler.storage.base import StoreOpenError, StoreUnavailable

if TYPE_CHECKING:
    import psycopg

EX_NOINPUT, EX_CONFIG, EX_NOPERM = 66, 78, 77
DEFAULT_TIMEOUT = 30.0

# SQLSTATE classes and codes that come and go: the connection (08), the server shutting
# down or starting (57P01-57P03), a serialization failure or deadlock (40001, 40P01), the
# server short of resources (53: disk full, memory, connections), a lock (55P03), a
# cancelled statement (57014), a read-only server (25006: a standby after a failover, until
# the next connection reaches the new primary), an I/O error (58030).
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT_CODES = frozenset(
    {"57P01", "57P02", "57P03", "40001", "40P01", "55P03", "57014", "25006", "58030"}
)
# Refusals that no retry mends, recognised by libpq's text where no SQLSTATE came with them
# (a connection refused during authentication).
_CREDENTIAL_WORDS = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "pg_hba.conf",
    "permission denied",
)
_MISSING_WORDS = ("does not exist",)


def redact(url: str) -> str:
    """The URL without a password, for messages (`postgresql://clockd@db/clockd`)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return url.split("@")[-1] if "@" in url else url
    # conninfo_to_dict types its values as str | int: they are the URL's text here
    user = str(parts["user"]) if parts.get("user") else None
    host = str(parts.get("host") or "localhost")
    port = parts.get("port")
    dbname = str(parts.get("dbname") or user or "")
    where = f"{host}:{port}" if port else str(host)
    return f"postgresql://{user + '@' if user else ''}{where}/{dbname}"


def is_transient(error: BaseException) -> bool:
    """Whether `error` may go away by itself: the writer keeps the write and retries it."""
    import psycopg

    if isinstance(error, StoreUnavailable | ConnectFailed):
        return not (isinstance(error, ConnectFailed) and error.permanent is not None)
    if isinstance(error, psycopg.InterfaceError):
        return True  # the connection is closed or lost: the next call reconnects
    if isinstance(error, OSError | TimeoutError):
        return True
    if not isinstance(error, psycopg.Error):
        return False
    code = error.sqlstate
    if code is None:
        # No SQLSTATE: libpq lost the server (reset, timeout, closed) — unless its text is a
        # refusal of the credentials.
        text = str(error).lower()
        return isinstance(error, psycopg.OperationalError) and not any(
            word in text for word in (*_CREDENTIAL_WORDS, *_MISSING_WORDS)
        )
    return code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES


def describe(error: BaseException) -> str:
    """One line: libpq's messages span lines (DETAIL, HINT, the connection attempts)."""
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


class ConnectFailed(Exception):
    """A connection could not be made. `permanent`: the sysexits code when no retry mends it
    (wrong password, unknown database); None when the server may simply be away."""

    def __init__(self, message: str, permanent: int | None) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ConnectOptions:
    """How to connect: libpq's conninfo (without a password) and the password reference."""

    url: str
    location: str
    password_ref: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    base_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        password: str | None = None,
        timeout: float | None = None,
        base_dir: str | None = None,
    ) -> ConnectOptions:
        from psycopg.conninfo import conninfo_to_dict

        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        try:
            parts = conninfo_to_dict(url)
        except Exception as error:
            raise StoreOpenError(
                f"{redact(url)}: not a usable PostgreSQL URL ({describe(error)})",
                sysexit=EX_CONFIG,
            ) from None
        if "password" in parts:
            raise StoreOpenError(
                f"{redact(url)}: the URL holds a password; put it in a file named by "
                '[daemon] database_password = "file:...", or in PGPASSWORD or ~/.pgpass',
                sysexit=EX_CONFIG,
            )
        return cls(
            url=url,
            location=redact(url),
            password_ref=password or None,
            timeout=timeout or DEFAULT_TIMEOUT,
            base_dir=base_dir,
        )

    def keepalive_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """TCP options that notice a silent cut within the timeout, where the URL sets none."""
        seconds = max(self.timeout, 2.0)
        options = {
            "keepalives": 1,
            "keepalives_idle": max(1, int(seconds / 4)),
            "keepalives_interval": max(1, int(seconds / 8)),
            "keepalives_count": 2,
            "tcp_user_timeout": int(seconds * 1000 / 2),
            "connect_timeout": max(2, int(seconds / 3)),
            "application_name": "clockd",
        }
        return {key: value for key, value in options.items() if key not in given}

    def password(self) -> str | None:
        """The password the reference names (resolved at each connect: a rotated file is read
        again); None without a reference (libpq then reads PGPASSWORD or ~/.pgpass)."""
        if self.password_ref is None:
            return None
        from pathlib import Path

        from scheduler.running.secrets import SecretError, resolve_secret

        try:
            return resolve_secret(
                self.password_ref,
                os.environ,
                base_dir=Path(self.base_dir) if self.base_dir else None,
            )
        except SecretError as error:
            raise ConnectFailed(
                f"{self.location}: database_password: {error}", permanent=EX_NOPERM
            ) from None

    def connect(self, *, readonly: bool = False, autocommit: bool = True) -> psycopg.Connection:
        """A new connection in UTC. ConnectFailed (permanent or not) when it cannot be made."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        given = conninfo_to_dict(self.url)
        extra: dict[str, Any] = {**self.keepalive_options(given), **self.extra}
        password = self.password()
        if password is not None:
            extra["password"] = password
        server_options = "-c TimeZone=UTC"
        if readonly:
            server_options += " -c default_transaction_read_only=on"
        extra["options"] = (str(given.get("options") or "") + " " + server_options).strip()
        try:
            return psycopg.connect(self.url, autocommit=autocommit, **extra)
        except psycopg.Error as error:
            raise self._connect_error(error) from None

    def _connect_error(self, error: BaseException) -> ConnectFailed:
        text = describe(error)
        lowered = text.lower()
        code = getattr(error, "sqlstate", None)
        if code in ("28P01", "28000", "42501") or any(w in lowered for w in _CREDENTIAL_WORDS):
            return ConnectFailed(
                f"{self.location}: permission denied: the database refused clockd's "
                f"credentials ({text})",
                permanent=EX_NOPERM,
            )
        if code == "3D000" or ("database" in lowered and "does not exist" in lowered):
            return ConnectFailed(
                f"{self.location}: the database does not exist; create it first "
                f"(createdb) ({text})",
                permanent=EX_NOINPUT,
            )
        if "role" in lowered and "does not exist" in lowered:
            return ConnectFailed(
                f"{self.location}: permission denied: no such database user ({text})",
                permanent=EX_NOPERM,
            )
        return ConnectFailed(f"{self.location}: cannot connect ({text})", permanent=None)
