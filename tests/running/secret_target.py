"""A Python target for the masking tests (`tests.running.secret_target:echo_secret`)."""

from __future__ import annotations

from typing import Any


def echo_secret(api_key: str) -> dict[str, Any]:
    """Returns its secret in a value, a nested list and a key: all must come back masked."""
    print(f"got {api_key}", flush=True)
    return {"key": api_key, "nested": [{"again": f"prefix-{api_key}"}, 3], api_key: True}
