"""Helpers of the VM lane's tests (inside the guest): CDEmu's drive, udev's
view of it, the kernel's own iso9660 mounts and listings of trees to
compare.  Every command has a timeout."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 120

# CDEmu's blank media: (medium type, writer, image suffix).
BLANKS = {
    "cd-r": ("cdr80", "WRITER-TOC", ".toc"),
    "dvd+r": ("dvd+r", "WRITER-ISO", ".iso"),
    "bd-r": ("bdr", "WRITER-ISO", ".iso"),
}


def run(
    cmd: list[str], *, check: bool = True, timeout: float = TIMEOUT, **kw: Any
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        cmd, capture_output=True, text=True, errors="replace", timeout=timeout, check=False, **kw
    )
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def udev_properties(device: str) -> dict[str, str]:
    out = run(["udevadm", "info", "--query=property", device], check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_until(
    what: str,
    test: Callable[[], Any],
    timeout: float = 90,
    show: Callable[[], Any] | None = None,
) -> Any:
    """``test()``'s first true value, polled; fails naming ``what`` (and
    what ``show()`` gives then)."""
    deadline = time.monotonic() + timeout
    while True:
        got = test()
        if got:
            return got
        if time.monotonic() > deadline:
            seen = f": {show()!r}" if show else ""
            raise AssertionError(f"timed out waiting for {what}{seen}")
        time.sleep(0.2)


@dataclass
class Drive:
    """CDEmu's drive 0, the guest's /dev/sr0 for the whole boot: discs are
    loaded and unloaded, the drive is never removed (a removed and re-added
    vhba device comes back as another /dev/srN)."""

    work: Path
    device: str = "/dev/sr0"

    def __post_init__(self) -> None:
        self._mounts: list[Path] = []
        mapping = run(["cdemu", "device-mapping"]).stdout
        assert self.device in mapping, mapping

    def media_state(self) -> str:
        """udev's ID_CDROM_MEDIA_STATE ("blank", "appendable", "complete"),
        "" with no disc."""
        props = udev_properties(self.device)
        if props.get("ID_CDROM_MEDIA") != "1":
            return ""
        return props.get("ID_CDROM_MEDIA_STATE", "?")

    def unload(self) -> None:
        if self.media_state() == "":
            # Not again: CDEmu would send an eject request, whose uevent
            # systemd's 60-cdrom_id.rules answers without cdrom_id's
            # properties of the drive (so without 61-cdfs.rules' ones).
            return
        run(["cdemu", "unload", "0"], check=False)
        wait_until(
            "udev to see the drive empty",
            lambda: self.media_state() == "",
            show=lambda: udev_properties(self.device),
        )

    def load(self, image: Path) -> None:
        run(["cdemu", "load", "0", str(image)])
        wait_until(
            f"udev to see {image.name} loaded",
            lambda: self.media_state() != "",
            show=lambda: udev_properties(self.device),
        )

    def reload(self, image: Path) -> None:
        """Eject and insert again: the kernel reads the disc afresh."""
        self.unload()
        self.load(image)

    def create_blank(self, kind: str, name: str = "") -> Path:
        """A blank disc of ``kind`` (see BLANKS) created and loaded."""
        medium, writer, suffix = BLANKS[kind]
        image = self.work / f"{name or kind.replace('+', 'plus')}{suffix}"
        run(["cdemu", "create-blank", f"--writer-id={writer}", f"--medium-type={medium}", "0",
             str(image)])  # fmt: skip
        wait_until(
            f"udev to see a blank {kind}",
            lambda: self.media_state() == "blank",
            show=lambda: udev_properties(self.device),
        )
        return image

    @contextlib.contextmanager
    def kernel_mount(self, source: str | Path | None = None, *options: str) -> Iterator[Path]:
        """The disc (or an image) mounted by the kernel's isofs."""
        mp = self.work / f"iso{len(self._mounts)}"
        mp.mkdir()
        self._mounts.append(mp)
        opts = ",".join(("ro", *options))
        run(["mount", "-t", "iso9660", "-o", opts, str(source or self.device), str(mp)])
        try:
            yield mp
        finally:
            run(["umount", str(mp)], check=False)

    def cleanup(self) -> None:
        for mp in self._mounts:
            if os.path.ismount(mp):
                run(["umount", "-l", str(mp)], check=False)
        self.unload()


# -- listings -------------------------------------------------------------------------

Listing = dict[str, dict[str, Any]]


def listing(root: Path, *, read: bool = True) -> Listing:
    """Each entry under ``root``: kind, mode, mtime (whole seconds), uid,
    gid, and size and sha256 of files or the target of symlinks."""
    out: Listing = {}
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            st = p.lstat()
            a: dict[str, Any] = {"uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISLNK(st.st_mode):
                a |= {"kind": "link", "target": os.readlink(p)}
            elif stat.S_ISDIR(st.st_mode):
                a |= {"kind": "dir", "mode": stat.S_IMODE(st.st_mode), "mtime": int(st.st_mtime)}
            else:
                a |= {"kind": "file", "mode": stat.S_IMODE(st.st_mode), "size": st.st_size,
                      "mtime": int(st.st_mtime)}  # fmt: skip
                if read:
                    a["sha"] = sha256_file(p)
            out[rel] = a
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def differences(want: Listing, got: Listing, fields: set[str] | None = None) -> list[str]:
    """What differs, one line each (empty when nothing does)."""
    lines = [f"missing: {p}" for p in sorted(want.keys() - got.keys())]
    lines += [f"unexpected: {p}" for p in sorted(got.keys() - want.keys())]
    for p in sorted(want.keys() & got.keys()):
        for k, v in want[p].items():
            if (fields is None or k in fields) and got[p].get(k) != v:
                lines.append(f"{p}: {k} is {got[p].get(k)!r}, not {v!r}")
    return lines
