"""Opening a recorder: which backend a drive name on the command line means.

Owns the choice between a real drive driven through xorriso (a block device,
a path under ``/dev/``, an xorriso ``stdio:`` address) and an emulated disc
(any other path), and the refusal of a name that is neither.  It sits above
the interface (:mod:`cdfs.recorders.recorder`) and both backends, so that
neither backend imports the module that opens it.

For tests, ``$CDFS_DRIVE_STANDINS`` (``/dev/sr0=IMAGE`` pairs, separated by
commas) puts an emulated disc behind a device name: a drive faked in udev
(umockdev) that no SCSI command can reach then has a disc to read and burn.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cdfs.errors import NotFoundError
from cdfs.recorders.emulated import EmulatedRecorder
from cdfs.recorders.recorder import Recorder
from cdfs.recorders.xorriso import XorrisoRecorder

STANDINS_ENV = "CDFS_DRIVE_STANDINS"


def standin(spec: str) -> Path | None:
    """The emulated disc ``$CDFS_DRIVE_STANDINS`` puts behind ``spec``."""
    for pair in os.environ.get(STANDINS_ENV, "").split(","):
        device, _, image = pair.partition("=")
        if device and image and device.strip() == spec:
            return Path(image.strip())
    return None


def open_recorder(spec: str) -> Recorder:
    """The recorder named by ``spec``.

    A block device, a path under ``/dev/`` or an xorriso ``stdio:`` address
    is a drive driven through xorriso; anything else is the path of an
    emulated disc image.
    """
    if (image := standin(spec)) is not None:
        return EmulatedRecorder(image, empty_ok=True)  # a missing image: an empty drive
    if spec.startswith("/dev/") and not os.path.exists(spec):
        # Refused here, before any command makes a staging area or log for it.
        raise NotFoundError(f"no drive at {spec}: see the recorders with 'xorriso -devices'")
    if spec.startswith(("/dev/", "stdio:")) or _is_block_device(spec):
        return XorrisoRecorder(spec)
    path = Path(spec).expanduser()
    if not path.exists():
        raise NotFoundError(
            f"no drive or emulated disc image at {spec}: "
            "create an emulated disc with `cdfs media create`"
        )
    return EmulatedRecorder(path)


def _is_block_device(spec: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(spec).st_mode)
    except OSError:
        return False
