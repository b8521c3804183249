"""What xorriso's reports mean for the user: the disc conditions its
``-toc`` adds after "but" (a damaged track, no writable address, a medium
that needs ``-close on``), the drive failures that have exit codes of their
own (a busy drive, no disc, a power calibration error), and single-session
media.  Pure: the texts come from libisoburn's and libburn's sources (named
where used); :mod:`cdfs.recorders.xorriso` runs xorriso and applies them.
"""

from __future__ import annotations

import dataclasses
import re

from cdfs.errors import CdfsError, DriveBusyError, NotWritableError
from cdfs.recorders.media import MediaType


def condition(text: str) -> str:
    """The condition a ``Media status`` value ends with (see
    :attr:`cdfs.recorders.xorriso.TocReport.condition`), or ''."""
    text = text.lower()
    for words, found in CONDITIONS:
        if words in text:
            return found
    return ""


CONDITIONS = (  # Xorriso_toc() in xorriso/drive_mgt.c, libisoburn 1.5.4
    ("but next track is damaged", "damaged"),
    ("but no writable address", "no-nwa"),
    ("but will need -close", "needs-close"),
)


def single_session(media: MediaType, name: str, title: str) -> MediaType:
    """``media`` as a medium that takes one session only, written at once
    (DAO) and closed by it: said in its title, so users read it before
    they burn."""
    return dataclasses.replace(
        media,
        name=name,
        title=f"{title}, one session only: closed by the first burn",
        single_session=True,
        max_sessions=1,
    )


def blocked_words(condition: str, device: str) -> str:
    """What a ``Media status`` condition means for the user, with the way
    out; empty when the disc can take a session."""
    close = f"'xorriso -outdev {device} -close_damaged as_needed'"
    if condition == "damaged":
        return (
            "the disc's next track is damaged (a recording was interrupted): nothing more"
            f" can be written on it until that track is closed with {close}; the sessions"
            " already on it stay readable"
        )
    if condition == "no-nwa":
        return (
            "the drive reports no writable address on this disc (a recording was probably"
            f" interrupted): close the damaged track with {close}, or use another disc"
        )
    return ""


_NOT_READY = re.compile(r"(?:SORRY|FAILURE|FATAL)\b.*\[2 04 [0-9A-Fa-f]{2}\]")
"""libburn giving up on a command the drive kept answering NOT READY, LOGICAL
UNIT NOT READY (sense 2/04/xx: becoming ready, long write in progress...),
after retrying it for 30 s (spc.c, sg-linux.c): "libburn : SORRY : Command:
READ DISC INFORMATION #3029,[2 04 01] : ..."."""


def not_ready(out: str) -> bool:
    """Whether libburn gave up waiting for the drive to become ready: what
    xorriso then says of the disc (it may call it closed) is not the disc's."""
    return _NOT_READY.search(out) is not None


def not_ready_error(device: str, why: str) -> DriveBusyError:
    return DriveBusyError(
        f"the drive {device} is not ready: it has been answering 'not ready' for a long"
        " time (still loading the disc, or busy finishing a write); wait until it is"
        f" quiet and try again, or eject the disc and insert it again ({why})"
    )


def drive_error(out: str, why: str, device: str) -> CdfsError | None:
    """The error with its own exit code that xorriso's output ``out`` (whose
    gist is ``why``) means, if any: a drive that stays not ready (exit 8), the
    drive held by another program (libburn's "Cannot open busy device", exit
    8), no disc (SCSI "Medium not present", exit 5), a write-protected disc
    (sense 7/27/00, libburn's "Write protected", exit 5), or a power
    calibration error (ASC 73h, "Power calibration area ...", exit 5)."""
    if not_ready(out):
        return not_ready_error(device, why)
    text = out.lower()
    if "busy device" in text or "device or resource busy" in text:
        return DriveBusyError(
            f"the drive {device} is in use by another program (a desktop's mount of the"
            f" disc, another burning program): unmount or close it and try again ({why})"
        )
    if "medium not present" in text:
        return NotWritableError(f"no disc in the drive {device} ({why})")
    if "write protected" in text:
        return NotWritableError(
            f"the disc in the drive {device} is write-protected ({why}): nothing was written"
            " on it; use another disc"
        )
    if "power calibration area" in text:
        return NotWritableError(
            f"the drive {device} could not calibrate its laser for this disc ({why}): try a"
            " lower speed (--speed), or discs of another brand; the disc may be worn out"
        )
    return None
