"""Jinja2 templates for dynamic values: parameter defaults, argv items, run names, hooks.

A value is *dynamic* when it is a string containing "{{". It is rendered in an immutable
sandbox with undefined names refused, so a template can read its context but never reach
Python internals or change what it was given:

>>> render("report-{{ x }}", {"x": 9})
'report-9'

Templates are compiled once per text (LRU cache); the environment is built on first use so
that importing this module does not import jinja2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from clocks.budget import DEFAULT_BUDGET, Budget, start_meter, stop_meter
from clocks.errors import ClockError

if TYPE_CHECKING:
    from jinja2 import Environment, Template

__all__ = ["DEFAULT_BUDGET", "Budget", "TemplateError", "check_template", "is_dynamic", "render"]

# A template text longer than this is shown shortened in messages.
_SHOWN_CHARS = 80


class TemplateError(ClockError):
    """A dynamic value that does not render.

    `value` is the template text, `reason` what went wrong, in words:

    >>> str(TemplateError.for_template("{{ nope }}", "'nope' is undefined"))
    "dynamic value '{{ nope }}' does not render: 'nope' is undefined"
    """

    def __init__(
        self, message: str, *, field: str | None = None, value: object = None, reason: str = ""
    ) -> None:
        super().__init__(message, field=field, value=value)
        self.reason = reason or message

    @classmethod
    def for_template(cls, template: str, reason: str) -> TemplateError:
        return cls(
            f"dynamic value '{shorten(template)}' does not render: {reason}",
            value=template,
            reason=reason,
        )


def is_dynamic(value: object) -> bool:
    """True for a string containing "{{": it is rendered when the run is created.

    >>> is_dynamic("{{ scheduled_time.to_date_string() }}"), is_dynamic("plain"), is_dynamic(3)
    (True, False, False)
    """
    return isinstance(value, str) and "{{" in value


def render(template: str, context: Mapping[str, Any], *, budget: Budget = DEFAULT_BUDGET) -> str:
    """`template` rendered with `context` within `budget`; TemplateError (phrased) when it
    cannot be.

    Undefined names, sandbox violations, syntax errors, errors raised by what the template
    calls (a bad pendulum argument, a division by zero) and a render that runs out of its
    budget (`clocks.budget`) all become TemplateError.
    """
    compiled = _compile(template)
    token = start_meter(budget)
    try:
        text = compiled.render(context)
    except Exception as exc:  # whatever a user's template raises is the user's mistake
        raise TemplateError.for_template(template, _reason(exc)) from None
    finally:
        stop_meter(token)
    if len(text) > budget.output:
        reason = f"it renders {len(text):,} characters, over the {budget.output:,} a template may produce"
        raise TemplateError.for_template(template, reason)
    return text


def check_template(template: str, *, names: Iterable[str] | None = None) -> None:
    """Refuse, before any run, a template that cannot render: bad syntax, or (when `names`
    is given) a variable that is not one of `names`.

    >>> check_template("{{ scheduled_time }}", names=["scheduled_time"])
    >>> check_template("{{ nope }}", names=["scheduled_time"])
    Traceback (most recent call last):
    ...
    clocks.templates.TemplateError: dynamic value '{{ nope }}' does not render: 'nope' is undefined
    """
    _compile(template)
    if names is None:
        return
    from jinja2 import meta

    allowed = set(names)
    unknown = sorted(meta.find_undeclared_variables(_environment().parse(template)) - allowed)
    if unknown:
        listed = ", ".join(f"'{name}'" for name in unknown)
        verb = "is" if len(unknown) == 1 else "are"
        raise TemplateError.for_template(template, f"{listed} {verb} undefined")


def shorten(text: str, limit: int = _SHOWN_CHARS) -> str:
    """`text` cut in the middle when longer than `limit`, for messages."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-half:]}"


@lru_cache(maxsize=2048)
def _compile(template: str) -> Template:
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().from_string(template)
    except TemplateSyntaxError as exc:
        where = f" (line {exc.lineno})" if template.count("\n") else ""
        raise TemplateError.for_template(
            template, f"syntax error: {(exc.message or '').rstrip('.')}{where}"
        ) from None


def _environment() -> Environment:
    from clocks.sandbox import sandbox

    return sandbox()


def _reason(exc: Exception) -> str:
    from jinja2.exceptions import SecurityError, UndefinedError

    from clocks.budget import BudgetExceeded

    text = str(getattr(exc, "message", None) or exc).rstrip(".")
    if isinstance(exc, BudgetExceeded):
        return text
    if isinstance(exc, RecursionError):
        return "it nests calls too deeply (RecursionError)"
    if isinstance(exc, SecurityError):
        return f"{text}: templates run in a sandbox"
    if isinstance(exc, UndefinedError):
        return text
    return f"{text} ({type(exc).__name__})" if text else type(exc).__name__
