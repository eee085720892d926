"""Typed job parameters: declarations as JSON Schema, `-p NAME=VALUE` conversion, and the
resolution of one run's values (spec 2.1).

>>> params = ParameterSet.from_declarations({
...     "x": {"type": "integer", "minimum": 0},
...     "day": {"type": "date", "default": "{{ scheduled_time.subtract(days=1).to_date_string() }}"},
... })
>>> from datetime import UTC, datetime
>>> context = render_context(scheduled_time=datetime(2026, 3, 1, tzinfo=UTC), timezone="UTC",
...                          job="report", clock="small", run_id=None)
>>> params.resolve({"x": 9}, context=context).values
{'x': 9, 'day': '2026-02-28'}

Only the config holds templates: values given at trigger time (`given`: the CLI's `-p`, the
API, the UI's form, child runs) are data, never rendered; a text containing "{{" stays that
text:

>>> params.resolve({"x": 9}, given={"day": "2026-01-31"}, context=context).values
{'x': 9, 'day': '2026-01-31'}

Values given as text on the command line (`-p x=3`) go through `convert_text` first.
`clocks.resolution.Resolver` puts the layers of one clock together (spec 2.1).

Why this module is long: declarations, text conversion and validation of one value type
system; each type's rules are written once here and used by all three.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clocks import values as _values
from clocks.declarations import (
    CONTEXT_NAMES,
    JSON_SCHEMA_KEYWORDS,
    MISSING,
    RESERVED_NAMES,
    TYPES,
    Parameter,
    build_parameter,
    secret_choice_message,
    secret_literal_message,
)
from clocks.schema_errors import format_checker, phrase_schema_error, pointer
from clocks.templates import TemplateError, check_template, is_dynamic, render

# jsonschema has no type stubs: its validators and errors are Any here.
_Validator = Any
_ValidationError = Any

__all__ = [
    "CONTEXT_NAMES",
    "JSON_SCHEMA_KEYWORDS",
    "MISSING",
    "RESERVED_NAMES",
    "TYPES",
    "Parameter",
    "ParameterError",
    "ParameterProblem",
    "ParameterSet",
    "ResolvedParameters",
    "render_context",
]


# Checked values are remembered per ParameterSet (a clock gives the same values at every
# fire); this many at most, then the memory starts over.
_VALID_MEMORY = 4096
_SCALARS = (str, int, float, bool, type(None))
_MEMORY_TEXT = 4096  # containers whose JSON is longer are checked every time


@dataclass(frozen=True)
class ParameterProblem:
    """One thing wrong with one parameter. `hint` (may be "") is the did-you-mean of an
    unexpected name, already part of `message`."""

    name: str
    kind: str  # "unexpected" | "required" | "invalid" | "render" | "secret" | "too_large" | "declaration"
    message: str
    pointer: str = ""
    hint: str = ""


def summary_messages(problems: Iterable[ParameterProblem]) -> list[str]:
    """Messages of `problems`, with every unexpected name grouped into one line, first:

    >>> summary_messages([ParameterProblem("a", "unexpected", "unexpected parameter 'a'"),
    ...                   ParameterProblem("x", "required", "required parameter 'x' has no value"),
    ...                   ParameterProblem("b", "unexpected", "unexpected parameter 'b'")])
    ['unexpected parameters: a, b', "required parameter 'x' has no value"]
    """
    problems = list(problems)
    unexpected = [
        p.name + (f" ({p.hint})" if p.hint else "") for p in problems if p.kind == "unexpected"
    ]
    lines = [f"unexpected parameters: {', '.join(unexpected)}"] if unexpected else []
    return lines + [p.message for p in problems if p.kind != "unexpected"]


class ParameterError(ValueError):
    """Every problem found with a run's (or a job's) parameters, raised once.

    `.problems` holds one ParameterProblem per parameter (the API's details); `str()` joins
    `summary_messages()` with "; " (what a terminal shows).
    """

    def __init__(self, problems: Sequence[ParameterProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(summary_messages(self.problems)))

    def summary_messages(self) -> list[str]:
        return summary_messages(self.problems)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(p.kind for p in self.problems)


@dataclass(frozen=True)
class ResolvedParameters:
    """One run's values, JSON-ready. A secret parameter holds its reference ("env:NAME")."""

    values: dict[str, Any]
    secrets: frozenset[str] = frozenset()

    def masked(self) -> dict[str, Any]:
        """What the database, logs, API, UI and hooks see: secrets as "***"."""
        return {
            name: "***" if name in self.secrets else value for name, value in self.values.items()
        }


def render_context(
    *, scheduled_time: datetime, timezone: str, job: str, clock: str | None, run_id: int | None
) -> dict[str, Any]:
    """The names a dynamic value can use. `scheduled_time` becomes a pendulum DateTime in
    `timezone`, so `scheduled_time.subtract(days=1).to_date_string()` and
    `scheduled_time.format('YYYYMMDD')` work."""
    if scheduled_time.utcoffset() is None:
        raise ValueError("scheduled_time must be an aware datetime")
    from clocks.localtime import get_zone

    get_zone(timezone)  # ClockError, phrased, for an unknown zone
    import pendulum

    moment = pendulum.instance(scheduled_time).in_timezone(timezone)
    return {"scheduled_time": moment, "job": job, "clock": clock, "run_id": run_id}


class ParameterSet:
    """The declared parameters of one job, in declaration order."""

    def __init__(self, parameters: Iterable[Parameter] = (), *, max_bytes: int = 1 << 20) -> None:
        self._parameters: dict[str, Parameter] = {p.name: p for p in parameters}
        self.max_bytes = max_bytes
        self.names: tuple[str, ...] = tuple(self._parameters)
        self._defaults = {p.name: p.default for p in self._parameters.values() if not p.required}
        self._secrets = frozenset(p.name for p in self._parameters.values() if p.secret)
        self._validators: dict[str, _Validator] | None = None
        self._checked: dict[tuple[str, type, Any], Any] = {}

    @classmethod
    def from_declarations(
        cls, declarations: Mapping[str, Mapping[str, Any]], *, max_bytes: int = 1 << 20
    ) -> ParameterSet:
        """TOML tables → a ParameterSet; ParameterError (kind "declaration") listing every
        bad declaration, including static defaults that do not fit their schema."""
        problems: list[ParameterProblem] = []
        parameters = []
        for name, declaration in declarations.items():
            parameter, messages = build_parameter(name, declaration)
            problems.extend(
                ParameterProblem(str(name), "declaration", message) for message in messages
            )
            if parameter is not None:
                parameters.append(parameter)
        checking = cls(parameters, max_bytes=max_bytes)
        for index, parameter in enumerate(parameters):
            if parameter.required or parameter.secret:
                continue
            if parameter.is_dynamic:
                try:
                    check_template(parameter.default, names=CONTEXT_NAMES)
                except TemplateError as exc:
                    message = f"parameter '{parameter.name}': default: {exc}"
                    problems.append(ParameterProblem(parameter.name, "declaration", message))
                continue
            found: list[ParameterProblem] = []
            default = checking._check_value(parameter, parameter.default, found, label="default")
            problems.extend(dataclasses.replace(p, kind="declaration") for p in found)
            parameters[index] = dataclasses.replace(parameter, default=default)
        if problems:
            raise ParameterError(problems)
        return cls(parameters, max_bytes=max_bytes)

    # -- the collection ---------------------------------------------------------------

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __getitem__(self, name: str) -> Parameter:
        return self._parameters[name]

    def __contains__(self, name: object) -> bool:
        return name in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParameterSet):
            return NotImplemented
        return self.max_bytes == other.max_bytes and list(self) == list(other)

    def __hash__(self) -> int:
        return hash((self.names, self.max_bytes))

    def __repr__(self) -> str:
        return f"ParameterSet({', '.join(f'{p.name}: {p.type}' for p in self)})"

    @property
    def secrets(self) -> frozenset[str]:
        return self._secrets

    def json_schema(self) -> dict[str, Any]:
        """The job's parameters as one JSON Schema object (for the API and the UI's run form).

        A static default appears as "default"; a dynamic one as "x-dynamic-default" (its
        template); a secret parameter carries "x-secret": true and, as "enum", the references
        a caller may choose (its default and its `references`).
        """
        properties: dict[str, Any] = {}
        for p in self:
            prop = copy.deepcopy(p.schema)
            if p.description:
                prop["description"] = p.description
            if p.is_dynamic:
                prop["x-dynamic-default"] = p.default
            elif not p.required:
                prop["default"] = copy.deepcopy(p.default)
            if p.secret:
                prop["x-secret"] = True
                if p.choices:
                    prop["enum"] = list(p.choices)
            properties[p.name] = prop
        return {
            "type": "object",
            "properties": properties,
            "required": [p.name for p in self if p.required],
            "additionalProperties": False,
        }

    # -- checks ----------------------------------------------------------------------

    def check_names(self, *layers: Mapping[str, Any] | None) -> list[ParameterProblem]:
        """Unexpected names (one problem each), then required parameters left without a value."""
        unexpected = self._unexpected(layers)
        given = {name for layer in layers if layer for name in layer}
        required = [
            ParameterProblem(p.name, "required", f"required parameter '{p.name}' has no value")
            for p in self
            if p.required and p.name not in given
        ]
        return unexpected + required

    def check(self, *layers: Mapping[str, Any] | None) -> list[ParameterProblem]:
        """What can be known before any run: `check_names`, secrets given as literals, static
        values that do not fit their schema, templates that cannot render (syntax, unknown
        names). Dynamic values are not rendered here."""
        problems = self.check_names(*layers)
        literal_secrets: set[str] = set()
        for layer in layers:
            for name, value in (layer or {}).items():
                parameter = self._parameters.get(name)
                if parameter is None:
                    continue
                if parameter.secret:
                    if not _values.is_reference(value) and name not in literal_secrets:
                        literal_secrets.add(name)
                        problems.append(_secret_problem(name))
                elif is_dynamic(value):
                    try:
                        check_template(value, names=CONTEXT_NAMES)
                    except TemplateError as exc:
                        problems.append(
                            ParameterProblem(name, "render", f"parameter '{name}': {exc}")
                        )
                else:
                    self._check_value(parameter, value, problems)
        return problems

    # -- conversion and resolution ---------------------------------------------------

    def convert_text(self, name: str, text: str) -> Any:
        """`-p NAME=VALUE`: VALUE converted by the declared type of NAME (ParameterError).

        The value is data: a text containing "{{" is converted like any other (and refused
        when it is not of the type). A secret parameter's text is returned as is, to be
        checked against its references at resolution.

        >>> ParameterSet.from_declarations({"x": {"type": "integer"}}).convert_text("x", "3")
        3
        """
        parameter = self._parameters.get(name)
        if parameter is None:
            raise ParameterError(self._unexpected(({name: text},)))
        if parameter.secret:
            return text
        try:
            return _values.from_text(parameter.type, text)
        except ValueError as exc:
            message = f"parameter '{name}': {exc}"
            raise ParameterError([ParameterProblem(name, "invalid", message, "/" + name)]) from None

    def resolve(
        self,
        *layers: Mapping[str, Any] | None,
        context: Mapping[str, Any],
        given: Mapping[str, Any] | None = None,
    ) -> ResolvedParameters:
        """One run's values: defaults, then each config layer in order, then `given` (later
        wins); refuse unexpected names and missing required values; render the dynamic
        values of the config (defaults and `layers`) with `context` (see `render_context`)
        and convert them to their type; validate against the schema; limit the JSON size
        to `max_bytes`. Every problem is collected; ParameterError once.

        `given` holds the values given at trigger time: data, never rendered; a secret
        parameter takes there only its default or one of its `references`.
        """
        merged = dict(self._defaults)
        literal_secrets: set[str] = set()
        for layer in layers:
            for name, value in (layer or {}).items():
                parameter = self._parameters.get(name)
                if parameter is None:
                    continue  # reported by _unexpected below
                if parameter.secret and not _values.is_reference(value):
                    literal_secrets.add(name)  # at any layer, even when a later one overrides it
                merged[name] = value
        data: set[str] = set()
        problems: list[ParameterProblem] = []
        for name, value in (given or {}).items():
            parameter = self._parameters.get(name)
            if parameter is None:
                continue
            if parameter.secret and value not in parameter.choices:
                problems.append(ParameterProblem(name, "secret", secret_choice_message(parameter)))
            merged[name] = value
            data.add(name)
        problems[:0] = self._unexpected((*layers, given))
        for parameter in self:
            if parameter.required and parameter.name not in merged:
                message = f"required parameter '{parameter.name}' has no value"
                problems.append(ParameterProblem(parameter.name, "required", message))
        resolved: dict[str, Any] = {}
        for parameter in self:
            name = parameter.name
            if name not in merged:
                continue
            value = merged[name]
            if parameter.secret:
                if name in literal_secrets:
                    problems.append(_secret_problem(name))
                resolved[name] = value
                continue
            if name not in data and is_dynamic(value):
                value = self._render(parameter, value, context, problems)
                if value is MISSING:
                    continue
            resolved[name] = self._check_value(parameter, value, problems)
        if not problems:
            self._check_size(resolved, problems)
        if problems:
            raise ParameterError(problems)
        return ResolvedParameters(resolved, self._secrets)

    # -- the steps -------------------------------------------------------------------

    def _unexpected(self, layers: Iterable[Mapping[str, Any] | None]) -> list[ParameterProblem]:
        names: dict[str, None] = {}
        for layer in layers:
            for name in layer or ():
                if name not in self._parameters:
                    names[str(name)] = None
        problems = []
        for name in names:
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else ""
            message = f"unexpected parameter '{name}'" + (f" ({hint})" if hint else "")
            problems.append(ParameterProblem(name, "unexpected", message, hint=hint))
        return problems

    def _render(
        self,
        parameter: Parameter,
        template: str,
        context: Mapping[str, Any],
        problems: list[ParameterProblem],
    ) -> Any:
        name = parameter.name
        try:
            text = render(template, context)
        except TemplateError as exc:
            problems.append(ParameterProblem(name, "render", f"parameter '{name}': {exc}"))
            return MISSING
        if parameter.type == "string":
            return text
        try:
            return _values.from_text(parameter.type, text)
        except ValueError as exc:
            shown = _values.quoted(template)
            message = f"parameter '{name}': dynamic value {shown}: {exc}"
            problems.append(ParameterProblem(name, "invalid", message, "/" + name))
            return MISSING

    def _check_value(
        self, parameter: Parameter, value: Any, problems: list[ParameterProblem], *, label: str = ""
    ) -> Any:
        """`value` made JSON-ready (dates normalized) and validated; problems appended.
        `label` ("default") names the value in messages."""
        where = f"parameter '{parameter.name}': " + (f"{label}: " if label else "")
        value = _values.to_json_value(value)
        key = _memory_key(parameter.name, value)
        if key is not None and key in self._checked:
            # A scalar comes back as it was checked; a container is a fresh copy already.
            return self._checked[key] if isinstance(value, _SCALARS) else value
        checked = value
        if parameter.type in ("date", "datetime") and isinstance(value, str):
            try:
                checked = _values.from_text(parameter.type, value)
            except ValueError as exc:
                problems.append(
                    ParameterProblem(
                        parameter.name, "invalid", f"{where}{exc}", "/" + parameter.name
                    )
                )
                return value
        elif parameter.type == "integer" and isinstance(value, float) and value.is_integer():
            checked = int(value)
        errors = sorted(
            self._validator(parameter).iter_errors(checked),
            key=lambda e: pointer(parameter.name, e),
        )
        problems.extend(
            ParameterProblem(
                parameter.name, "invalid", *phrase_schema_error(parameter, error, label)
            )
            for error in errors
        )
        if key is not None and not errors:
            if len(self._checked) >= _VALID_MEMORY:  # bounded: rendered dates differ every day
                self._checked.clear()
            self._checked[key] = checked
        return checked

    def _validator(self, parameter: Parameter) -> _Validator:
        if self._validators is None:
            from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

            checker = format_checker()
            self._validators = {
                p.name: Draft202012Validator(p.schema, format_checker=checker) for p in self
            }
        return self._validators[parameter.name]

    def _check_size(self, resolved: dict[str, Any], problems: list[ParameterProblem]) -> None:
        # Cheap path: scalars only, and even at 6 bytes a character (\u00XX) within the limit.
        bound = 2
        for name, value in resolved.items():
            if isinstance(value, str):
                bound += 6 * len(value) + 6 * len(name) + 6
            elif isinstance(value, int | bool) or value is None:
                bound += 6 * len(name) + 6 + (len(str(value)) if isinstance(value, int) else 5)
            elif isinstance(value, float) and math.isfinite(value):
                bound += 6 * len(name) + 6 + 32
            else:
                bound = -1
                break
        if 0 <= bound <= self.max_bytes:
            return
        sizes: dict[str, int] = {}
        for name, value in resolved.items():
            try:
                sizes[name] = _values.json_size({name: value})
            except (TypeError, ValueError, RecursionError) as exc:
                problems.append(
                    ParameterProblem(
                        name, "invalid", f"parameter '{name}': is not JSON serializable ({exc})"
                    )
                )
        if len(sizes) < len(resolved):
            return
        total = _values.json_size(resolved)
        if total > self.max_bytes:
            largest = max(sizes, key=sizes.__getitem__)
            problems.append(
                ParameterProblem(
                    largest,
                    "too_large",
                    f"parameters take {total} bytes as JSON, over the limit of {self.max_bytes} "
                    f"(max_parameters_bytes); the largest is '{largest}' ({sizes[largest]} bytes)",
                )
            )


def _memory_key(name: str, value: Any) -> tuple[str, type, Any] | None:
    """What identifies a checked value: itself for a scalar, its JSON for a small container."""
    if isinstance(value, _SCALARS):
        return (name, type(value), value)
    if isinstance(value, list | dict):
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            return None
        return (name, type(value), text) if len(text) <= _MEMORY_TEXT else None
    return None


def _secret_problem(name: str) -> ParameterProblem:
    return ParameterProblem(name, "secret", secret_literal_message(name))
