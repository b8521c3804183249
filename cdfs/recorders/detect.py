"""Finding optical recorders through udev.

This module owns the reading of the properties systemd's ``cdrom_id`` puts
on optical drives (``ID_CDROM_*``) into frozen records: which drives can
write, what they can write, and what disc is loaded.  It is the only module
that imports pyudev, and only inside :func:`find_recorders`; the parsing
(:func:`drive_from_properties`) is pure.  It does not talk to drives (that
is :mod:`cdfs.recorders.xorriso`) and does not watch for media changes.

A drive-type override (the ``drive_types`` setting, XP's registry value)
is applied here too (:func:`with_type`): it changes what a drive is said to
write before anything decides whether it is a recorder.

udev knows neither the next writable address nor free blocks: ask the
recorder for those.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

WRITABLE_PROFILES = frozenset(
    {
        "cd_r",
        "cd_rw",
        "dvd_r",
        "dvd_rw",
        "dvd_rw_ro",
        "dvd_rw_seq",
        "dvd_r_dl",
        "dvd_r_dl_seq",
        "dvd_r_dl_jr",
        "dvd_ram",
        "dvd_plus_r",
        "dvd_plus_rw",
        "dvd_plus_r_dl",
        "dvd_plus_rw_dl",
        "bd_r",
        "bd_r_srm",
        "bd_r_rrm",
        "bd_re",
        "hddvd_r",
        "hddvd_rw",
        "mrw_w",
    }
)
"""Profiles (``ID_CDROM_<NAME>`` lower-cased) that mean the drive can record."""

_PREFIX = "ID_CDROM_"
_MEDIA_PREFIX = "ID_CDROM_MEDIA_"
# ID_CDROM_MEDIA_* keys that describe the disc, not a profile of it.
_MEDIA_FIELDS = frozenset(
    {
        "STATE",
        "SESSION_COUNT",
        "SESSION_NEXT",
        "SESSION_LAST_OFFSET",
        "TRACK_COUNT",
        "TRACK_COUNT_DATA",
        "TRACK_COUNT_AUDIO",
    }
)


@dataclass(frozen=True)
class LoadedMedia:
    """The disc in a drive, as udev saw it at the last media change."""

    profiles: frozenset[str]
    """E.g. ``{"cd_rw"}`` or ``{"dvd_plus_rw"}`` (lower-cased suffixes)."""
    state: str
    """blank, appendable, complete, other, or '' when udev did not say."""
    session_count: int = 0
    track_count: int = 0
    last_session_offset: int | None = None
    """Bytes; udev sets it only when there is more than one session."""

    @property
    def blank(self) -> bool:
        return self.state == "blank"

    @property
    def writable(self) -> bool:
        """Can take a new session (as far as udev knows)."""
        return self.state in ("blank", "appendable") and bool(self.profiles & WRITABLE_PROFILES)


@dataclass(frozen=True)
class DriveInfo:
    """One optical drive."""

    device: str
    """The device node, e.g. ``/dev/sr0``."""
    vendor: str
    model: str
    capabilities: frozenset[str]
    """Profiles the drive supports (``cd_r``, ``dvd_plus_rw``, ``bd_re``...)."""
    media: LoadedMedia | None
    """The loaded disc, or None when the tray is empty."""
    override: str = ""
    """The drive type a user forced on it (cd-r, cd-rw, cd-rom), or ''."""

    @property
    def recorder(self) -> bool:
        return bool(self.capabilities & WRITABLE_PROFILES)

    @property
    def title(self) -> str:
        name = " ".join(p for p in (self.vendor, self.model) if p) or "optical drive"
        return f"{name} ({self.device})"


def _flag(props: Mapping[str, str], key: str) -> bool:
    return props.get(key, "") == "1"


def _int(props: Mapping[str, str], key: str) -> int | None:
    try:
        return int(props[key])
    except (KeyError, ValueError):
        return None


def _udev_text(value: str) -> str:
    # ID_MODEL uses '_' for spaces; the _ENC variants carry \x20 escapes.
    return value.replace("_", " ").strip()


def media_from_properties(props: Mapping[str, str]) -> LoadedMedia | None:
    """The loaded disc described by ``ID_CDROM_MEDIA*``, or None if empty."""
    if not _flag(props, "ID_CDROM_MEDIA"):
        return None
    profiles = frozenset(
        key[len(_MEDIA_PREFIX) :].lower()
        for key, value in props.items()
        if key.startswith(_MEDIA_PREFIX)
        and key[len(_MEDIA_PREFIX) :] not in _MEDIA_FIELDS
        and value == "1"
    )
    return LoadedMedia(
        profiles=profiles,
        state=props.get("ID_CDROM_MEDIA_STATE", ""),
        session_count=_int(props, "ID_CDROM_MEDIA_SESSION_COUNT") or 0,
        track_count=_int(props, "ID_CDROM_MEDIA_TRACK_COUNT") or 0,
        last_session_offset=_int(props, "ID_CDROM_MEDIA_SESSION_LAST_OFFSET"),
    )


def drive_from_properties(device: str, props: Mapping[str, str]) -> DriveInfo | None:
    """The drive ``device`` whose udev properties are ``props``, or None if
    it is not an optical drive."""
    if not _flag(props, "ID_CDROM"):
        return None
    capabilities = frozenset(
        key[len(_PREFIX) :].lower()
        for key, value in props.items()
        if key.startswith(_PREFIX)
        and not key.startswith(_MEDIA_PREFIX)
        and key != "ID_CDROM_MEDIA"
        and value == "1"
    )
    return DriveInfo(
        device=device,
        vendor=_udev_text(props.get("ID_VENDOR", "")),
        model=_udev_text(props.get("ID_MODEL", "")),
        capabilities=capabilities,
        media=media_from_properties(props),
    )


_OVERRIDE_PROFILES = {
    "cd-r": frozenset({"cd_r"}),
    "cd-rw": frozenset({"cd_r", "cd_rw"}),
    "cd-rom": frozenset(),
}


def with_type(drive: DriveInfo, kind: str) -> DriveInfo:
    """``drive`` as the drive type ``kind`` says (XP's override): ``cd-r``
    and ``cd-rw`` make it a writer of those discs (on top of what it says
    it writes), ``cd-rom`` makes it read-only."""
    if kind not in _OVERRIDE_PROFILES:
        return drive
    caps = drive.capabilities | _OVERRIDE_PROFILES[kind]
    if kind == "cd-rom":
        caps = drive.capabilities - WRITABLE_PROFILES
    return dataclasses.replace(drive, capabilities=caps, override=kind)


def same_device(a: str, b: str) -> bool:
    """Whether two device names are one drive (``/dev/cdrom`` -> ``/dev/sr0``)."""
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def drives_from(
    devices: Iterable[tuple[str, Mapping[str, str]]], overrides: Mapping[str, str] | None = None
) -> list[DriveInfo]:
    """The optical drives among ``(device_node, properties)`` pairs, with
    the type ``overrides`` (device -> type) applied, sorted by node."""
    found = []
    for node, props in devices:
        drive = drive_from_properties(node, props)
        if drive is None:
            continue
        for device, kind in (overrides or {}).items():
            if same_device(device, node):
                drive = with_type(drive, kind)
        found.append(drive)
    return sorted(found, key=lambda d: d.device)


def recorders_from(
    devices: Iterable[tuple[str, Mapping[str, str]]], overrides: Mapping[str, str] | None = None
) -> list[DriveInfo]:
    """The recorders among ``(device_node, properties)`` pairs, sorted by node."""
    return [d for d in drives_from(devices, overrides) if d.recorder]


def udev_devices() -> list[tuple[str, dict[str, str]]]:
    """``(device_node, properties)`` of every optical drive udev knows;
    empty where udev is not available (containers)."""
    try:
        import pyudev
    except ImportError:  # pragma: no cover - pyudev is a dependency
        log.warning("pyudev is not installed: cannot look for drives")
        return []
    try:
        context = pyudev.Context()
        devices = context.list_devices(subsystem="block").match_property("ID_CDROM", "1")
        return [(d.device_node, dict(d.properties)) for d in devices if d.device_node]
    except (OSError, ImportError) as exc:
        log.warning("cannot ask udev for drives: %s", exc)
        return []


def find_drives(overrides: Mapping[str, str] | None = None) -> list[DriveInfo]:
    """The optical drives on this machine, writers or not."""
    return drives_from(udev_devices(), overrides)


def find_recorders(overrides: Mapping[str, str] | None = None) -> list[DriveInfo]:
    """The optical drives on this machine that can write discs.

    Returns an empty list where udev is not available (containers).
    """
    return recorders_from(udev_devices(), overrides)
