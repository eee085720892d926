"""How deeply a client's JSON nests, measured before anything parses or recurses into it.

The parameter checks and conversions downstream recurse once or more per level of arrays
and objects: a value 500 levels deep exhausts Python's recursion limit and would surface as
a 500. The API (bodies and `parameter_text`) and the UI's form refuse deeper values first.
"""

from __future__ import annotations

import re
from itertools import accumulate

# How deeply a parameter value may nest arrays and objects.
MAX_NESTING = 64
# JSON strings, whose brackets do not nest anything.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# Parameter types whose text is parsed as JSON (clocks.values.from_text).
JSON_TYPES = frozenset({"array", "object"})


def nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON `text` nest (0 for a scalar), counted without
    parsing it: brackets inside strings do not count. For text that is not JSON the count
    is only an estimate, enough to refuse a mountain of brackets before anything recurses.

    >>> nesting_depth('{"a": [1, "]]]"]}'), nesting_depth("3")
    (2, 0)
    """
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text))
    # A running sum of +1 per opening and -1 per closing bracket, in C (map, accumulate,
    # max): a 256 KiB body of brackets is measured in a few milliseconds on the event loop.
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets)), default=0))


def too_deep(name: str, type_name: str, text: str) -> str | None:
    """The message refusing the text of parameter `name` (declared `type_name`) when it nests
    deeper than MAX_NESTING; None when it does not, or when its type is not parsed as JSON."""
    if type_name not in JSON_TYPES:
        return None
    depth = nesting_depth(text)
    if depth <= MAX_NESTING:
        return None
    return f"parameter '{name}' is nested {depth} levels deep; at most {MAX_NESTING} are accepted"
