"""Warnings for templates inside a shell's script string (issue 12, finding 10).

`["sh", "-c", "echo {{ msg }}"]` renders the value into shell code: a value with a quote,
`;` or `$(...)` runs as a command. The value is safe as an argument of the script instead:

>>> safe_form(["sh", "-c", "echo {{ msg }}"], 2)
['sh', '-c', 'echo "$1"', 'sh', '{{ msg }}']

`clockd check` prints these warnings (exit 0) and `clockd serve` logs them at start.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

__all__ = ["SHELLS", "safe_form", "script_index", "shell_warnings"]

# Programs that run their -c argument as shell code.
SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "ksh",
        "mksh",
        "ash",
        "yash",
        "posh",
        "busybox",
        "fish",
        "csh",
        "tcsh",
    }
)
# Shell options that take the next argument as their value (`bash -o pipefail -c ...`).
_OPTIONS_WITH_VALUE = frozenset({"-o", "+o", "-O", "+O"})
# A template in a script, with the quotes around it when it has any.
_TEMPLATE = re.compile(r"""(?P<quote>["']?)(?P<template>\{\{.*?\}\})(?P=quote)""", re.DOTALL)


def script_index(argv: Sequence[str]) -> int | None:
    """The index of the script string when `argv` runs a shell with -c (possibly through
    `env`), else None.

    >>> script_index(["bash", "-lc", "echo hi"]), script_index(["/usr/bin/env", "X=1", "sh", "-ec", "x"])
    (2, 4)
    >>> script_index(["echo", "-c", "x"]) is None
    True
    """
    position = 0
    if argv and os.path.basename(argv[0]) == "env":
        position = 1
        while position < len(argv) and (argv[position].startswith("-") or "=" in argv[position]):
            position += 1
    if position >= len(argv) or os.path.basename(argv[position]) not in SHELLS:
        return None
    shell = os.path.basename(argv[position])
    position += 1
    if shell == "busybox":  # busybox sh -c ...
        if position >= len(argv) or argv[position] not in ("sh", "ash"):
            return None
        position += 1
    runs_script = False
    while position < len(argv):
        argument = argv[position]
        if argument == "--" or argument[:1] not in ("-", "+") or argument in ("-", "+"):
            break
        if argument in _OPTIONS_WITH_VALUE:
            position += 2
            continue
        if argument[0] == "-" and not argument.startswith("--") and "c" in argument[1:]:
            runs_script = True
        position += 1
    if position < len(argv) and argv[position] == "--":
        position += 1
    if not runs_script or position >= len(argv):
        return None
    return position


def safe_form(argv: Sequence[str], index: int) -> list[str] | None:
    """`argv` with each template of the script at `index` passed as a positional argument
    ("$1", "$2", ...) instead; None when the script holds statements ({% %}) that cannot be
    moved out mechanically."""
    script = argv[index]
    if "{%" in script:
        return None
    arguments = list(argv[index + 1 :]) or [_shell_name(argv)]  # the first one is $0

    def replace(found: re.Match[str]) -> str:
        arguments.append(found["template"])
        number = len(arguments) - 1
        return f'"${number}"' if number < 10 else f'"${{{number}}}"'

    return [*argv[:index], _TEMPLATE.sub(replace, script), *arguments]


def shell_warnings(argv: Sequence[str]) -> list[tuple[int, str]]:
    """(index, message) for a template inside the script string of a shell in `argv`."""
    index = script_index(argv)
    if index is None or ("{{" not in argv[index] and "{%" not in argv[index]):
        return []
    shell = " ".join(os.path.basename(part) for part in argv[:index])
    safe = safe_form(argv, index)
    example = (
        json.dumps(safe, ensure_ascii=False)
        if safe is not None
        else '["sh", "-c", "echo \\"$1\\"", "sh", "{{ msg }}"]'
    )
    return [
        (
            index,
            f"a template inside the script of '{shell}' is injectable: a value with a quote, ';' "
            f"or '$(...)' runs as shell code; pass it as an argument of the script instead: {example}",
        )
    ]


def _shell_name(argv: Sequence[str]) -> str:
    for part in argv:
        name = os.path.basename(part)
        if name in SHELLS and name != "busybox":
            return name
    return "sh"
