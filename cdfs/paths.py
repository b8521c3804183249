"""Where cdfs keeps its files, following the XDG base directory rules.

Owns the per-user locations (default emulated disc, staging areas, stash,
logs, drive locks); knows nothing of their contents.  Making them private is
:mod:`cdfs.private`'s job.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "cdfs"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/cdfs`` (``~/.local/share/cdfs``)."""
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def state_dir() -> Path:
    """``$XDG_STATE_HOME/cdfs``: daemon logs and drive locks."""
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cdfs``: the default stash location."""
    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/cdfs``."""
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def default_disc() -> Path:
    """The emulated disc used when no drive is named or configured."""
    return data_dir() / "default-disc.iso"


def staging_area(recorder_ident: str) -> Path:
    """One staging area per recorder, kept across remounts and reboots."""
    return data_dir() / "staging" / recorder_ident


def default_stash_dir() -> Path:
    return cache_dir()


def log_file(recorder_ident: str) -> Path:
    return state_dir() / f"{recorder_ident}.log"


def own_dirs() -> tuple[Path, ...]:
    """The directories that are cdfs's own, private to the user (0700)."""
    return (data_dir(), data_dir() / "staging", state_dir(), cache_dir(), lock_dir())


def lock_dir() -> Path:
    """Where the drive locks live (:mod:`cdfs.recorders.drivelock`)."""
    return state_dir() / "locks"
