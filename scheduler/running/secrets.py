"""Secret references: `env:NAME` and `file:PATH`, resolved right before a run's process starts.

Where: in the process that executes the run, by its backend, into the child's environment
only (`CLOCKD_PARAMETERS`, `CLOCKD_PARAM_<NAME>`): for a local run the daemon (or `clockd run`)
right before the spawn, for a remote run the worker. The resolved value is never stored,
logged, rendered into argv or hooks, or returned by the API; those see the reference or
"***", and what a run prints of it is masked (`scheduler.running.masking`).

    resolve_secret("env:REPORT_API_KEY", os.environ)   # → the variable's value
    resolve_secret("file:/run/secrets/api", os.environ) # → the file's text, one trailing newline stripped
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any


class SecretError(ValueError):
    """A reference that cannot be resolved; the message names it but never holds a value."""

    def __init__(self, reference: str, problem: str) -> None:
        super().__init__(f"secret '{reference}': {problem}")
        self.reference = reference
        self.problem = problem


def resolve_secrets(
    values: Mapping[str, Any],
    secrets: Set[str],
    environ: Mapping[str, str],
    *,
    base_dir: Path | None = None,
) -> Mapping[str, Any]:
    """`values` with the reference of each secret parameter replaced by the secret; SecretError
    naming the parameter otherwise. Without secrets, `values` itself (no copy per run)."""
    if not secrets:
        return values
    resolved = dict(values)
    for name in sorted(secrets):
        reference = resolved.get(name)
        if reference is None:
            continue
        try:
            resolved[name] = resolve_secret(str(reference), environ, base_dir=base_dir)
        except SecretError as error:
            raise SecretError(
                error.reference, f"secret parameter '{name}': {error.problem}"
            ) from None
    return resolved


def resolve_secret(
    reference: str, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> str:
    """The secret's value for `env:NAME` or `file:PATH` (relative paths: from `base_dir`)."""
    kind, sep, target = reference.partition(":")
    if not sep or not target:
        raise SecretError(reference, "not a reference: use env:NAME or file:PATH")
    if kind == "env":
        if target not in environ:
            raise SecretError(
                reference,
                f"environment variable '{target}' is not set in the daemon's environment",
            )
        return environ[target]
    if kind == "file":
        path = Path(target).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretError(reference, f"file '{path}' does not exist") from None
        except PermissionError:
            raise SecretError(reference, f"file '{path}' is not readable by clockd") from None
        except IsADirectoryError:
            raise SecretError(reference, f"'{path}' is a directory, not a file") from None
        except UnicodeDecodeError:
            raise SecretError(reference, f"file '{path}' is not UTF-8 text") from None
        except OSError as error:
            raise SecretError(
                reference, f"file '{path}' cannot be read ({error.strerror})"
            ) from None
        if text.endswith("\r\n"):
            return text[:-2]
        if text.endswith("\n"):
            return text[:-1]
        return text
    raise SecretError(reference, f"unknown kind '{kind}': use env:NAME or file:PATH")
