"""The Jinja2 sandbox that renders dynamic values and reports its work to the budget
(`clocks.budget`): Jinja's own sandbox for what a template may reach, and a code generator
that rewrites each template so that loops, macro bodies, comparisons, concatenations and
slices report to the meter, which no hook of Jinja's sandbox sees.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, update_wrapper
from typing import TYPE_CHECKING, Any, cast

from clocks.budget import (
    CHARS_PER_STEP,
    FILTER_STEPS,
    MAX_INT_BITS,
    METER,
    PER_CHARACTER_FILTERS,
    call_steps,
    callable_name,
    charge,
    counted,
    is_iterator,
    projected,
    refuse_large,
    size,
)

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["sandbox"]


def _metered_function(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or test that charges for its arguments (iterators one step per item pulled),
    for what it would build, and for its result."""
    per_character = name in PER_CHARACTER_FILTERS

    def call(*args: Any, **kwargs: Any) -> Any:
        meter = METER.get()
        if meter is None:
            # Jinja folds constant filter expressions while compiling (no budget then):
            # refusing here makes it leave them for the render.
            raise RuntimeError(f"filter or test '{name}' runs only inside a metered render")
        values = [a for a in args if not _is_environment_like(a)]
        text = sum(len(a) for a in values if isinstance(a, str)) if per_character else 0
        meter.charge(FILTER_STEPS + text + sum(size(a, meter.left) for a in values))
        meter.charge(sum(size(a, meter.left) for a in kwargs.values()))
        args = tuple(counted(a, meter) if is_iterator(a) else a for a in args)
        if values:
            ahead = projected(name, values[0], tuple(values[1:]), kwargs)
            if ahead:
                meter.project(ahead)
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
                iterated = cast(nodes.Expr, loop.iter)  # jinja2 types For.iter as any Node
                loop.iter = environment_call("metered_iter", iterated, lineno=loop.lineno)
                loop.body.insert(0, step_statement(loop.body, loop.lineno))
            for block in list(tree.find_all((nodes.Macro, nodes.CallBlock))):
                body = cast("nodes.Macro | nodes.CallBlock", block).body
                body.insert(0, step_statement(body, block.lineno))
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
            meter = METER.get()
            if meter is not None:
                meter.charge(steps)

        def metered_value(self, value: Any) -> Any:
            meter = charge(value)
            if meter is not None and is_iterator(value):
                return counted(value, meter)
            return value

        def metered_iter(self, iterable: Any) -> Any:
            meter = METER.get()
            if meter is None:
                return iterable
            meter.charge(1)
            return counted(iterable, meter)

        def getattr(self, obj: Any, attribute: str) -> Any:
            meter = METER.get()
            if meter is not None:
                meter.charge(1)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            meter = METER.get()
            if meter is not None:
                meter.charge(1)
            return super().getitem(obj, argument)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            meter = METER.get()
            if meter is None:
                return super().call(__context, __obj, *args, **kwargs)
            name, subject = callable_name(__obj)
            meter.charge(
                call_steps(__obj)
                + (size(subject, meter.left) if subject is not None else 0)
                + sum(size(a, meter.left) for a in (*args, *kwargs.values()))
            )
            if name:
                ahead = projected(name, subject, args, kwargs)
                if ahead:
                    meter.project(ahead)
            args = tuple(counted(a, meter) if is_iterator(a) else a for a in args)
            result = super().call(__context, __obj, *args, **kwargs)
            meter.charge(size(result, meter.left))
            return result

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            meter = charge(left, right)
            refuse_large(op, left, right, meter)
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
        name: _metered_function(name, cast(Callable[..., Any], function))
        for name, function in environment.filters.items()
    }
    environment.tests = {
        name: _metered_function(name, cast(Callable[..., Any], function))
        for name, function in environment.tests.items()
    }
    return environment


def _finalize(value: Any) -> Any:
    """Each `{{ }}` output: charged for the text it becomes."""
    charge(value)
    return value
