"""Watching a drive for disc changes through udev.

Owns the pyudev monitor of one drive's ``change`` uevents (a disc inserted
or ejected: ``DISK_MEDIA_CHANGE=1``, ``DISK_EJECT_REQUEST=1``, and the
``ID_CDROM_MEDIA*`` properties cdrom_id sets once it has looked at the new
disc) and the thread that waits for them.  What a change means for a mount
is :mod:`cdfs.discwatch`'s: this module only says that one happened.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

from cdfs.recorders.detect import media_from_properties, same_device

log = logging.getLogger(__name__)


def what_changed(props: dict[str, str]) -> str:
    """A change uevent in words, for the log."""
    if props.get("DISK_EJECT_REQUEST") == "1":
        return "eject requested"
    media = media_from_properties(props)
    if media is None:
        return "disc removed" if props.get("DISK_MEDIA_CHANGE") == "1" else "drive changed"
    return f"disc {media.state or 'inserted'} ({', '.join(sorted(media.profiles))})"


class MediaWatch:
    """Calls ``on_change(words)`` from its own thread for each change uevent
    of ``device``, until :meth:`stop`."""

    def __init__(self, device: str, on_change: Callable[[str], None]) -> None:
        self.device = device
        self.on_change = on_change
        self._stop_r, self._stop_w = os.pipe()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start watching; False where udev cannot be watched (no netlink,
        no pyudev): then nobody says when the disc changes."""
        try:
            import pyudev

            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source="udev")
            monitor.filter_by("block")
            monitor.start()
        except (ImportError, OSError) as exc:
            log.warning("cannot watch udev for disc changes in %s: %s", self.device, exc)
            return False
        self._thread = threading.Thread(
            target=self._run, args=(monitor,), name="udev-media", daemon=True
        )
        self._thread.start()
        return True

    def _run(self, monitor: object) -> None:
        fileno = monitor.fileno()  # type: ignore[attr-defined]
        while True:
            ready, _, _ = select.select([fileno, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            while (device := monitor.poll(timeout=0)) is not None:  # type: ignore[attr-defined]
                node = device.device_node or ""
                if device.action == "change" and node and same_device(node, self.device):
                    try:
                        self.on_change(what_changed(dict(device.properties)))
                    except Exception:  # a closed loop must not kill the thread noisily
                        log.debug("disc change not delivered", exc_info=True)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        os.close(self._stop_r)
        os.close(self._stop_w)
