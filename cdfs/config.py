"""Settings: the Recording tab of the Windows recorder, as TOML.

Owns the known keys, their types, defaults and validation, and where they
are read from: ``/etc/cdfs/config.toml`` (system-wide), then
``$XDG_CONFIG_HOME/cdfs/config.toml`` (per user), the later winning.
Unknown keys and bad values are refused with a clear message, never
ignored.  System settings (who may burn: ``burn_policy``, ``burn_group``)
are read from the system file only: a user's file that sets one is refused.
Per-burn overrides (``cdfs burn`` flags, ``.burn`` lines) are applied on
top by :mod:`cdfs.burn.options`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from cdfs import paths
from cdfs.errors import ConfigError

SYSTEM_CONFIG = Path("/etc/cdfs/config.toml")
SYSTEM_CONFIG_ENV = "CDFS_SYSTEM_CONFIG"
"""Another system file (for tests and packagers); honoured only for a file
that root owns and that no one else may write, like /etc's."""

CLOSE_POLICIES = ("never", "auto", "always")
VERIFY_MODES = ("none", "quick", "full")
NAME_POLICIES = ("relaxed", "strict")
DRIVE_TYPES = ("cd-r", "cd-rw", "cd-rom")
"""XP's drive-type override: treat a drive as a CD-R or CD-RW writer, or as
a read-only CD-ROM drive, whatever it says it can do."""
BURN_POLICIES = ("everyone", "group", "root")


def user_config() -> Path:
    return paths.config_dir() / "config.toml"


def system_config() -> Path:
    """The system file: /etc/cdfs/config.toml, or ``$CDFS_SYSTEM_CONFIG``
    when that names a file only root can have written."""
    other = os.environ.get(SYSTEM_CONFIG_ENV)
    if not other:
        return SYSTEM_CONFIG
    path = Path(other)
    try:
        st = path.stat()
    except OSError:
        raise ConfigError(f"{SYSTEM_CONFIG_ENV}={other}: no such file") from None
    if st.st_uid != 0 or st.st_mode & 0o022:
        raise ConfigError(
            f"{SYSTEM_CONFIG_ENV}={other} is not a system file: it must be owned by root "
            "and writable by no one else"
        )
    return path


def parse_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("yes", "true", "on", "1"):
            return True
        if low in ("no", "false", "off", "0"):
            return False
    raise ConfigError(f"{key} must be yes or no, not {value!r}")


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ConfigError(f"{key} must be one of {', '.join(options)}, not {value!r}")
        return text

    return check


def _speed(key: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("max", "")):
        return None
    try:
        speed = float(value)
    except (TypeError, ValueError):
        speed = float("nan")
    if not 0 < speed <= 100:
        raise ConfigError(
            f"{key} must be a positive number (an x-factor such as 4, at most 100) or max, "
            f"not {value!r}"
        )
    return speed


