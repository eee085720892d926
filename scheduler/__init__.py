"""clockd's daemon side: config, scheduling, runs, storage, API, CLI.

`scheduler.Client` and `scheduler.context` are for code running inside a run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Client", "context"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import scheduler` inside a run costs nothing until used.
    if name == "Client":
        from scheduler.client import Client

        return Client
    if name == "context":
        from scheduler.context import context

        return context
    raise AttributeError(name)
