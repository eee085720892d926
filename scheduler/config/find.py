"""Where the config file is: --config, else $CLOCKD_CONFIG, else ./clockd.toml, else /etc (spec 2).

The one lookup for every command: those that load the config (`check`, `serve`, `run`,
`next`) need a file; those that talk to a daemon (`trigger`, `backfill`, `pause`, ...) may
do without one when given --url.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from scheduler.errors import UserError

SYSTEM_CONFIG = Path("/etc/clockd/clockd.toml")
LOCAL_CONFIG = Path("clockd.toml")


def locate_config(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read, as the user named it (relative paths stay relative), or
    None when none was named and neither ./clockd.toml nor /etc/clockd/clockd.toml exists.

    An explicit path or $CLOCKD_CONFIG must exist (UserError otherwise).
    """
    for source, value in (("--config", explicit), ("$CLOCKD_CONFIG", environ.get("CLOCKD_CONFIG"))):
        if value:
            path = Path(value)
            if not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                raise UserError(f"config file '{value}' (from {source}) {what}")
            return path
    for candidate in (LOCAL_CONFIG, SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def find_config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """`locate_config`, for commands that cannot do without a file: UserError when nothing
    is found.

    >>> find_config_path("config/demo.toml", {})  # doctest: +SKIP
    PosixPath('config/demo.toml')
    """
    path = locate_config(explicit, environ)
    if path is None:
        raise UserError(
            "no config file found: give --config PATH, set $CLOCKD_CONFIG, "
            f"or create ./{LOCAL_CONFIG} or {SYSTEM_CONFIG}"
        )
    return path
