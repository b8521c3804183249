"""No sleep while a disc is written (issue 15 item 5).

A private dbus-daemon stands in for the system bus (``DBUS_SYSTEM_BUS_ADDRESS``)
and a fake systemd-logind on it answers ``Inhibit`` as logind does: with a
file descriptor (one end of a pipe) that holds the lock while it is open.
The fake keeps the other end: it reads end-of-file once cdfs lets go.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import HeaderFields, MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from conftest import cdfs, run

LOGIN1 = "org.freedesktop.login1"


class FakeLogind:
    def __init__(self, address: str) -> None:
        self.conn = open_dbus_connection(address, enable_fds=True)
        reply = self.conn.send_and_get_reply(message_bus.RequestName(LOGIN1), timeout=10)
        assert reply.body == (1,)
        self.calls: list[tuple[Any, ...]] = []
        self.held: list[int] = []
        """Our ends of the pipes whose other ends were handed out."""
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            if msg.header.fields.get(HeaderFields.member) != "Inhibit":
                continue
            r, w = os.pipe()
            self.calls.append(tuple(msg.body))
            self.held.append(r)
            self.conn.send(new_method_return(msg, "h", (w,)))
            os.close(w)  # the copy handed out is cdfs's now

    def released(self, index: int, timeout: float = 60) -> bool:
        """Whether lock ``index`` was let go (EOF on our end) within timeout."""
        ready, _, _ = select.select([self.held[index]], [], [], timeout)
        return bool(ready) and os.read(self.held[index], 1) == b""

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        self.conn.close()
        for fd in self.held:
            os.close(fd)


@pytest.fixture
def logind(private_bus: str) -> Iterator[FakeLogind]:
    fake = FakeLogind(private_bus)
    yield fake
    fake.close()


def test_held_while_recording_and_verifying(
    home: dict[str, str], mount: Any, private_bus: str, logind: FakeLogind
) -> None:
    home["DBUS_SYSTEM_BUS_ADDRESS"] = private_bus
    home["CDFS_FAULT_PAUSE"] = "verifying:5"
    m = mount()
    (m.path / "f.bin").write_bytes(os.urandom(300_000))
    assert logind.calls == [], "no lock while nothing is written"
    ticket = m.request(Path.touch, m.path / ".burn")
    m.wait_for(lambda s: s["burn"]["phase"] == "verifying")
    assert len(logind.calls) == 1
    what, who, why, mode = logind.calls[0]
    assert (what, who, mode) == ("sleep:idle", "cdfs", "block") and why
    assert not logind.released(0, timeout=0), "let go while verifying"
    assert m.wait_for_burn(ticket)["ok"]
    assert logind.released(0), "still held after the burn"
    assert len(logind.calls) == 1, "one lock for recording and verifying"


def test_burn_image_holds_it_too(
    tmp_path: Path, home: dict[str, str], private_bus: str, logind: FakeLogind
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a\n")
    iso = tmp_path / "a.iso"
    run(["xorriso", "-as", "mkisofs", "-R", "-o", str(iso), str(src)])
    disc = tmp_path / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    env = {**home, "DBUS_SYSTEM_BUS_ADDRESS": private_bus}
    cdfs(["burn-image", "--quiet", "--drive", str(disc), str(iso)], env)
    assert [c[0] for c in logind.calls] == ["sleep:idle"]
    assert str(iso) in logind.calls[0][2]
    assert logind.released(0)


def test_silent_without_logind(
    home: dict[str, str], mount: Any, make_disc: Any, private_bus: str
) -> None:
    # A system bus with no logind on it, then no system bus at all.
    for i, address in enumerate((private_bus, "unix:path=/nonexistent/system_bus_socket")):
        home["DBUS_SYSTEM_BUS_ADDRESS"] = address
        m = mount(make_disc("cd-r80", f"disc{i}.iso"), name=f"mnt{i}")
        (m.path / "f.txt").write_bytes(b"x\n")
        res = m.burn()
        assert res.returncode == 0 and res.stderr == ""
        assert m.status()["last_burn"]["ok"]
