"""Desktop notifications of a mount, through org.freedesktop.Notifications.

A thread of the daemon (:class:`Notifier`) watches a cheap probe of the
daemon each second, reads the mount's status (its status xattr, through the
mount like any program) when there is something to say, and says it on the
session bus (Desktop Notifications spec 1.2, with jeepney):

- "Disc ready" once the mount is up with a disc, and each time a disc is
  inserted or swapped while mounted (nothing for an empty drive);
- "You have files waiting to be written to the disc" when staged files have
  been left alone for ``notify_waiting_after`` seconds, with a "Write to
  disc" action where the server offers actions (``GetCapabilities``); invoking
  it starts the burn (``cdfs burn MOUNTPOINT``);
- "Burn finished" or "Burn failed" when a burn ends.

The burn on unmount happens after the mount is gone, where this thread can
no longer read the status: the daemon says "Writing the files to the disc"
and how it ended itself, through :func:`say_once`.

Off with the setting ``notifications = no``; silent (nothing, not an error)
where there is no session bus or no notification server on it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jeepney import DBusAddress, MatchRule, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from cdfs import names
from cdfs.burn.outcome import NO_DISC

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
NOTIFICATIONS = DBusAddress("/org/freedesktop/Notifications", bus_name=SERVICE, interface=SERVICE)
APP_NAME = "cdfs"
ICON = "media-optical"
WRITE_ACTION = "write"
TICK = 1.0
"""Seconds between looks at the status (and waits for an invoked action)."""
CALL_TIMEOUT = 5.0
AT_REST = ("idle", "done", "failed")
SETTLE = 10.0
"""Seconds staged files must keep their count and size, checked when the
names have been left alone long enough (a big copy may still be writing)."""


def human(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class Notifier:
    """Says what happens on one mount; runs :meth:`run` in its own thread."""

    def __init__(
        self,
        mountpoint: Path,
        waiting_after: float,
        probe: Callable[[], tuple[Any, Any, Any]],
        start_burn: Callable[[], None] | None = None,
        conn: DBusConnection | None = None,
    ) -> None:
        self.mp = mountpoint
        self.probe = probe
        """Something cheap that changes whenever the staged names or the burns
        change (the daemon's); the status, which counts what is staged by
        walking it, is then read only when there is something to say."""
        self.waiting_after = waiting_after
        self.start_burn = start_burn or self.burn_through_cli
        self.conn = conn
        self.stop = threading.Event()
        self.actions = False
        self.waiting_id = 0
        self.queue: deque[Any] = deque()

    # -- D-Bus -----------------------------------------------------------------

    def connect(self) -> bool:
        """Open the session bus; False (silently) when there is none."""
        if self.conn is None:
            if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
                return False
            try:
                self.conn = open_dbus_connection("SESSION")
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                log.info("no notifications: session bus unreachable (%s)", exc)
                return False
        try:
            caps = self.call("GetCapabilities", "", ())
        except Exception as exc:  # no server: the bus says so with an error reply
            log.info("no notifications: no notification server (%s)", exc)
            return False
        self.actions = "actions" in caps[0]
        rule = MatchRule(type="signal", interface=SERVICE, member="ActionInvoked")
        self.call_bus(message_bus.AddMatch(rule))
        self.conn.filter(rule, queue=self.queue, bufsize=16)
        return True

    def call(self, method: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        assert self.conn is not None
        msg = new_method_call(NOTIFICATIONS, method, signature or None, body)
        reply = self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT)
        if reply.header.message_type.name == "error":
            raise RuntimeError(f"{method}: {reply.body}")
        return tuple(reply.body)

    def call_bus(self, msg: Any) -> None:
        assert self.conn is not None
        self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT)

    def notify(self, summary: str, body: str, actions: list[str] | None = None) -> int:
        """Show one notification; its id (0 when the server refused it)."""
        try:
            reply = self.call(
                "Notify",
                "susssasa{sv}i",
                (APP_NAME, 0, ICON, summary, body, actions or [], {}, -1),
            )
        except Exception as exc:
            log.info("notification not shown: %s", exc)
            return 0
        return int(reply[0])

    # -- the watch -------------------------------------------------------------

    def status(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(os.getxattr(self.mp, names.STATUS_XATTR.decode()))
        except (OSError, ValueError):
            return None
        return data

    def run(self) -> None:
        try:
            if not self.connect():
                return
            self.watch()
        except Exception:
            log.exception("notifications stopped")
        finally:
            if self.conn is not None:
                self.conn.close()

    def watch(self) -> None:
        s = self.status()
        if s is None:
            return
        self.said_ready(s)
        seen_burn = (s.get("last_burn") or {}).get("id")
        staging, burns, disc = self.look()
        changed = time.monotonic()
        counted = self.counts(s)
        told: Any = None
        while not self.stop.is_set():
            self.wait_for_actions()
            now_staging, now_burns, now_disc = self.look()
            if now_disc != disc:  # inserted, swapped or ejected while mounted
                disc = now_disc
                if (s := self.status()) is None:
                    return
                self.said_ready(s)
            if now_staging != staging:
                staging, changed = now_staging, time.monotonic()
            if now_burns != burns:
                burns = now_burns
                s = self.status()
                if s is None:
                    return
                last = s.get("last_burn") or {}
                if last.get("id") != seen_burn and s["burn"]["phase"] in AT_REST:
                    seen_burn = last.get("id")
                    self.said_burn(last)
            if told == staging or time.monotonic() - changed < self.waiting_after:
                continue
            s = self.status()  # left alone long enough: is it still the same?
            if s is None:
                return
            if self.counts(s) != counted:  # changed since: look again a little later
                counted = self.counts(s)
                changed = time.monotonic() - self.waiting_after + min(SETTLE, self.waiting_after)
                continue
            told = staging
            busy = s["burn"]["phase"] not in AT_REST
            if (s.get("staged_files") or s.get("staged_folder_changes")) and not busy:
                self.said_waiting(s)

    def look(self) -> tuple[Any, Any, Any]:
        """(what changes when files are staged, what changes when burns
        start and end, what changes when another disc is in the drive), from
        the daemon's cheap probe."""
        staging, burns, disc = self.probe()
        return staging, burns, disc

    def said_ready(self, s: dict[str, Any]) -> None:
        if s.get("state") == "no disc":
            return
        self.notify(*ready_words(s, self.mp))

    @staticmethod
    def counts(s: dict[str, Any]) -> tuple[Any, ...]:
        return (s.get("staged_files"), s.get("staged_bytes"), s.get("staged_folder_changes"))

    def said_waiting(self, s: dict[str, Any]) -> None:
        count = int(s.get("staged_files") or 0)
        noun = "file" if count == 1 else "files"
        self.waiting_id = self.notify(
            "You have files waiting to be written to the disc",
            f"{count} {noun}, {human(s.get('staged_bytes') or 0)}, in {self.mp}.",
            [WRITE_ACTION, "Write to disc"] if self.actions else [],
        )

    def said_burn(self, last: dict[str, Any]) -> None:
        self.notify(*burn_words(last))

    def wait_for_actions(self) -> None:
        """Sleep one tick, or less when an action comes in; run it."""
        assert self.conn is not None
        try:
            msg = self.conn.recv_until_filtered(self.queue, timeout=TICK)
        except TimeoutError:
            return
        nid, key = msg.body
        if key == WRITE_ACTION and nid == self.waiting_id and nid:
            self.start_burn()

    def burn_through_cli(self) -> None:
        from cdfs.desktop.actions import cdfs_program

        proc = subprocess.Popen(
            [*cdfs_program(), "burn", "--quiet", str(self.mp)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=proc.wait, daemon=True).start()  # no zombie left


def ready_words(s: dict[str, Any], mp: Path) -> tuple[str, str]:
    free = max(int(s.get("available_bytes") or 0), 0)
    state = {"blank": "blank ", "closed": "closed "}.get(str(s.get("state")), "")
    title = str(s.get("media_title", "disc"))
    return "Disc ready", f"A {state}{title} in {mp}: {human(free)} free."


def burn_words(last: dict[str, Any]) -> tuple[str, str]:
    if last.get("ok"):
        return "Burn finished", str(last.get("message") or "The disc was written.")
    if last.get("refused") == NO_DISC:
        return (
            "Nothing written: no disc",
            "The disc was taken out before the files were written. "
            "The files are still waiting to be written onto the next disc.",
        )
    return (
        "Burn failed",
        f"{last.get('message') or 'The disc was not written.'} "
        "The files are still waiting to be written.",
    )


def unmount_words(files: int, size: int, mp: Path) -> tuple[str, str]:
    noun = "file" if files == 1 else "files"
    return (
        "Writing the files to the disc",
        f"{files} {noun} ({human(size)}) waiting in {mp} are being written before it is unmounted.",
    )


def say_once(summary: str, body: str) -> None:
    """One notification on a connection of its own (for the daemon, once
    the mount is gone); silent where there is no bus or no server."""
    notifier = Notifier(Path("/"), 0, lambda: (None, None, None))
    try:
        if notifier.connect():
            notifier.notify(summary, body)
    except Exception as exc:
        log.info("notification not shown: %s", exc)
    finally:
        if notifier.conn is not None:
            notifier.conn.close()


def start(
    mountpoint: Path, waiting_after: float, probe: Callable[[], tuple[Any, Any, Any]]
) -> Notifier:
    """Start watching ``mountpoint`` in a daemon thread; ``probe`` is the
    daemon's :meth:`~cdfs.daemon.Daemon.activity`."""
    notifier = Notifier(mountpoint, waiting_after, probe)
    threading.Thread(target=notifier.run, name="notifications", daemon=True).start()
    return notifier
