"""The machine does not sleep while a disc is written: a logind inhibitor.

systemd-logind's ``Inhibit("sleep:idle", who, why, "block")`` on the system
bus returns a file descriptor; sleep and idle actions wait while anyone
holds one open.  :class:`SleepLock` holds it while a burn records, verifies
or erases (the daemon updates it at each phase), :func:`sleep_inhibited`
around ``cdfs burn-image`` and ``cdfs erase`` of an unmounted drive.  Where
there is no system bus or no logind (a container, a machine without
systemd), nothing is held and nothing is said but a line in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

log = logging.getLogger(__name__)

LOGIN1 = DBusAddress(
    "/org/freedesktop/login1",
    bus_name="org.freedesktop.login1",
    interface="org.freedesktop.login1.Manager",
)
WHAT = "sleep:idle"
WHO = "cdfs"
CALL_TIMEOUT = 5.0
PHASES = ("recording", "verifying", "erasing")
"""Burn phases during which the machine must not sleep."""


def take(why: str) -> int | None:
    """An inhibitor lock's descriptor, or None where logind is not there."""
    try:
        conn = open_dbus_connection("SYSTEM", enable_fds=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        log.info("no sleep inhibitor: no system bus (%s)", exc)
        return None
    try:
        msg = new_method_call(LOGIN1, "Inhibit", "ssss", (WHAT, WHO, why, "block"))
        reply = conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT)
        if reply.header.message_type.name == "error":
            log.info("no sleep inhibitor: logind said %s", reply.body)
            return None
        fd: int = reply.body[0].to_raw_fd()
        return fd
    except (OSError, TimeoutError) as exc:
        log.info("no sleep inhibitor: %s", exc)
        return None
    finally:
        conn.close()


class SleepLock:
    """Held while :meth:`update` is told a burn is writing, let go after."""

    def __init__(self) -> None:
        self.fd: int | None = None

    def update(self, writing: bool, why: str = "Writing a disc") -> None:
        if writing and self.fd is None:
            self.fd = take(why)
            if self.fd is not None:
                log.info("holding a sleep inhibitor (fd %d): %s", self.fd, why)
        elif not writing and self.fd is not None:
            os.close(self.fd)
            self.fd = None
            log.info("sleep inhibitor released")

    def for_phase(self, phase: str) -> None:
        self.update(phase in PHASES)


@contextlib.contextmanager
def sleep_inhibited(why: str) -> Iterator[None]:
    lock = SleepLock()
    lock.update(True, why)
    try:
        yield
    finally:
        lock.update(False)
