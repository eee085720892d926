"""Config: find the TOML file, read it and its includes, validate everything, build frozen models.

`load_config` either returns a `scheduler.models.Config` or raises `ConfigError` listing
every problem (spec 2.2), each rendered as `FILE: KEY.PATH ("label"): message`.
"""

from __future__ import annotations

from scheduler.config.find import find_config_path
from scheduler.config.load import load_config

__all__ = ["find_config_path", "load_config"]
