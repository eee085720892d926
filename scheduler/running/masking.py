"""Resolved secret values masked as `***` in what a run prints (spec 2.1 point 5).

    masker = Masker(["hunter2-long", "line one\\nline two"])
    masker.mask("token=hunter2-long")       # → "token=***"
    masker.mask_json({"key": ["line two"]}) # → {"key": ["***"]}

Pure: given the resolved values, no I/O. A backend builds one per attempt, where it resolves
the secrets (the daemon for local runs, the worker for remote ones), and applies it to each
log line, the error text and the result before they leave it; hooks use the run's masker for
their output. A value shorter than `MIN_LENGTH` is not masked: masking "1" or "yes" would
blank out ordinary output and give the value away by where the stars appear. A multi-line
value is masked line by line, since a log holds one line per entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.running.runlog import RunLog

MIN_LENGTH = 4
MASK = "***"


class Masker:
    """Masks the given secret values (each line of each, `MIN_LENGTH` characters or more)."""

    __slots__ = ("_pattern",)

    def __init__(self, values: Iterable[str] = ()) -> None:
        pieces = {
            line
            for value in values
            for line in str(value).splitlines()
            # a line of blanks is layout, not a secret: masking it would star every indent
            if len(line) >= MIN_LENGTH and line.strip()
        }
        # Longest first, so that a secret containing another is masked whole.
        ordered = sorted(pieces, key=lambda piece: (-len(piece), piece))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        """Whether there is anything to mask (callers skip the work when not)."""
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_json(self, value: Any) -> Any:
        """`value` with every string in it masked, keys included, at any depth."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask_json(key): self.mask_json(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_json(item) for item in value]
        return value


NO_SECRETS = Masker()


class MaskedLog:
    """A run's log that masks each line before passing it on (`RunLog`, see backend.py)."""

    __slots__ = ("_log", "_mask")

    def __init__(self, log: RunLog, masker: Masker) -> None:
        self._log = log
        self._mask = masker.mask

    def line(self, stream: str, text: str, *, time: datetime | None = None) -> None:
        self._log.line(stream, self._mask(text), time=time)

    def clockd(self, text: str) -> None:
        self._log.clockd(self._mask(text))
