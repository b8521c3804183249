"""Which recorders there are, and which one recording is enabled on.

Owns the XP rule of one enabled recorder (:func:`enabled_drive`): the drive
named by ``--drive``, ``$CDFS_DRIVE`` or the ``drive`` setting; else the one
recorder udev knows; with several, a refusal that says which there are and
how to choose; with none, the default emulated disc.  The ``drive_types``
setting (XP's drive-type override) is applied before counting, and a drive
it makes a CD-ROM is never recorded on.  Also owns ``cdfs drives``: each
optical drive with what it writes, the disc in it (udev's view, then the
drive's own table of contents and free space), the speeds it offers, and
whether recording is enabled on it.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from cdfs import config, paths
from cdfs.errors import CdfsError, UsageError
from cdfs.recorders.detect import WRITABLE_PROFILES, DriveInfo, find_drives, same_device
from cdfs.units import SECTOR_SIZE


def profile_name(profile: str) -> str:
    """``dvd_plus_r_dl`` -> ``DVD+R DL``: a udev profile as users know it."""
    words = profile.replace("_plus_", "+").upper().split("_")
    name = words[0]
    for w in words[1:]:
        name += f" {w}" if w in ("DL", "SEQ", "RO", "SRM", "RRM", "JR", "W") else f"-{w}"
    return name


def read_only_reason(spec: str, settings: config.Settings) -> str:
    """Why recording is off on device ``spec`` ('' when it is not)."""
    for device, kind in config.drive_types(settings).items():
        if kind == "cd-rom" and spec.startswith("/dev/") and same_device(device, spec):
            return (
                f"recording is turned off on {spec}: the drive_types setting makes it a "
                "CD-ROM drive (read-only); change that with 'cdfs config set drive_types ...'"
            )
    return ""


def enabled_drive(
    spec: str | None, settings: config.Settings, drives: list[DriveInfo] | None = None
) -> str:
    """The drive recording is enabled on, or '' for the default emulated
    disc: ``spec`` (``--drive``), else ``$CDFS_DRIVE``, else the ``drive``
    setting, else the only recorder udev knows."""
    spec = spec or os.environ.get("CDFS_DRIVE") or settings.drive
    if spec:
        if reason := read_only_reason(spec, settings):
            raise UsageError(reason)
        return spec
    if drives is None:
        drives = find_drives(config.drive_types(settings))
    recorders = [d for d in drives if d.recorder]
    if len(recorders) == 1:
        return recorders[0].device
    if recorders:
        listed = ", ".join(d.title for d in recorders)
        raise UsageError(
            f"there are {len(recorders)} recorders: {listed}; recording is enabled on one at "
            "a time: choose it with --drive DEVICE, or for good with 'cdfs config set drive "
            "DEVICE' ('cdfs drives' lists them)"
        )
    return ""


def describe(drive: DriveInfo, enabled: bool, probe: bool = True) -> dict[str, Any]:
    """One drive as ``cdfs drives --json`` shows it."""
    writes = sorted(profile_name(p) for p in drive.capabilities & WRITABLE_PROFILES)
    d: dict[str, Any] = {
        "device": drive.device,
        "vendor": drive.vendor,
        "model": drive.model,
        "writes": writes,
        "recorder": drive.recorder,
        "type_override": drive.override or None,
        "recording_enabled": enabled,
        "disc": None,
        "speeds": [],
    }
    media = drive.media
    if media is not None:
        d["disc"] = {
            "profiles": sorted(profile_name(p) for p in media.profiles),
            "state": media.state,
            "sessions": media.session_count,
        }
        if probe:
            d["disc"] |= probe_disc(drive.device)
    if probe and drive.recorder:
        d["speeds"] = probe_speeds(drive.device)
    return d


def probe_disc(device: str) -> dict[str, Any]:
    """What the drive itself says of its disc: media, state, free bytes."""
    from cdfs.iso.disccontents import read_tree
    from cdfs.mount.space import disc_figures
    from cdfs.recorders.opening import open_recorder

    try:
        recorder = open_recorder(device)
        info = recorder.disc_info()
        try:
            with recorder.open_reader() as fp:
                root = read_tree(fp, info)
        except (CdfsError, OSError):
            root = None
    except CdfsError as exc:
        return {"free_bytes": None, "problem": str(exc)}
    return {
        "media": info.media.title,
        "state": info.state.value,
        "free_bytes": disc_figures(info, root).free * SECTOR_SIZE,
    }


def probe_speeds(device: str) -> list[float]:
    from cdfs.recorders.opening import open_recorder
    from cdfs.recorders.speeds import read_speeds
    from cdfs.recorders.xorriso import XorrisoRecorder

    try:
        recorder = open_recorder(device)
    except CdfsError:
        return []
    if not isinstance(recorder, XorrisoRecorder):
        return []
    return read_speeds(recorder.device, recorder.program).as_list()


def drives_report(settings: config.Settings, probe: bool = True) -> dict[str, Any]:
    """Every optical drive, and where recording is enabled."""
    drives = find_drives(config.drive_types(settings))
    problem = ""
    try:
        enabled = enabled_drive(None, settings, drives)
    except UsageError as exc:
        enabled, problem = "", str(exc)
    listed = [describe(d, bool(enabled) and same_device(d.device, enabled), probe) for d in drives]
    emulated = "" if enabled or problem else str(paths.default_disc())
    return {
        "drives": listed,
        "recording_enabled_on": enabled or emulated,
        "emulated": bool(emulated) or not any(d["recording_enabled"] for d in listed),
        "problem": problem or None,
    }


def render(report: dict[str, Any]) -> str:
    from cdfs.burn.status import human_bytes

    lines = []
    for d in report["drives"]:
        name = " ".join(p for p in (d["vendor"], d["model"]) if p) or "optical drive"
        mark = " (recording enabled)" if d["recording_enabled"] else ""
        lines.append(f"{d['device']}: {name}{mark}")
        forced = f" (drive_types: {d['type_override']})" if d["type_override"] else ""
        writes = ", ".join(d["writes"]) if d["recorder"] else "nothing (read-only)"
        lines.append(f"  writes: {writes}{forced}")
        disc = d["disc"]
        if disc is None:
            lines.append("  disc:   no disc")
        else:
            kind = disc.get("media") or "/".join(disc["profiles"]) or "unknown disc"
            state = disc.get("state") or "state unknown"
            free = disc.get("free_bytes")
            room = f", {human_bytes(free)} free" if free is not None else ""
            why = f" ({disc['problem']})" if disc.get("problem") else ""
            lines.append(f"  disc:   {kind}, {state}{room}{why}")
        if d["recorder"]:
            speeds = ", ".join(f"{x:g}x" for x in d["speeds"]) or "not reported"
            lines.append(f"  speeds: {speeds}")
    if not report["drives"]:
        lines.append("no optical drives found (udev knows none)")
    if report["problem"]:
        lines.append(f"cdfs: {report['problem']}")
    elif report["emulated"]:
        lines.append(f"recording is enabled on the emulated disc {report['recording_enabled_on']}")
    return "\n".join(lines) + "\n"


def cmd_drives(args: argparse.Namespace) -> int:
    settings, _origin = config.load()
    report = drives_report(settings, probe=not args.no_probe)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report), end="")
    return 0
