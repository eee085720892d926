"""`python -m scheduler.pyrunner` (this module; the name is stable): the child interpreter that runs a job's Python target.

It reads a JSON spec from `$CLOCKD_PYRUNNER_SPEC` (or stdin when that is unset):

    {"target": "pkg.mod:func", "parameters": {"day": "2026-03-01"},
     "types": {"day": "date"}, "result_file": "/tmp/…/result.json"}

converts `date` → `datetime.date` and `datetime` → aware `datetime.datetime`, imports the
target, calls it with the parameters as keyword arguments (awaiting coroutines), and writes
the JSON return value to `result_file` (stdout and stderr are the run's log). Exit 0 on
success; on an exception, its traceback goes to stderr and the exit code is 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SPEC_ENV = "CLOCKD_PYRUNNER_SPEC"
EXIT_FAILED = 1


class TargetError(Exception):
    """The target cannot be found or called as given."""


def load_target(target: str) -> Callable[..., Any]:
    """`"pkg.mod:func"` (or `"pkg.mod:Class.method"`) → the callable."""
    module_name, sep, qualname = target.partition(":")
    if not sep or not module_name or not qualname:
        raise TargetError(f"target '{target}': expected 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise TargetError(f"target '{target}': module '{module_name}' not found") from None
        raise
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"target '{target}': '{module_name}' has no '{qualname}'") from None
    if not callable(obj):
        raise TargetError(f"target '{target}': '{qualname}' is not callable")
    return obj  # type: ignore[no-any-return]


def convert_parameters(values: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """JSON values → Python values by declared type (date, datetime); others unchanged."""
    converted = dict(values)
    for name, kind in types.items():
        value = converted.get(name)
        if not isinstance(value, str):
            continue
        if kind == "date":
            converted[name] = dt.date.fromisoformat(value)
        elif kind == "datetime":
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            converted[name] = moment
    return converted


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"a {type(value).__name__} is not JSON serializable")


def call_target(spec: Mapping[str, Any]) -> Any:
    function = load_target(spec["target"])
    kwargs = convert_parameters(spec.get("parameters", {}), spec.get("types", {}))
    result = function(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def write_result(path: Path, result: Any, max_bytes: int | None = None) -> None:
    """The result as JSON; past `max_bytes`, the marker clockd stores instead (the same as
    `scheduler.running.results.oversized`, written here without importing clockd: a job's
    own interpreter may not have clockd's dependencies)."""
    text = json.dumps(result, default=_json_default, ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if max_bytes is not None and size > max_bytes:
        print(
            f"clockd pyrunner: the result ({size} bytes of JSON) is over the {max_bytes}-byte "
            "cap: not stored",
            file=sys.stderr,
        )
        text = json.dumps(
            {
                "clockd": f"result not stored: {size} bytes of JSON is over the cap of "
                f"{max_bytes} bytes; write large outputs to a file and return its path"
            }
        )
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def read_spec() -> dict[str, Any]:
    text = os.environ.pop(SPEC_ENV, None)
    if text is None:
        text = sys.stdin.read()
    spec: dict[str, Any] = json.loads(text)
    return spec


def main() -> int:
    try:
        spec = read_spec()
    except (ValueError, OSError) as error:
        print(f"clockd pyrunner: cannot read the run spec: {error}", file=sys.stderr)
        return EXIT_FAILED
    # Like `python -m`, the working directory is importable.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        result = call_target(spec)
    except TargetError as error:
        print(f"clockd pyrunner: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BaseException as error:
        if isinstance(error, SystemExit) and error.code in (0, None):
            result = None
        elif isinstance(error, SystemExit):
            return error.code if isinstance(error.code, int) else EXIT_FAILED
        else:
            traceback.print_exc()
            return EXIT_FAILED
    result_file = spec.get("result_file")
    if result_file:
        try:
            write_result(Path(result_file), result, spec.get("max_result_bytes"))
        except (TypeError, ValueError) as error:
            print(
                f"clockd pyrunner: the return value of {spec['target']} is not JSON: {error}",
                file=sys.stderr,
            )
            return EXIT_FAILED
    return 0


def run_as_main() -> int:
    """What `python -m scheduler.pyrunner` does: line-buffered output, then `main`."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return main()


if __name__ == "__main__":
    sys.exit(run_as_main())
