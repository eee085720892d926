"""Targets of config/parent_child.toml: a parent run that starts a child run.

`parent` runs inside the daemon (a Python target) and uses `scheduler.Client.from_env()`:
CLOCKD_API_URL, CLOCKD_TOKEN (a child token) and CLOCKD_RUN_ID come from the run's
environment, so the child is recorded with `parent_id` = this run and `trigger = "child"`.
The child's log lines are printed here as they arrive, so they land in the parent's log.
"""

from __future__ import annotations

import sys
import time


def child(n: int, label: str = "child") -> dict[str, int]:
    for i in range(1, n + 1):
        print(f"{label} says {i}/{n}", flush=True)
        time.sleep(0.1)
    return {"counted": n}


def parent(n: int = 3) -> dict[str, object]:
    from scheduler import Client, context

    print(f"parent run {context.run_id} starts a child with n={n}", flush=True)
    with Client.from_env() as client:
        run = client.create_run("child", {"n": n}, wait=True, stream_logs=True)
    print(f"child run {run['id']} ended {run['state']}", flush=True)
    if run["state"] != "succeeded":
        sys.exit(1)
    return {"child": run["id"], "state": run["state"]}
