"""Desktop notifications of a mount, through org.freedesktop.Notifications.

A thread of the daemon (:class:`Notifier`) watches a cheap probe of the
daemon each second, reads the mount's status (its status xattr, through the
mount like any program) when there is something to say, and says it on the
session bus (Desktop Notifications spec 1.2, with jeepney):

- "Disc ready" once the mount is up;
- "You have files waiting to be written to the disc" when staged files have
  been left alone for ``notify_waiting_after`` seconds, with a "Write to
  disc" action where the server offers actions (``GetCapabilities``); invoking
  it starts the burn (``cdfs burn MOUNTPOINT``);
- "Burn finished" or "Burn failed" when a burn ends.

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
        probe: Callable[[], tuple[Any, Any]],
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
        free = s.get("available_bytes") or 0
        self.notify(
            "Disc ready",
            f"{s.get('media_title', 'The disc')} in {self.mp}: {human(max(free, 0))} free.",
        )
        seen_burn = (s.get("last_burn") or {}).get("id")
        staging, burns = self.look()
        changed = time.monotonic()
        counted = self.counts(s)
        told: Any = None
        while not self.stop.is_set():
            self.wait_for_actions()
            now_staging, now_burns = self.look()
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

    def look(self) -> tuple[Any, Any]:
        """(what changes when files are staged, what changes when burns
        start and end), from the daemon's cheap probe."""
        staging, burns = self.probe()
        return staging, burns

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
        if last.get("ok"):
            self.notify("Burn finished", str(last.get("message") or "The disc was written."))
        else:
            self.notify(
                "Burn failed",
                f"{last.get('message') or 'The disc was not written.'} "
                "The files are still waiting to be written.",
            )

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


def start(mountpoint: Path, waiting_after: float, probe: Callable[[], tuple[Any, Any]]) -> Notifier:
    """Start watching ``mountpoint`` in a daemon thread; ``probe`` is the
    daemon's :meth:`~cdfs.daemon.Daemon.activity`."""
    notifier = Notifier(mountpoint, waiting_after, probe)
    threading.Thread(target=notifier.run, name="notifications", daemon=True).start()
    return notifier
