"""Where `runs`, `show`, `logs` and `jobs` read: the database (read-only) or the daemon's API.

Both sources answer in the API's JSON shapes (a run is `RunRecord.to_json()`, a log line
`{"seq", "time", "stream", "text"}`), so the commands render alike whichever they read.

- `--url`, `$CLOCKD_URL` (or, inside a run, `$CLOCKD_API_URL`): the API; no config needed.
- Otherwise the database named by the config's `[daemon]` table. Only that table must be
  valid: problems elsewhere in the config are printed as warnings (spec 4), so history
  stays readable while a job has a typo.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import click

from scheduler.errors import NotFound

if TYPE_CHECKING:
    from scheduler.client import Client
    from scheduler.models import DaemonSettings
    from scheduler.storage.base import RunStore

FOLLOW_POLL_SECONDS = 0.3


class History(Protocol):
    def runs(
        self, *, job: str | None, clock: str | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]: ...

    def run(self, run_id: int) -> dict[str, Any]: ...

    def log(self, run_id: int, after: int = 0) -> list[dict[str, Any]]: ...

    def follow(self, run_id: int) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


def load_history_settings(config_path: str | None) -> DaemonSettings:
    """`[daemon]` of the config; its other problems become warnings on stderr."""
    from scheduler.config.load import load_daemon_settings

    settings, elsewhere = load_daemon_settings(config_path, environ=os.environ)
    if elsewhere:
        click.echo(
            f"warning: the config has {len(elsewhere)} problem(s) outside [daemon] "
            "(clockd check lists them); reading the history anyway",
            err=True,
        )
        for problem in elsewhere:
            click.echo(f"warning: {problem.render()}", err=True)
    return settings


class StoreHistory:
    """The database, read-only (a WAL reader: works while the daemon writes)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    @classmethod
    def open(cls, config_path: str | None) -> StoreHistory:
        from scheduler.storage import open_configured_store

        return cls(open_configured_store(load_history_settings(config_path), readonly=True))

    def runs(
        self, *, job: str | None, clock: str | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        records = self.store.list_runs(job=job, clock=clock, state=state, limit=limit)
        return [record.to_json() for record in records]

    def run(self, run_id: int) -> dict[str, Any]:
        record = self.store.get_run(run_id)
        if record is None:
            raise NotFound(f"unknown run {run_id}")
        return record.to_json()

    def log(self, run_id: int, after: int = 0) -> list[dict[str, Any]]:
        return [
            {
                "seq": line.seq,
                "time": line.time.isoformat(),
                "stream": line.stream,
                "text": line.text,
            }
            for line in self.store.read_log(run_id, after_seq=after)
        ]

    def follow(self, run_id: int) -> Iterator[dict[str, Any]]:
        seq = 0
        while True:
            lines = self.log(run_id, seq)
            yield from lines
            if lines:
                seq = lines[-1]["seq"]
                continue
            if self.run(run_id)["state"] not in ("pending", "running"):
                # one more read: lines written between the last read and the final state
                yield from self.log(run_id, seq)
                return
            time.sleep(FOLLOW_POLL_SECONDS)

    def close(self) -> None:
        self.store.close()


class ApiHistory:
    """The daemon's API (`GET /api/v1/runs`, `.../logs`, `?follow=true`)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def runs(
        self, *, job: str | None, clock: str | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return self.client.runs(job=job, clock=clock, state=state, limit=limit)

    def run(self, run_id: int) -> dict[str, Any]:
        from scheduler.client import ClientError

        try:
            return self.client.get_run(run_id)
        except ClientError as error:
            if error.status == 404:
                raise NotFound(f"unknown run {run_id}") from None
            raise

    def log(self, run_id: int, after: int = 0) -> list[dict[str, Any]]:
        self.run(run_id)  # a clear "unknown run" first
        return self.client.logs(run_id, after=after)

    def follow(self, run_id: int) -> Iterator[dict[str, Any]]:
        self.run(run_id)
        for event, data in self.client.follow_log(run_id):
            if event == "line":
                yield data

    def close(self) -> None:
        self.client.close()


def open_history(url: str | None, token_file: str | None, config_path: str | None) -> History:
    """The API when an address was given (module docstring), else the database."""
    from scheduler.cli.address import connect, remote_url

    address = remote_url(url)
    if address is not None:
        return ApiHistory(connect(address, config_path, token_file))
    return StoreHistory.open(config_path)
