"""Config: find the TOML file, read it and its includes, validate everything, build frozen models.

`load_config` either returns a `scheduler.models.Config` or raises `ConfigError` listing
every problem (spec 2.2), each rendered as `FILE: KEY.PATH ("label"): message`.

`load_config` is imported on first use, so that commands which only look the file up
(`scheduler.config.find`, e.g. `clockd trigger`) do not import the validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scheduler.config.find import find_config_path, locate_config

if TYPE_CHECKING:
    from scheduler.config.load import load_config

__all__ = ["find_config_path", "load_config", "locate_config"]


def __getattr__(name: str) -> Any:
    if name == "load_config":
        from scheduler.config.load import load_config

        return load_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
