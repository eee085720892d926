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

Values given as text on the command line (`-p x=3`) go through `convert_text` first; a text
containing "{{" is kept as is there and rendered at resolution, like any dynamic value.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from clocks import values as _values
from clocks.templates import TemplateError, check_template, is_dynamic, render, shorten

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


class _Missing:
    """The type of MISSING: "no default". A singleton that survives copy and pickle."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "array", "object")

# The names a dynamic parameter value can use (render_context), and names a parameter may
# not take because templates of argv items and hooks see parameters beside them.
CONTEXT_NAMES = ("scheduled_time", "job", "clock", "run_id")
RESERVED_NAMES = (*CONTEXT_NAMES, "parameters")

_TYPE_SCHEMAS: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "array": {"type": "array"},
    "object": {"type": "object"},
}
_TYPE_ALIASES = {"int": "integer", "str": "string", "text": "string", "bool": "boolean", "float": "number",
                 "list": "array", "dict": "object", "table": "object", "date-time": "datetime",
                 "timestamp": "datetime"}  # fmt: skip
_OWN_KEYS = ("type", "description", "default", "secret")

# Keywords that only mean something for some types: elsewhere JSON Schema ignores them
# silently, which is never what the author meant.
_KEYWORD_TYPES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"), ("integer", "number")),
    **dict.fromkeys(("minLength", "maxLength", "pattern"), ("string", "date", "datetime")),
    "format": ("string",),
    **dict.fromkeys(
        ("items", "prefixItems", "contains", "minContains", "maxContains", "minItems", "maxItems",
         "uniqueItems", "unevaluatedItems"),
        ("array",),
    ),
    **dict.fromkeys(
        ("properties", "patternProperties", "additionalProperties", "propertyNames", "required",
         "dependentRequired", "dependentSchemas", "minProperties", "maxProperties", "unevaluatedProperties"),
        ("object",),
    ),
}  # fmt: skip
JSON_SCHEMA_KEYWORDS = frozenset(
    {*_KEYWORD_TYPES, "enum", "const", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
     "title", "examples", "deprecated", "readOnly", "writeOnly", "$comment",
     "contentEncoding", "contentMediaType", "contentSchema"}
)  # fmt: skip
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)

# Checked values are remembered per ParameterSet (a clock gives the same values at every
# fire); this many at most, then the memory starts over.
_VALID_MEMORY = 4096
_SCALARS = (str, int, float, bool, type(None))
_MEMORY_TEXT = 4096  # containers whose JSON is longer are checked every time


@dataclass(frozen=True)
class Parameter:
    """A named, typed input of a job; `schema` is its JSON Schema property
    (date → {"type": "string", "format": "date"}, datetime → format "date-time")."""

    name: str
    type: str
    schema: dict[str, Any]
    default: Any = MISSING
    secret: bool = False
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def is_dynamic(self) -> bool:
        """True when the default is a template, rendered at each run."""
        return is_dynamic(self.default)

    def __hash__(self) -> int:  # schema is a dict: hash what identifies the parameter
        return hash((self.name, self.type, self.secret))


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
            parameter, messages = _build_parameter(name, declaration)
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
        template); a secret parameter carries "x-secret": true.
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

        A text containing "{{" (and any value of a secret parameter) is returned as is: it
        is rendered and converted (or checked as a reference) at resolution.

        >>> ParameterSet.from_declarations({"x": {"type": "integer"}}).convert_text("x", "3")
        3
        """
        parameter = self._parameters.get(name)
        if parameter is None:
            raise ParameterError(self._unexpected(({name: text},)))
        if parameter.secret or is_dynamic(text):
            return text
        try:
            return _values.from_text(parameter.type, text)
        except ValueError as exc:
            message = f"parameter '{name}': {exc}"
            raise ParameterError([ParameterProblem(name, "invalid", message, "/" + name)]) from None

    def resolve(
        self, *layers: Mapping[str, Any] | None, context: Mapping[str, Any]
    ) -> ResolvedParameters:
        """One run's values: defaults, then each layer in order (later wins); then refuse
        unexpected names, missing required values; render dynamic values with `context`
        (see `render_context`) and convert them to their type; validate against the schema;
        limit the JSON size to `max_bytes`. Every problem is collected; ParameterError once.
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
        problems = self._unexpected(layers)
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
            if is_dynamic(value):
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
                pointer = "/" + parameter.name
                problems.append(
                    ParameterProblem(parameter.name, "invalid", f"{where}{exc}", pointer)
                )
                return value
        elif parameter.type == "integer" and isinstance(value, float) and value.is_integer():
            checked = int(value)
        errors = sorted(
            self._validator(parameter).iter_errors(checked),
            key=lambda e: _pointer(parameter.name, e),
        )
        problems.extend(_schema_problem(parameter, error, label) for error in errors)
        if key is not None and not errors:
            if len(self._checked) >= _VALID_MEMORY:  # bounded: rendered dates differ every day
                self._checked.clear()
            self._checked[key] = checked
        return checked

    def _validator(self, parameter: Parameter) -> _Validator:
        if self._validators is None:
            from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

            checker = _format_checker()
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


def _build_parameter(name: object, declaration: object) -> tuple[Parameter | None, list[str]]:
    """One TOML table → a Parameter, or None and every problem with it, in words."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return None, [
            f"parameter name {_values.quoted(name)} is not usable: use letters, digits and _, "
            "not starting with a digit (it becomes a template variable and CLOCKD_PARAM_<NAME>)"
        ]
    if name in RESERVED_NAMES:
        return None, [
            f"parameter name '{name}' is reserved: templates already use "
            f"{', '.join(RESERVED_NAMES)}; choose another name"
        ]
    if not isinstance(declaration, Mapping):
        return None, [
            f"parameter '{name}': the declaration must be a table with a type, like {{ type = \"string\" }}"
        ]
    where = f"parameter '{name}'"
    problems: list[str] = []
    type_name = declaration.get("type")
    if type_name is None:
        problems.append(f"{where}: missing key 'type': one of {', '.join(TYPES)}")
    elif type_name not in TYPES:
        guess = _TYPE_ALIASES.get(str(type_name).lower()) or next(
            iter(difflib.get_close_matches(str(type_name), TYPES, n=1)), None
        )
        hint = f" (did you mean '{guess}'?)" if guess else ""
        problems.append(
            f"{where}: unknown type {_values.quoted(type_name)}{hint}: one of {', '.join(TYPES)}"
        )
    description = declaration.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}: description must be text")
    secret = declaration.get("secret", False)
    if not isinstance(secret, bool):
        problems.append(f"{where}: secret must be true or false")
    keywords: dict[str, Any] = {}
    for key, value in declaration.items():
        if key in _OWN_KEYS:
            continue
        if key not in JSON_SCHEMA_KEYWORDS:
            close = difflib.get_close_matches(
                str(key), [*_OWN_KEYS, *sorted(JSON_SCHEMA_KEYWORDS)], n=1
            )
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}: unknown key {_values.quoted(key)}{hint}")
        elif secret is True:
            problems.append(
                f"secret parameter '{name}': keyword '{key}' does not apply: its value is a reference (env:NAME or file:PATH)"
            )
        elif type_name in TYPES and type_name not in _KEYWORD_TYPES.get(key, TYPES):
            if key == "format":
                problems.append(
                    f"{where}: type '{type_name}' sets the format already; remove 'format'"
                )
            else:
                allowed = " or ".join(f"'{t}'" for t in _KEYWORD_TYPES[key])
                problems.append(
                    f"{where}: keyword '{key}' does not apply to type '{type_name}', only to {allowed}"
                )
        else:
            keywords[key] = _values.to_json_value(value)
    default = _values.to_json_value(declaration.get("default", MISSING))
    if secret is True:
        if type_name not in (None, "string"):
            problems.append(
                f"secret parameter '{name}' must have type 'string': its value is a reference (env:NAME or file:PATH)"
            )
        if default is not MISSING and not _values.is_reference(default):
            problems.append(_secret_problem(name).message)
    if problems or not isinstance(type_name, str):
        return None, problems
    schema = {**_TYPE_SCHEMAS[type_name], **keywords}
    for error in sorted(
        _meta_validator().iter_errors(schema), key=lambda e: [str(p) for p in e.absolute_path]
    ):
        keyword = str(error.absolute_path[0]) if error.absolute_path else "type"
        reason = f"{error.message} (from jsonschema)"
        if error.validator == "format" and error.validator_value == "regex":
            reason = f"{_values.quoted(error.instance)} is not a valid regular expression"
        problems.append(f"{where}: invalid '{keyword}': {shorten(reason, 300)}")
    if problems:
        return None, problems
    return Parameter(name, type_name, schema, default, bool(secret), description), []


