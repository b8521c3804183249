"""The empty drive: what a recorder with no disc in it looks like.

Owns the :class:`~cdfs.recorders.media.DiscInfo` of an empty drive (a
medium named ``none``, closed, nothing on it) and reading a recorder's disc
where an empty drive is an answer, not an error (:func:`disc_or_none`): a
mount of an empty drive works, its staging area takes files (XP let you
collect files before inserting a disc), and the disc is read when it comes.
"""

from __future__ import annotations

from cdfs.errors import NoDiscError
from cdfs.recorders.media import DiscInfo, DiscState, Family, MediaType
from cdfs.recorders.recorder import Recorder
from cdfs.units import Sectors

NO_DISC_STATE = "no disc"
"""The state the status shows for an empty drive."""

NO_DISC = MediaType("none", Family.CD, Sectors(0), False, "no disc")

NO_DISC_ADVICE = (
    "There is no disc in the drive: insert a blank or appendable disc and burn again "
    "('cdfs burn --wait' waits for one); the staged files are kept"
)


def no_disc_info() -> DiscInfo:
    return DiscInfo(NO_DISC, DiscState.CLOSED, identity=NO_DISC_STATE)


def is_no_disc(info: DiscInfo) -> bool:
    return info.media.name == NO_DISC.name


def state_of(info: DiscInfo) -> str:
    """``blank``, ``appendable``, ``closed``, or ``no disc``."""
    return NO_DISC_STATE if is_no_disc(info) else info.state.value


def disc_or_none(recorder: Recorder) -> DiscInfo:
    """The disc in ``recorder``, or :func:`no_disc_info` when it is empty."""
    try:
        return recorder.disc_info()
    except NoDiscError:
        return no_disc_info()


def disc_for_burn(recorder: Recorder) -> DiscInfo:
    """The disc a burn goes on; an empty drive is refused in plain words."""
    try:
        return recorder.disc_info()
    except NoDiscError:
        raise NoDiscError(NO_DISC_ADVICE) from None
