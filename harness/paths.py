"""Where squeezebench keeps things on the host.

Overridable by environment so that tests (and users with odd layouts) never touch the real
home directory: SQUEEZEBENCH_CACHE, SQUEEZEBENCH_STATE, SQUEEZEBENCH_RESULTS.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ANDROID_APP_DIR = PROJECT_ROOT / "android_app"
DEVICE_PROFILES_DIR = PROJECT_ROOT / "device_profiles"


def _xdg(env_name: str, default_rel: str) -> Path:
    base = os.environ.get(env_name)
    return Path(base) if base else Path.home() / default_rel


def cache_dir() -> Path:
    """Conversion cache and registered runner binaries (safe to delete)."""
    override = os.environ.get("SQUEEZEBENCH_CACHE")
    if override:
        return Path(override)
    return _xdg("XDG_CACHE_HOME", ".cache") / "squeezebench"


def state_dir() -> Path:
    """Running virtual devices and device locks (per user, survives a reboot-less session)."""
    override = os.environ.get("SQUEEZEBENCH_STATE")
    if override:
        return Path(override)
    return _xdg("XDG_STATE_HOME", ".local/state") / "squeezebench"


def results_dir() -> Path:
    """Default place for results: ./results, as in the repository layout."""
    return Path(os.environ.get("SQUEEZEBENCH_RESULTS", "results"))