@lru_cache(maxsize=1)
def _meta_validator() -> _Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
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
    # Never show the value: it may be the secret itself.
    return ParameterProblem(
        name,
        "secret",
        f"secret parameter '{name}' takes a reference (env:NAME or file:PATH), never a value",
    )


def _pointer(name: str, error: _ValidationError) -> str:
    parts = [name, *(str(part) for part in error.absolute_path)]
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _schema_problem(
    parameter: Parameter, error: _ValidationError, label: str = ""
) -> ParameterProblem:
    pointer = _pointer(parameter.name, error)
    where = f"parameter '{parameter.name}'" + (f" at {pointer}" if error.absolute_path else "")
    if label:
        where += f": {label}"
    instance, expected = error.instance, error.validator_value
    shown = _values.quoted(instance)
    if (
        error.validator == "format"
        and expected in ("date", "date-time")
        and isinstance(instance, str)
    ):
        try:
            _values.from_text("date" if expected == "date" else "datetime", instance)
            reason = error.message
        except ValueError as exc:
            reason = str(exc)
    elif (
        error.validator == "type"
        and not error.absolute_path
        and parameter.type in ("date", "datetime")
    ):
        example = "2026-03-01" if parameter.type == "date" else "2026-03-01T10:00:00+01:00"
        reason = f"{shown} is not a {parameter.type} (write it as text, like {example})"
    elif error.validator == "type":
        reason = f"{shown} is not of type {_values.quoted(expected)}"
    elif error.validator == "enum":
        reason = f"{shown} is not one of {', '.join(_values.quoted(v) for v in expected)}"
    elif error.validator == "const":
        reason = f"{shown} is not {_values.quoted(expected)}"
    else:
        reason = (
            error.message
        )  # jsonschema's own words are fine, e.g. "-1 is less than the minimum of 0"
    return ParameterProblem(parameter.name, "invalid", f"{where}: {shorten(reason, 300)}", pointer)


def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker()
    # jsonschema's own date-time check needs a package we do not have; dates: ours are strict.
    checker.checks("date")(_values.is_date)
    checker.checks("date-time")(_values.is_datetime)
    return checker
