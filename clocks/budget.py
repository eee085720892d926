"""The work budget of one template render, counted in *steps* (see `clocks.sandbox`).

A template comes from the config (parameter defaults, clock parameters, argv items, run
names, hooks) and is rendered on the daemon's event loop, so one render must end quickly
whatever the template says. A thread cannot interrupt a Jinja loop that calls nothing, so
the limit is counted inside the render, and the render stops with `BudgetExceeded` as
soon as the steps run out:

- every loop pass, call (functions, methods, filters, tests), attribute or item lookup and
  operator costs steps (a call of Python code more than one of C code), plus the size of
  what it works on: one step per element of a list, tuple, dict or range (nested ones
  counted in full, so `[[1] * 1000] * 1000` costs what printing it costs) and one step
  per 16 characters of text;
- a loop or macro body also costs the size of its literal text at each pass;
- operations whose result can outgrow their input (`*`, `**`, `join`, `replace`, padding
  and format widths, `indent`, `batch`, `slice`, `tojson(indent)`...) are charged, or
  refused, for the result they would build *before* they build it.

Counting is deterministic: the same template costs the same steps in `clockd check` as in
the daemon, on any machine. What a step costs in time is measured by
`benchmarks/templates.py`.
"""

from __future__ import annotations

import itertools
import re
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_BUDGET",
    "Budget",
    "BudgetExceeded",
    "metered",
    "start_meter",
    "stop_meter",
]

# Text is cheap to copy: this many characters make one step.
CHARS_PER_STEP = 16
# Integers beyond this many bits are refused (a multiplication of two such numbers already
# costs more than a step should).
MAX_INT_BITS = 1 << 16


@dataclass(frozen=True)
class Budget:
    """What one render may spend: `steps` of work, `output` characters of result.

    >>> Budget().steps, Budget().output
    (50000, 1048576)
    """

    steps: int = 50_000
    output: int = 1 << 20


DEFAULT_BUDGET = Budget()


class BudgetExceeded(Exception):
    """A render ran out of its budget; `str()` says which part, in words."""


