"""Following the disc in a mounted drive: eject, insert, swap.

Owns where a mount learns that its disc changed: a real drive's udev
``change`` uevents (:class:`~cdfs.recorders.udevwatch.MediaWatch`, whose
thread hands them to the trio loop through a memory channel), and, for an
emulated disc (an image file, which no uevent announces), a look at the
image every second.  Both end in the one place that follows a change,
:meth:`cdfs.daemon.Daemon.follow_disc`.

``$CDFS_DISC_POLL`` sets the seconds between looks at an emulated disc
(0: none; tests use it to see udev's path alone).  An emulated disc put
behind a device name with ``$CDFS_DRIVE_STANDINS`` is also followed through
that device's uevents.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from typing import Protocol

import trio

from cdfs.recorders.emulated import EmulatedRecorder
from cdfs.recorders.opening import STANDINS_ENV
from cdfs.recorders.recorder import Recorder
from cdfs.recorders.udevwatch import MediaWatch
from cdfs.recorders.xorriso import XorrisoRecorder

log = logging.getLogger(__name__)

POLL_ENV = "CDFS_DISC_POLL"
RETRY_SECONDS = 0.5


class Follower(Protocol):
    recorder: Recorder

    async def follow_disc(self, why: str) -> bool: ...


def udev_device(recorder: Recorder) -> str:
    """The device whose uevents tell of ``recorder``'s disc, or ''."""
    if isinstance(recorder, XorrisoRecorder) and recorder.device.startswith("/dev/"):
        return recorder.device
    if isinstance(recorder, EmulatedRecorder):
        for pair in os.environ.get(STANDINS_ENV, "").split(","):
            device, _, image = pair.partition("=")
            if image and os.path.realpath(image.strip()) == os.path.realpath(recorder.path):
                return device.strip()
    return ""


def poll_interval(recorder: Recorder) -> float:
    if not isinstance(recorder, EmulatedRecorder):
        return math.inf
    try:
        seconds = float(os.environ.get(POLL_ENV, "1"))
    except ValueError:
        seconds = 1.0
    return seconds if seconds > 0 else math.inf


async def watch_disc(daemon: Follower) -> None:
    """Follow the disc of ``daemon``'s recorder until cancelled."""
    async with trio.open_nursery() as nursery:
        if device := udev_device(daemon.recorder):
            nursery.start_soon(_udev, daemon, device)
        interval = poll_interval(daemon.recorder)
        if interval < math.inf:
            nursery.start_soon(_poll, daemon, interval)


async def _udev(daemon: Follower, device: str) -> None:
    send, receive = trio.open_memory_channel[str](64)
    token = trio.lowlevel.current_trio_token()

    def deliver(why: str) -> None:  # in the watch's thread
        # When changes are already queued, the next look sees this one too.
        with contextlib.suppress(trio.WouldBlock):
            trio.from_thread.run_sync(send.send_nowait, why, trio_token=token)

    watch = MediaWatch(device, deliver)
    if not await trio.to_thread.run_sync(watch.start):
        return
    log.info("following disc changes in %s through udev", device)
    try:
        async for why in receive:
            # A change during a burn (its own eject, say) is followed after it.
            while not await _follow(daemon, f"{device}: {why}"):
                await trio.sleep(RETRY_SECONDS)
    finally:
        await trio.to_thread.run_sync(watch.stop)


async def _poll(daemon: Follower, interval: float) -> None:
    while True:
        await trio.sleep(interval)
        await _follow(daemon, "the emulated disc changed")


async def _follow(daemon: Follower, why: str) -> bool:
    """Follow one change; a failure is logged, never the end of the mount."""
    try:
        return await daemon.follow_disc(why)
    except Exception:
        log.exception("could not follow the disc change (%s)", why)
        return True
