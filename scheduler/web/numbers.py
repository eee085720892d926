"""Whole numbers from URLs, query strings and headers: run ids, limits, log line numbers.

`str.isdigit()` is the wrong test for them: it is True for "²" and "٣", which `int()` then
refuses (or, for "٣", accepts: a run id written in Arabic-Indic digits). Every place in the
web layer that reads a number a client typed goes through `whole_number`.

    >>> whole_number("42"), whole_number("²"), whole_number("-1"), whole_number("9" * 20)
    (42, None, None, None)
"""

from __future__ import annotations

# SQLite's INTEGER is a signed 64-bit number: a larger id or sequence number cannot exist,
# and handing one to sqlite3 raises OverflowError.
MAX_WHOLE = 2**63 - 1


def whole_number(text: str | None, *, maximum: int = MAX_WHOLE) -> int | None:
    """`text` as a non-negative whole number written in ASCII digits, or None when it is
    anything else or larger than `maximum`. The caller phrases the error.

    When it is not None, `int(text)` is safe too: the text is at most as long as `maximum`
    written out (int() of a 5,000-digit text raises ValueError)."""
    if not text or len(text) > len(str(maximum)) or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= maximum else None