def _seconds(key: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not 0 <= seconds <= 86_400 * 7:
        raise ConfigError(f"{key} must be a number of seconds (0 to a week), not {value!r}")
    return seconds


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text, not {value!r}")
    return value


def _drive_types(key: str, value: Any) -> str:
    """``DEVICE=TYPE`` pairs, comma-separated, TYPE one of DRIVE_TYPES."""
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be text such as /dev/sr0=cd-rom, not {value!r}")
    pairs = []
    for word in (w.strip() for w in value.split(",")):
        if not word:
            continue
        device, _, kind = word.partition("=")
        device, kind = device.strip(), kind.strip().lower()
        if not device.startswith("/dev/") or kind not in DRIVE_TYPES:
            raise ConfigError(
                f"{key} takes DEVICE=TYPE pairs separated by commas, such as "
                f"/dev/sr0=cd-rom, TYPE one of {', '.join(DRIVE_TYPES)}; not {word!r}"
            )
        pairs.append(f"{device}={kind}")
    return ",".join(pairs)


def drive_types(settings: Settings) -> dict[str, str]:
    """The ``drive_types`` setting as device -> type (``cd-r``, ``cd-rw``,
    ``cd-rom``), devices as written (callers compare real paths)."""
    found = {}
    for pair in filter(None, settings.drive_types.split(",")):
        device, _, kind = pair.partition("=")
        found[device] = kind
    return found


@dataclass(frozen=True)
class Settings:
    """Effective settings; every field is a documented key."""

    drive: str = ""
    """The drive recording is enabled on (one at a time): an emulated disc
    image or a device such as /dev/sr0; empty for the default emulated disc."""
    stash_dir: str = ""
    """Where the stash file is written; empty for ~/.cache/cdfs."""
    speed: float | None = None
    """Write speed as an x-factor, or max (kept as None) for the fastest."""
    eject: bool = False
    """Eject the disc after recording."""
    close_policy: str = "never"
    """When a burn closes the disc: never, auto or always."""
    verify: str = "full"
    """After recording, compare none, quick (a sample and the tree) or full."""
    simulate: bool = False
    """Do everything but write (a dummy burn)."""
    burn_on_unmount: bool = True
    """Burn what is staged when the mount is unmounted."""
    drive_types: str = ""
    """Per-drive type overrides (XP's registry value), ``/dev/sr0=cd-rom``
    pairs separated by commas: cd-r or cd-rw make a misdetected drive a
    writer, cd-rom makes it read-only (recording is never enabled on it)."""
    names: str = "relaxed"
    """strict: refuse, when copied in, names Windows (Joliet) would not see
    unchanged; relaxed: map them (``cdfs status`` lists the mappings)."""
    notifications: bool = True
    """Desktop notifications (disc ready, files waiting, burn finished or
    failed) on the session bus; silent where there is none."""
    notify_waiting_after: float = 600.0
    """Seconds staged files must be left alone before "You have files
    waiting to be written to the disc" is shown."""
    burn_policy: str = "everyone"
    """System setting: who may burn or erase: everyone (every user who can
    open the drive), group (root and members of burn_group) or root."""
    burn_group: str = "cdrom"
    """System setting: the group burn_policy = group lets burn, and whose
    members may also burn on other users' shared (allow_other) mounts."""


CHECKERS: dict[str, Callable[[str, Any], Any]] = {
    "drive": _text,
    "stash_dir": _text,
    "speed": _speed,
    "eject": parse_bool,
    "close_policy": _choice(CLOSE_POLICIES),
    "verify": _choice(VERIFY_MODES),
    "simulate": parse_bool,
    "burn_on_unmount": parse_bool,
    "names": _choice(NAME_POLICIES),
    "drive_types": _drive_types,
    "notifications": parse_bool,
    "notify_waiting_after": _seconds,
    "burn_policy": _choice(BURN_POLICIES),
    "burn_group": _text,
}

SYSTEM_KEYS = ("burn_policy", "burn_group")
"""Settings only the system file may set: users cannot change who may burn."""

KEYS = tuple(f.name for f in fields(Settings))


def check(key: str, value: Any) -> Any:
    """The validated value of ``key``; ConfigError for unknown keys."""
    key = key.replace("-", "_")
    if key not in CHECKERS:
        raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(KEYS)}")
    return CHECKERS[key](key, value)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise ConfigError(f"cannot read {path}: permission denied") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    for key in data:
        if key.replace("-", "_") not in CHECKERS:
            raise ConfigError(f"{path}: unknown setting {key!r}; known settings: {', '.join(KEYS)}")
    return data


def system_only(key: str, path: Path) -> ConfigError:
    return ConfigError(
        f"{path}: {key} is a system setting, not a user's: only the administrator sets it, "
        f"in {SYSTEM_CONFIG} (remove it from {path})"
    )


def load(files: tuple[Path, ...] | None = None) -> tuple[Settings, dict[str, Path]]:
    """The effective settings and, per key, the file that set it.  The
    first file is the system's; the others may not set :data:`SYSTEM_KEYS`."""
    files = files if files is not None else (system_config(), user_config())
    settings = Settings()
    origin: dict[str, Path] = {}
    for n, path in enumerate(files):
        for key, value in _read(path).items():
            if n and key.replace("-", "_") in SYSTEM_KEYS:
                raise system_only(key.replace("-", "_"), path)
            try:
                checked = check(key, value)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            settings = replace(settings, **{key.replace("-", "_"): checked})
            origin[key.replace("-", "_")] = path
    return settings, origin


def set_value(key: str, value: str, path: Path | None = None) -> Any:
    """Validate and store ``key = value`` in the user's configuration file
    (written whole to a temporary file, then renamed over the old one)."""
    path = path or user_config()
    checked = check(key, value)
    key = key.replace("-", "_")
    if key in SYSTEM_KEYS:
        raise system_only(key, path)
    data = _read(path)
    data.pop(key.replace("_", "-"), None)
    if checked is None:
        data.pop(key, None)
    else:
        data[key] = checked
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(tomli_w.dumps(data))
    os.replace(tmp, path)
    return checked


def show(value: Any) -> str:
    """A setting as users type it."""
    if value is None:
        return "max"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_dict(settings: Settings) -> Mapping[str, Any]:
    return {k: getattr(settings, k) for k in KEYS}
