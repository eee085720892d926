"""Parameter declarations: the TOML table of one parameter → a `Parameter` with its JSON Schema.

The types of spec 2 map onto JSON Schema (date → string/format date, datetime → string/format
date-time); any JSON Schema keyword that applies to the type is kept. Problems are words, one
per mistake, so that the config loader can place them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from clocks import values as _values
from clocks.templates import is_dynamic, shorten

_Validator = Any  # jsonschema has no type stubs


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
_OWN_KEYS = ("type", "description", "default", "secret", "references")

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
    # A secret parameter's references a caller may choose at trigger time, besides its
    # default (spec 2.1 point 5).
    references: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def choices(self) -> tuple[str, ...]:
        """What a secret parameter accepts at trigger time: its default, then its references."""
        first = (self.default,) if isinstance(self.default, str) else ()
        return (*first, *(r for r in self.references if r not in first))

    @property
    def is_dynamic(self) -> bool:
        """True when the default is a template, rendered at each run."""
        return is_dynamic(self.default)

    def __hash__(self) -> int:  # schema is a dict: hash what identifies the parameter
        return hash((self.name, self.type, self.secret))


def secret_literal_message(name: str) -> str:
    # Never show the value: it may be the secret itself.
    return f"secret parameter '{name}' takes a reference (env:NAME or file:PATH), never a value"


def secret_choice_message(parameter: Parameter) -> str:
    """A trigger-time value of a secret parameter that the config does not list (never shown:
    it may be the secret itself, or a file the caller wants read)."""
    name = parameter.name
    if not parameter.choices:
        return (
            f"secret parameter '{name}' cannot be chosen at trigger time: the config gives it "
            "no default and no references"
        )
    listed = ", ".join(parameter.choices)
    return (
        f"secret parameter '{name}' takes at trigger time only one of the references the "
        f"config lists: {listed}"
    )


def build_parameter(name: object, declaration: object) -> tuple[Parameter | None, list[str]]:
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
    references = _references(name, declaration, secret is True, problems)
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
            problems.append(secret_literal_message(name))
        elif references and default is not MISSING and default not in references:
            problems.append(
                f"secret parameter '{name}': default {_values.quoted(default)} is not one of its "
                "references; add it to references (or remove references to allow the default only)"
            )
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
    return Parameter(name, type_name, schema, default, bool(secret), description, references), []


def _references(
    name: str, declaration: Mapping[str, Any], secret: bool, problems: list[str]
) -> tuple[str, ...]:
    """The `references` of a secret parameter: a list of env:NAME / file:PATH texts."""
    if "references" not in declaration:
        return ()
    value = declaration["references"]
    if not secret:
        problems.append(
            f"parameter '{name}': references apply only to a secret parameter (secret = true)"
        )
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(
            f"secret parameter '{name}': references must be a list of texts such as "
            '["env:A_KEY", "file:/etc/clockd/b-key"]'
        )
        return ()
    bad = [index for index, item in enumerate(value) if not _values.is_reference(item)]
    if bad:
        # Not shown: a literal here may be the secret itself.
        problems.append(
            f"secret parameter '{name}': references[{bad[0]}] is not a reference: write "
            "env:NAME or file:PATH"
        )
        return ()
    return tuple(dict.fromkeys(value))


@lru_cache(maxsize=1)
def _meta_validator() -> _Validator:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