class Meter:
    __slots__ = ("budget", "left")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.left = budget.steps

    def charge(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise BudgetExceeded(
                f"it needs more than the {self.budget.steps:,} steps a template may take "
                "(loop passes, calls and the size of what they work on)"
            )

    def project(self, characters: int) -> None:
        """Refuse, before it is built, a result longer than the output budget; charge it."""
        if characters > self.budget.output:
            raise BudgetExceeded(
                f"it would build a text of {characters:,} characters, over the "
                f"{self.budget.output:,} a template may produce"
            )
        self.charge(characters // CHARS_PER_STEP)


# The meter of the render in progress (per thread and task; None outside a render: then
# nothing is counted, e.g. when the optimizer folds constants at compile time).
METER: ContextVar[Meter | None] = ContextVar("clockd_template_meter", default=None)


def start_meter(budget: Budget) -> Token[Meter | None]:
    """Renders from here on (in this thread or task) count against a fresh `budget`, until
    `stop_meter(token)`; past it they raise BudgetExceeded."""
    return METER.set(Meter(budget))


def stop_meter(token: Token[Meter | None]) -> None:
    METER.reset(token)


@contextmanager
def metered(budget: Budget) -> Iterator[None]:
    """`start_meter` … `stop_meter` as a block:

    >>> from clocks.sandbox import sandbox
    >>> with metered(Budget(steps=10)):
    ...     sandbox().from_string("{{ 1 + 1 }}").render()
    '2'
    """
    token = start_meter(budget)
    try:
        yield
    finally:
        stop_meter(token)


# -- sizes ----------------------------------------------------------------------------------

_SCALARS = (int, float, bool, type(None))
_CONTAINERS = (list, tuple, set, frozenset, dict)


def size(value: Any, cap: int) -> int:
    """Steps to look at `value` once; counting stops a little past `cap`."""
    kind = type(value)
    if kind is str:
        return 1 + len(value) // CHARS_PER_STEP
    if kind is int:
        return 1 + int.bit_length(value) // 1024
    if kind in _SCALARS:
        return 1
    return _deep_size(value, cap)


def _deep_size(value: Any, cap: int) -> int:
    total = 0
    todo = [value]
    while todo and total <= cap:
        item = todo.pop()
        if isinstance(item, str | bytes):
            total += 1 + len(item) // CHARS_PER_STEP
        elif isinstance(item, dict):
            total += 1 + len(item)
            if len(item) <= cap:
                todo.extend(item.keys())
                todo.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += 1 + len(item)
            if len(item) <= cap:
                todo.extend(item)
        elif isinstance(item, range):
            total += 1 + len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += 1 + item.bit_length() // 1024
        else:
            attrs = _namespace_attrs(item)
            if attrs is not None:
                todo.append(attrs)
            total += 1
    return total


def _namespace_attrs(value: Any) -> dict[str, Any] | None:
    from jinja2.utils import Namespace

    if isinstance(value, Namespace):
        attrs: dict[str, Any] = object.__getattribute__(value, "_Namespace__attrs")
        return attrs
    return None


def charge(*values: Any) -> Meter | None:
    meter = METER.get()
    if meter is not None:
        steps = 1
        for value in values:
            steps += size(value, meter.left)
        meter.charge(steps)
    return meter


def counted(iterable: Any, meter: Meter) -> Iterator[Any]:
    for item in iterable:
        meter.charge(1)
        yield item


def is_iterator(value: Any) -> bool:
    return hasattr(value, "__next__") and not isinstance(value, str | bytes)


def _text_length(value: Any, cap: int = 1 << 16) -> int:
    """About how many characters `value` makes as text (for results projected ahead);
    containers are counted a little past `cap` steps at most."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, _SCALARS):
        return 24
    return 24 * size(value, cap)


# Digits in a format string are widths and precisions ("%09999999d", "{:>99999999}").
_NUMBERS = re.compile(r"[0-9]{5,}")


def _format_width(text: Any) -> int:
    if not isinstance(text, str):
        return 0
    return max((int(found) for found in _NUMBERS.findall(text[:10_000])), default=0)


# -- what a call costs ---------------------------------------------------------------------

# A call of code written in Python (a macro, a pendulum method, a Jinja helper) costs this
# many steps, one of C code (a method of text, a list, a dict) these: a step should stay
# around a microsecond or less of work, whatever the template calls.
PYTHON_CALL_STEPS = 20
BUILTIN_CALL_STEPS = 2
FILTER_STEPS = 5
# pendulum methods that cost several times an ordinary call (measured in
# benchmarks/templates.py: nth_of ~130 µs, closest ~60 µs, in_timezone ~35 µs).
SLOW_METHODS = {
    "nth_of": 250,
    "closest": 150,
    "farthest": 150,
    "in_timezone": 100,
    "in_tz": 100,
    "average": 40,
    "diff": 40,
    "diff_for_humans": 40,
    "first_of": 30,
    "last_of": 30,
}
# Filters whose work is Python code per character (regular expressions, textwrap): their
# text arguments cost a step per character, not per 16.
PER_CHARACTER_FILTERS = frozenset(
    {"wordwrap", "urlize", "striptags", "wordcount", "title", "xmlattr"}
)


def call_steps(function: Any) -> int:
    """The steps one call of `function` costs before its arguments' sizes."""
    if isinstance(function, _BUILTIN_CALLABLES):
        return BUILTIN_CALL_STEPS
    return SLOW_METHODS.get(getattr(function, "__name__", ""), PYTHON_CALL_STEPS)


_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    types.MethodDescriptorType,
)


# -- what a call would build ----------------------------------------------------------------


def _int_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    numbers = [a for a in (*args, *kwargs.values()) if type(a) is int]
    return max((abs(n) for n in numbers), default=0)


def projected(name: str, subject: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """The length of text (or the count of items) `name` would build from `subject` with
    these arguments, when it can exceed what it was given; else 0."""
    if name in ("center", "ljust", "rjust", "zfill", "indent", "wordwrap", "batch", "slice"):
        width = _int_arguments(args, kwargs)
        lines = subject.count("\n") + 1 if isinstance(subject, str) else 1
        extra = sum(len(a) for a in (*args, *kwargs.values()) if isinstance(a, str))
        return _text_length(subject) + width * lines + extra * lines
    if name == "expandtabs":
        tabs = subject.count("\t") if isinstance(subject, str) else 0
        return _text_length(subject) + tabs * _int_arguments(args, kwargs)
    if name == "join":
        # str.join(items) has the separator as subject; the filter join(items, separator).
        items, separator = (
            (args[0] if args else (), subject)
            if isinstance(subject, str)
            else (
                subject,
                args[0] if args else kwargs.get("d", ""),
            )
        )
        if is_iterator(items) or not hasattr(items, "__len__"):
            return 0
        parts = sum(_text_length(item) for item in itertools.islice(items, 1 << 16))
        return parts + len(items) * _text_length(separator)
    if name == "replace" and isinstance(subject, str) and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
            count = subject.count(old) if old else len(subject) + 1
            return len(subject) + count * (len(new) - len(old))
    if name in ("format", "format_map"):
        widths = max(_format_width(subject), _int_arguments(args, kwargs))
        return widths + sum(_text_length(a) for a in (*args, *kwargs.values()))
    if name in ("tojson", "pprint"):
        indent = _int_arguments(args, kwargs)
        return _text_length(subject) * (1 + indent)
    return 0


def callable_name(function: Any) -> tuple[str, Any]:
    """(name, bound object) of a method of text, else ("", None)."""
    if type(function) is types.MethodType:  # a Python method (pendulum): not of text
        return "", None
    wrapped = getattr(function, "__wrapped__", function)  # str.format goes through a wrapper
    subject = getattr(wrapped, "__self__", None)
    if isinstance(subject, str):
        return getattr(wrapped, "__name__", ""), subject
    return "", None


_MAX_SEQUENCE_ITEMS = 1 << 20
_MAX_EXPONENT = 1 << 12


def refuse_large(op: str, left: Any, right: Any, meter: Meter | None) -> None:
    """Refuse (or charge ahead) what `left op right` would build."""
    from jinja2.exceptions import SecurityError

    if op == "**":
        if isinstance(right, int) and isinstance(left, int) and not _is_unit(left):
            if abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"the exponent {right} is too large (at most {_MAX_EXPONENT})")
            if left.bit_length() * abs(right) > MAX_INT_BITS:
                raise SecurityError(
                    f"the power {right} is too large (a result of at most {MAX_INT_BITS:,} bits)"
                )
        return
    if op == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                items = len(sequence) * count
                if items > _MAX_SEQUENCE_ITEMS:
                    raise SecurityError(
                        f"repeating a sequence {count} times is too large "
                        f"(at most {_MAX_SEQUENCE_ITEMS} items)"
                    )
                if meter is not None:
                    meter.project(_text_length(sequence) * max(count, 0))
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"a product of more than {MAX_INT_BITS:,} bits is too large")
        return
    if op == "%" and isinstance(left, str) and meter is not None:
        arguments = right if isinstance(right, tuple) else (right,)
        width = _format_width(left)
        meter.project(len(left) + width + sum(_text_length(a) for a in arguments))


def _is_unit(base: Any) -> bool:
    return isinstance(base, int | float) and base in (0, 1, -1)
