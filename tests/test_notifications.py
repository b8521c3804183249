"""Desktop notifications (issue 15 item 4), on a real session bus.

A private ``dbus-daemon --session`` carries them; a test notification
server (org.freedesktop.Notifications, written here with jeepney) takes the
name and records each Notify call, and emits ActionInvoked as a server does
when the user clicks an action.  The mounts under test are real cdfs mounts
given that bus's address.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from conftest import cdfs, xorriso_extract

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Server:
    """A notification server offering actions; records what it is told."""

    def __init__(self, address: str) -> None:
        self.conn = open_dbus_connection(address)
        reply = self.conn.send_and_get_reply(message_bus.RequestName(SERVICE), timeout=10)
        assert reply.body == (1,), "the test server did not get the name"
        self.shown: list[dict[str, Any]] = []
        self.pending: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                pending, self.pending = self.pending, []
            for nid, key in pending:
                where = DBusAddress(PATH, interface=SERVICE)
                self.conn.send(new_signal(where, "ActionInvoked", "us", (nid, key)))
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            if msg.header.fields.get(HeaderFields.interface) != SERVICE:
                continue
            member = msg.header.fields[HeaderFields.member]
            if member == "GetCapabilities":
                self.conn.send(new_method_return(msg, "as", (["actions", "body"],)))
            elif member == "GetServerInformation":
                self.conn.send(new_method_return(msg, "ssss", ("test", "cdfs", "1", "1.2")))
            elif member == "Notify":
                app, _replaces, icon, summary, body, actions, _hints, _timeout = msg.body
                with self.lock:
                    nid = len(self.shown) + 1
                    self.shown.append(
                        {
                            "id": nid,
                            "app": app,
                            "icon": icon,
                            "summary": summary,
                            "body": body,
                            "actions": list(actions),
                        }
                    )
                self.conn.send(new_method_return(msg, "u", (nid,)))

    def invoke(self, nid: int, key: str) -> None:
        with self.lock:
            self.pending.append((nid, key))

    def wait_for(self, summary: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [n for n in self.shown if n["summary"] == summary]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no {summary!r} among {self.shown}"
            time.sleep(0.05)

    def summaries(self) -> list[str]:
        with self.lock:
            return [n["summary"] for n in self.shown]

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        self.conn.close()


@pytest.fixture
def server(private_bus: str) -> Iterator[Server]:
    s = Server(private_bus)
    yield s
    s.close()


WAITING = "You have files waiting to be written to the disc"


def test_files_waiting_then_the_action_burns_them(
    tmp_path: Path, home: dict[str, str], mount: Any, private_bus: str, server: Server
) -> None:
    home["DBUS_SESSION_BUS_ADDRESS"] = private_bus
    cdfs(["config", "set", "notify_waiting_after", "1"], home)
    m = mount()
    ready = server.wait_for("Disc ready")
    assert ready["app"] == "cdfs" and "CD-R" in ready["body"] and "free" in ready["body"]
    assert WAITING not in server.summaries(), "nothing is staged yet"

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(200_000))
    (src / "b.txt").write_bytes(b"bee\n" * 100)
    for f in src.iterdir():
        shutil.copy2(f, m.path / f.name)
    waiting = server.wait_for(WAITING)
    assert "2 files" in waiting["body"] and str(m.path) in waiting["body"]
    assert waiting["actions"] == ["write", "Write to disc"]
    assert m.status()["requests"] == 0, "the notice alone burns nothing"

    server.invoke(waiting["id"], "write")
    finished = server.wait_for("Burn finished", timeout=120)
    assert "burned 2 files" in finished["body"], finished
    s = m.status()
    assert s["last_burn"]["ok"] and s["staged_files"] == 0
    assert server.summaries().count(WAITING) == 1, "said once for one set of files"
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    for f in src.iterdir():
        assert (out / f.name).read_bytes() == f.read_bytes()


def test_a_failed_burn_is_said_and_other_ids_do_not_burn(
    home: dict[str, str], mount: Any, private_bus: str, server: Server
) -> None:
    import json

    home["DBUS_SESSION_BUS_ADDRESS"] = private_bus
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 4096})
    cdfs(["config", "set", "notify_waiting_after", "0"], home)
    m = mount()
    (m.path / "f.bin").write_bytes(os.urandom(100_000))
    waiting = server.wait_for(WAITING)
    server.invoke(waiting["id"] + 100, "write")  # another program's notification
    server.invoke(waiting["id"], "dismiss")  # not our action
    server.invoke(waiting["id"], "write")  # ours: taken after the two above, in order
    failed = server.wait_for("Burn failed", timeout=120)
    assert "still waiting" in failed["body"]
    assert m.status()["requests"] == 1, "only the Write to disc action asked for a burn"
    assert m.status()["staged_files"] == 1


def test_disc_ready_when_a_disc_is_inserted_not_for_an_empty_drive(
    tmp_path: Path, home: dict[str, str], mount: Any, private_bus: str, server: Server
) -> None:
    home["DBUS_SESSION_BUS_ADDRESS"] = private_bus
    disc = tmp_path / "drive" / "disc.iso"
    disc.parent.mkdir()
    home["CDFS_DRIVE_STANDINS"] = f"/dev/sr0={disc}"  # an empty drive, the image its tray
    m = mount(Path("/dev/sr0"))
    assert m.status()["state"] == "no disc"
    time.sleep(2)  # two looks of the notifier: nothing to say for an empty drive
    assert "Disc ready" not in server.summaries()
    cdfs(["media", "create", str(disc), "--type", "dvd+rw"], home)
    ready = server.wait_for("Disc ready")
    assert "A blank DVD+RW" in ready["body"] and str(m.path) in ready["body"], ready
    assert "GB free" in ready["body"], ready
    # Another disc: said again.
    disc.unlink()
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    deadline = time.monotonic() + 60
    while server.summaries().count("Disc ready") < 2:
        assert time.monotonic() < deadline, server.shown
        time.sleep(0.05)
    assert "A blank CD-R" in server.wait_for("Disc ready")["body"]


def test_the_burn_on_unmount_is_said_when_it_starts_and_ends(
    tmp_path: Path, home: dict[str, str], mount: Any, private_bus: str, server: Server
) -> None:
    home["DBUS_SESSION_BUS_ADDRESS"] = private_bus
    m = mount()
    server.wait_for("Disc ready")
    data = os.urandom(150_000)
    (m.path / "last.bin").write_bytes(data)
    assert m.stop() == 0  # unmounting burns what is staged (the default)
    starting = server.wait_for("Writing the files to the disc")
    assert "1 file (150.0 kB)" in starting["body"] and str(m.path) in starting["body"]
    finished = server.wait_for("Burn finished", timeout=120)
    assert "burned 1 file" in finished["body"], finished
    assert server.summaries()[-2:] == ["Writing the files to the disc", "Burn finished"]
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    assert (out / "last.bin").read_bytes() == data


def test_an_unmount_after_the_disc_went_says_the_files_wait_for_the_next(
    home: dict[str, str], mount: Any, private_bus: str, server: Server
) -> None:
    """The disc taken out just before the unmount (the mount not yet told):
    no "Burn failed", but that nothing was written and the files wait."""
    home["DBUS_SESSION_BUS_ADDRESS"] = private_bus
    home["CDFS_DISC_POLL"] = "0"
    m = mount()
    server.wait_for("Disc ready")
    (m.path / "kept.txt").write_text("waits for the next disc\n")
    m.disc.unlink()
    m.disc.with_name(m.disc.name + ".toc").unlink()
    assert m.stop() == 0
    said = server.wait_for("Nothing written: no disc", timeout=120)
    assert "still waiting to be written onto the next disc" in said["body"], said
    assert "Burn failed" not in server.summaries()


def test_off_by_setting(home: dict[str, str], mount: Any, private_bus: str, server: Server) -> None:
    home["DBUS_SESSION_BUS_ADDRESS"] = private_bus
    cdfs(["config", "set", "notifications", "no"], home)
    cdfs(["config", "set", "notify_waiting_after", "0"], home)
    m = mount()
    (m.path / "f.txt").write_bytes(b"x\n")
    m.burn()
    # With notifications on, "Disc ready" comes before the mount is used
    # (the test above waits for it); here nothing ever arrives.
    assert server.summaries() == []


def test_silent_without_a_session_bus(home: dict[str, str], mount: Any) -> None:
    home.pop("DBUS_SESSION_BUS_ADDRESS", None)
    cdfs(["config", "set", "notify_waiting_after", "0"], home)
    m = mount()
    (m.path / "f.txt").write_bytes(b"x\n")
    m.burn()
    assert "notifications stopped" not in (m.log.read_text() if m.log else "")
