"""Config problems: each located by file and key path, rendered as one line (spec 2.2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config, e.g.

    clockd.toml: jobs.report.clocks[1] ("small"): unexpected parameters: dummy
    """

    file: str
    path: str
    message: str
    label: str | None = None

    def render(self) -> str:
        where = self.path + (f' ("{self.label}")' if self.label else "")
        return f"{self.file}: {where}: {self.message}" if where else f"{self.file}: {self.message}"

    def __str__(self) -> str:
        return self.render()


class ConfigError(Exception):
    """Every problem found in a config; raised once, after all were collected."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))
