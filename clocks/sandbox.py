"""The Jinja2 sandbox that renders dynamic values, with a work budget it enforces itself.

A template comes from the config (parameter defaults, clock parameters, argv items, run
names, hooks) and is rendered on the daemon's event loop, so one render must end quickly
whatever the template says. A thread cannot interrupt a Jinja loop that calls nothing, so
the limit is counted inside the render, in *steps*, and the render stops with
`BudgetExceeded` as soon as they run out:

- every loop iteration, every call (functions, methods, filters, tests), every attribute
  or item lookup and every operator costs one step, plus the size of what it works on:
  one step per element of a list, tuple, dict or range (nested ones counted in full, so
  `[[1] * 1000] * 1000` costs what printing it costs) and one step per 16 characters of
  text;
- a loop or macro body also costs the size of its literal text at each pass;
- operations whose result can outgrow their input (`*`, `**`, `join`, `replace`, padding
  and format widths, `indent`, `batch`, `slice`, `tojson(indent)`...) are charged, or
  refused, for the result they would build *before* they build it.

Counting is deterministic: the same template costs the same steps in `clockd check` as in
the daemon, on any machine. What a step costs in time is measured by
`benchmarks/templates.py` (the worst templates it knows stay within a few tens of ms).
"""

from __future__ import annotations

