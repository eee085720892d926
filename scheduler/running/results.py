"""A Python target's result (its JSON return value), read with a cap.

A result is stored with its run and travels in API answers, so a target that returns a huge
value must not fill the database: past `MAX_RESULT_BYTES` of JSON the result is replaced by
a marker object saying so, and the run's log gets one clockd line. The run keeps its state
(the target did its work; only its return value is not kept). The file is measured before it
is read, so an oversized result is never loaded whole either. The child interpreter
(`running/pyrunner.py`) applies the same cap when it writes, when told it.

A fixed cap rather than a config key: 1 MiB of JSON is far past what a run summary needs,
and a value that large belongs in a file or a table the target writes itself.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.running.backend import Attempt

MAX_RESULT_BYTES = 1 << 20


def oversized(size: int, max_bytes: int = MAX_RESULT_BYTES) -> dict[str, str]:
    """The marker that stands for a result of `size` bytes of JSON."""
    return {
        "clockd": f"result not stored: {size} bytes of JSON is over the cap of {max_bytes} "
        "bytes; write large outputs to a file and return its path"
    }


def read_result(path: Path, max_bytes: int = MAX_RESULT_BYTES) -> tuple[Any, str | None]:
    """(the result, None), or (the marker, a clockd line for the run's log) when the file
    holds more than `max_bytes`; (None, None) when there is no file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, None
    if size > max_bytes:
        note = f"[clockd: the target's result ({size} bytes of JSON) is over the {max_bytes}-byte cap: not stored]"
        return oversized(size, max_bytes), note
    return json.loads(path.read_text(encoding="utf-8")), None


def target_process(
    attempt: Attempt, values: Mapping[str, Any], env: dict[str, str], default_python: str
) -> tuple[list[str], Path]:
    """The argv that runs `attempt`'s Python target (`python -m scheduler.pyrunner`) and the
    scratch folder its result is written into (the caller removes it); the target, its
    values and the result cap go to the child in `env` — the same for a local and a Dask run."""
    from scheduler.running.pyrunner import SPEC_ENV

    argv = [attempt.python or default_python, "-m", "scheduler.pyrunner"]
    scratch = Path(tempfile.mkdtemp(prefix=f"clockd-run-{attempt.run_id}-"))
    env[SPEC_ENV] = json.dumps(
        {
            "target": attempt.target,
            "parameters": dict(values),
            "types": dict(attempt.types),
            "result_file": str(scratch / "result.json"),
            "max_result_bytes": MAX_RESULT_BYTES,
        }
    )
    return argv, scratch