import itertools
import re
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import lru_cache, update_wrapper
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = [
    "DEFAULT_BUDGET",
    "Budget",
    "BudgetExceeded",
    "metered",
    "sandbox",
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


class _Meter:
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
_METER: ContextVar[_Meter | None] = ContextVar("clockd_template_meter", default=None)


def start_meter(budget: Budget) -> Token[_Meter | None]:
    """Renders from here on (in this thread or task) count against a fresh `budget`, until
    `stop_meter(token)`; past it they raise BudgetExceeded."""
    return _METER.set(_Meter(budget))


def stop_meter(token: Token[_Meter | None]) -> None:
    _METER.reset(token)


@contextmanager
def metered(budget: Budget) -> Iterator[None]:
    """`start_meter` … `stop_meter` as a block:

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
        return 1 + value.bit_length() // 1024
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


def _charge(*values: Any) -> _Meter | None:
    meter = _METER.get()
    if meter is not None:
        steps = 1
        for value in values:
            steps += size(value, meter.left)
        meter.charge(steps)
    return meter


def _counted(iterable: Any, meter: _Meter) -> Iterator[Any]:
    for item in iterable:
        meter.charge(1)
        yield item


def _is_iterator(value: Any) -> bool:
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
    "nth_of": 200,
    "closest": 100,
    "farthest": 100,
    "in_timezone": 60,
    "in_tz": 60,
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


def _projected(name: str, subject: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
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
        if _is_iterator(items) or not hasattr(items, "__len__"):
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


def _callable_name(function: Any) -> tuple[str, Any]:
    """(name, bound object) of a method of text, else ("", None)."""
    if type(function) is types.MethodType:  # a Python method (pendulum): not of text
        return "", None
    wrapped = getattr(function, "__wrapped__", function)  # str.format goes through a wrapper
    subject = getattr(wrapped, "__self__", None)
    if isinstance(subject, str):
        return getattr(wrapped, "__name__", ""), subject
    return "", None


def _metered_function(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or test that charges for its arguments (iterators one step per item pulled),
    for what it would build, and for its result."""
    per_character = name in PER_CHARACTER_FILTERS

    def call(*args: Any, **kwargs: Any) -> Any:
        meter = _METER.get()
        if meter is None:
            # Jinja folds constant filter expressions while compiling (no budget then):
            # refusing here makes it leave them for the render.
            raise RuntimeError(f"filter or test '{name}' runs only inside a metered render")
        values = [a for a in args if not _is_environment_like(a)]
        text = sum(len(a) for a in values if isinstance(a, str)) if per_character else 0
        meter.charge(FILTER_STEPS + text + sum(size(a, meter.left) for a in values))
        meter.charge(sum(size(a, meter.left) for a in kwargs.values()))
        args = tuple(_counted(a, meter) if _is_iterator(a) else a for a in args)
        if values:
            projected = _projected(name, values[0], tuple(values[1:]), kwargs)
            if projected:
                meter.project(projected)
        result = function(*args, **kwargs)
        meter.charge(size(result, meter.left))
        return result

    update_wrapper(call, function)
    return call


def _is_environment_like(value: Any) -> bool:
    # pass_context / pass_environment / pass_eval_context filters get one of these first.
    return isinstance(value, _passed_types())


@lru_cache(maxsize=1)
def _passed_types() -> tuple[type, ...]:
    from jinja2 import Environment
    from jinja2.nodes import EvalContext
    from jinja2.runtime import Context

    return (Environment, Context, EvalContext)


# -- the environment ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def sandbox() -> Environment:
    """The immutable, metered sandbox every dynamic value is rendered in (built once)."""
    from jinja2 import StrictUndefined, nodes
    from jinja2.compiler import CodeGenerator, Frame
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    meter_names = frozenset({"metered_value", "metered_iter", "metered_step"})

    def environment_call(name: str, *args: nodes.Expr, lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), list(args), [], None, None)
        call.set_lineno(lineno, override=True)
        return call

    def literal_text(body: list[nodes.Node]) -> int:
        return sum(len(data.data) for node in body for data in node.find_all(nodes.TemplateData))

    def step_statement(body: list[nodes.Node], lineno: int) -> nodes.ExprStmt:
        steps = 1 + literal_text(body) // CHARS_PER_STEP
        statement = nodes.ExprStmt(
            environment_call("metered_step", nodes.Const(steps), lineno=lineno)
        )
        statement.set_lineno(lineno, override=True)
        return statement

    class MeteredCodeGenerator(CodeGenerator):
        """Jinja's code generator, with the template's tree first rewritten so that loops,
        macro bodies, comparisons, concatenations and slices report to the meter."""

        def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
            self._meter_tree(node)
            super().visit_Template(node, frame)

        def _meter_tree(self, tree: nodes.Template) -> None:
            for loop in list(tree.find_all(nodes.For)):
                loop.iter = environment_call("metered_iter", loop.iter, lineno=loop.lineno)
                loop.body.insert(0, step_statement(loop.body, loop.lineno))
            for block in list(tree.find_all((nodes.Macro, nodes.CallBlock))):
                block.body.insert(0, step_statement(block.body, block.lineno))
            for compare in list(tree.find_all(nodes.Compare)):
                compare.expr = environment_call(
                    "metered_value", compare.expr, lineno=compare.lineno
                )
                for operand in compare.ops:
                    operand.expr = environment_call(
                        "metered_value", operand.expr, lineno=compare.lineno
                    )
            for concat in list(tree.find_all(nodes.Concat)):
                concat.nodes = [
                    environment_call("metered_value", part, lineno=concat.lineno)
                    for part in concat.nodes
                ]
            for item in list(tree.find_all(nodes.Getitem)):
                if isinstance(item.arg, nodes.Slice):
                    # A slice copies: charged for the copy it made (Jinja skips getitem here).
                    item.node = environment_call("metered_value", item.node, lineno=item.lineno)
            tree.set_environment(self.environment)

        def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
            target = node.node
            if isinstance(target, nodes.EnvironmentAttribute) and target.name in meter_names:
                self.write(f"environment.{target.name}(")
                for index, argument in enumerate(node.args):
                    if index:
                        self.write(", ")
                    self.visit(argument, frame)
                self.write(")")
                return
            super().visit_Call(node, frame, forward_caller=forward_caller)

    class MeteredSandbox(ImmutableSandboxedEnvironment):
        # Values are not HTML: no autoescape. Immutable: a hook cannot change the run's
        # parameters. Every binary operator goes through call_binop, to be counted.
        code_generator_class = MeteredCodeGenerator
        intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

        def metered_step(self, steps: int) -> None:
            meter = _METER.get()
            if meter is not None:
                meter.charge(steps)

        def metered_value(self, value: Any) -> Any:
            meter = _charge(value)
            if meter is not None and _is_iterator(value):
                return _counted(value, meter)
            return value

        def metered_iter(self, iterable: Any) -> Any:
            meter = _METER.get()
            if meter is None:
                return iterable
            meter.charge(1)
            return _counted(iterable, meter)

        def getattr(self, obj: Any, attribute: str) -> Any:
            meter = _METER.get()
            if meter is not None:
                meter.charge(1)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            meter = _METER.get()
            if meter is not None:
                meter.charge(1)
            return super().getitem(obj, argument)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            meter = _METER.get()
            if meter is None:
                return super().call(__context, __obj, *args, **kwargs)
            name, subject = _callable_name(__obj)
            meter.charge(
                call_steps(__obj)
                + (size(subject, meter.left) if subject is not None else 0)
                + sum(size(a, meter.left) for a in (*args, *kwargs.values()))
            )
            if name:
                projected = _projected(name, subject, args, kwargs)
                if projected:
                    meter.project(projected)
            args = tuple(_counted(a, meter) if _is_iterator(a) else a for a in args)
            result = super().call(__context, __obj, *args, **kwargs)
            meter.charge(size(result, meter.left))
            return result

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            meter = _charge(left, right)
            _refuse_large(op, left, right, meter)
            result = self.binop_table[op](left, right)
            if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"a number of {result.bit_length():,} bits is too large")
            if meter is not None and op not in ("*", "%"):  # those two were projected
                meter.charge(size(result, meter.left))
            return result

    environment = MeteredSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_finalize,
        # No constant folding: it would run filters at compile time, outside any budget
        # ('a'|center(10**9) folded into the compiled template).
        optimized=False,
    )
    environment.globals.pop("lipsum", None)  # lipsum(n=10**9): paragraphs on demand
    environment.filters = {
        name: _metered_function(name, function) for name, function in environment.filters.items()
    }
    environment.tests = {
        name: _metered_function(name, function) for name, function in environment.tests.items()
    }
    return environment


def _finalize(value: Any) -> Any:
    """Each `{{ }}` output: charged for the text it becomes."""
    _charge(value)
    return value


_MAX_SEQUENCE_ITEMS = 1 << 20
_MAX_EXPONENT = 1 << 12


def _refuse_large(op: str, left: Any, right: Any, meter: _Meter | None) -> None:
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
