"""The simulated recorder behind a faked /dev/sr0.

Run as ``umockdev-wrapper /usr/bin/python3 -m tests.mmc.bed`` (umockdev's
GObject API needs Debian's PyGObject, python3-gi) with the worktree on
PYTHONPATH.  A umockdev testbed fakes ``/sys/.../block/sr0`` with the
``ID_CDROM_*`` properties systemd's cdrom_id sets, and ``/dev/sr0``; an
``UMockdev.IoctlBase`` attached to it answers every ioctl a program under
umockdev's preload library sends there: SG_IO carries the SCSI commands to
:class:`tests.mmc.model.Drive`, the others (SCSI address, drive status,
block size) are answered here.  Reads of /dev/sr0 go to the node's file,
which is the loaded disc's image (a hard link to it), so a reader sees the
disc's sectors at their place.

Control, one JSON object a line on stdin; one JSON answer a line on stdout:
  {"op": "env"}                                 UMOCKDEV_DIR for child processes
  {"op": "insert", "image": P, "media": T}      load a disc (created blank if new)
  {"op": "eject", "force": bool}                take it out (refused while locked)
  (both send udev's change uevent unless "uevent": false)
  {"op": "faults", ...}                         fail_write_at, busy (a count), busy_writing
  {"op": "disc", ...}                           wp, opc_fails of the loaded disc
  {"op": "state"}                               lock, disc, unknown opcodes/ioctls, log
It ends when stdin closes.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
from typing import Any

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import Gio, GLib, UMockdev  # noqa: E402

from tests.mmc.model import Disc, Drive, Interrupted, Sense  # noqa: E402

SYSPATH = "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sr0"

SG_IO = 0x2285
SG_GET_SCSI_ID = 0x2276
SG_GET_VERSION_NUM = 0x2282
SCSI_IOCTL_GET_IDLUN = 0x5382
SCSI_IOCTL_GET_BUS_NUMBER = 0x5386
CDROM_DRIVE_STATUS = 0x5326
CDROM_MEDIA_CHANGED = 0x5325
CDROM_GET_CAPABILITY = 0x5331
CDROMEJECT = 0x5309
CDROMCLOSETRAY = 0x5319
CDROM_LOCKDOOR = 0x5329
BLKGETSIZE = 0x1260
BLKFLSBUF = 0x1261
BLKSSZGET = 0x1268
BLKGETSIZE64 = 0x80081272
HDIO_GET_IDENTITY = 0x030D
NOT_A_SR_IOCTL = {HDIO_GET_IDENTITY}
"""ioctls the kernel's sr driver answers ENOTTY (libburn tries them on any drive)."""
ENOTTY, EBUSY, ENOMEDIUM = 25, 16, 123
SG_DXFER_TO_DEV = -2
HDR = 88
"""sizeof(sg_io_hdr_t) on x86_64."""


def _client_gone(exc: Exception) -> bool:
    """Whether ``exc`` is umockdev's stream to the program breaking: the
    program was killed while its ioctl waited for an answer."""
    return isinstance(exc, GLib.Error) and exc.matches(
        Gio.io_error_quark(), Gio.IOErrorEnum.BROKEN_PIPE
    )


class Handler:
    """Answers the ioctls of /dev/sr0 from the drive model."""

    def __init__(self, drive: Drive) -> None:
        self.drive = drive
        self.unknown_ioctls: list[str] = []
        self.clients_gone = 0
        """ioctls whose program was killed before they were answered (by
        its caller's timeout, say): nothing to answer, and no model defect."""
        self.base = UMockdev.IoctlBase()
        self.base.connect("handle-ioctl", self.handle)

    def handle(self, _base: Any, client: Any) -> bool:
        req = client.get_request() & 0xFFFFFFFF
        arg = client.get_arg()
        try:
            res, err = self.ioctl(req, arg)
        except Interrupted:
            client.abort()  # the client exits at once, as if the power went off
            return True
        except Exception as exc:  # never leave the client hanging
            if _client_gone(exc):
                self.clients_gone += 1
                return True
            self.unknown_ioctls.append(f"0x{req:X} raised {exc!r}")
            res, err = -1, 5
        try:
            client.complete(res, err)
        except GLib.Error as exc:
            if not _client_gone(exc):
                raise
            self.clients_gone += 1
        return True

    def _put(self, arg: Any, data: bytes) -> None:
        arg.resolve(0, len(data)).update(0, data)

    def ioctl(self, req: int, arg: Any) -> tuple[int, int]:
        drive = self.drive
        if req == SG_IO:
            return self.sg_io(arg)
        if req == SG_GET_SCSI_ID:  # host, channel, id, lun, type 5 (ROM)
            self._put(arg, struct.pack("iiiiihhii", 0, 0, 0, 0, 5, 1, 1, 0, 0))
        elif req == SG_GET_VERSION_NUM:
            self._put(arg, struct.pack("i", 30536))
        elif req == SCSI_IOCTL_GET_BUS_NUMBER:
            self._put(arg, struct.pack("i", 0))
        elif req == SCSI_IOCTL_GET_IDLUN:
            self._put(arg, struct.pack("ii", 0, 0))
        elif req == CDROM_DRIVE_STATUS:
            with drive.lock:
                return (2 if drive.tray_open else 1) if drive.disc is None else 4, 0
        elif req == CDROM_MEDIA_CHANGED:
            return 0, 0
        elif req == CDROM_GET_CAPABILITY:
            return 0x1 | 0x2 | 0x4 | 0x10 | 0x2000 | 0x4000, 0
        elif req == CDROMEJECT:
            return (0, 0) if drive.eject() else (-1, EBUSY)
        elif req in (CDROMCLOSETRAY, BLKFLSBUF, CDROM_LOCKDOOR):
            return 0, 0
        elif req in (BLKGETSIZE64, BLKGETSIZE, BLKSSZGET):
            with drive.lock:
                if drive.disc is None:
                    return -1, ENOMEDIUM
                size = drive.disc.readable_end() * 2048
            if req == BLKGETSIZE64:
                self._put(arg, struct.pack("Q", size))
            elif req == BLKGETSIZE:
                self._put(arg, struct.pack("L", size // 512))
            else:
                self._put(arg, struct.pack("i", 2048))
        else:
            if req not in NOT_A_SR_IOCTL:
                self.unknown_ioctls.append(f"0x{req:X}")
            return -1, ENOTTY
        return 0, 0

    def sg_io(self, arg: Any) -> tuple[int, int]:
        hdr = arg.resolve(0, HDR)
        raw = bytes(hdr.retrieve())
        _iid, direction, cmd_len, mx_sb_len, _iov, dxfer_len = struct.unpack_from("iiBBHI", raw, 0)
        cdb = bytes(hdr.resolve(24, cmd_len).retrieve())
        buf = hdr.resolve(16, dxfer_len) if dxfer_len else None
        data_out = (
            bytes(buf.retrieve()) if buf is not None and direction == SG_DXFER_TO_DEV else b""
        )
        alloc = dxfer_len if direction != SG_DXFER_TO_DEV else 0
        try:
            out = self.drive.command(cdb, data_out, alloc)
        except Sense as s:
            sense = s.data()[:mx_sb_len]
            if mx_sb_len and sense:
                hdr.resolve(32, mx_sb_len).update(0, sense)
            # status CHECK CONDITION, masked 1, sb_len_wr; driver_status DRIVER_SENSE
            hdr.update(64, bytes([2, 1, 0, len(sense)]) + struct.pack("HHi", 0, 8, dxfer_len))
            return 0, 0
        if out and buf is not None:
            buf.update(0, out)
        resid = dxfer_len - len(out) if direction != SG_DXFER_TO_DEV else 0
        hdr.update(64, bytes([0, 0, 0, 0]) + struct.pack("HHi", 0, 0, resid))
        return 0, 0


class Bed:
    def __init__(self) -> None:
        self.testbed = UMockdev.Testbed.new()
        self.root = self.testbed.get_root_dir()
        self.node = os.path.join(self.root, "dev", "sr0")
        self.drive = Drive()
        self.handler = Handler(self.drive)
        self.syspath = self.testbed.add_from_string(self._description())
        self.syspath = "/sys" + SYSPATH
        self.testbed.attach_ioctl("/dev/sr0", self.handler.base)
        self.lock = threading.Lock()

    @staticmethod
    def _description() -> str:
        props = {
            "SUBSYSTEM": "block",
            "DEVTYPE": "disk",
            "DEVNAME": "/dev/sr0",
            "ID_CDROM": "1",
            "ID_CDROM_CD": "1",
            "ID_CDROM_CD_R": "1",
            "ID_CDROM_CD_RW": "1",
            "ID_CDROM_DVD": "1",
            "ID_CDROM_DVD_R": "1",
            "ID_CDROM_DVD_RW": "1",
            "ID_CDROM_DVD_PLUS_R": "1",
            "ID_CDROM_DVD_PLUS_RW": "1",
            "ID_CDROM_BD": "1",
            "ID_CDROM_BD_R": "1",
            "ID_CDROM_BD_RE": "1",
            "ID_TYPE": "cd",
            "ID_BUS": "ata",
            "ID_VENDOR": "CDFSSIM",
            "ID_MODEL": "MMC_RECORDER",
            "ID_MODEL_ENC": "MMC\\x20RECORDER",
            "ID_REVISION": "1.0",
        }
        lines = [f"P: {SYSPATH}", "N: sr0"]
        lines += [f"E: {k}={v}" for k, v in props.items()]
        lines += ["A: dev=11:0", "A: size=0", "A: removable=1", "A: ro=0"]
        return "\n".join(lines) + "\n"

    def _link(self, image: str | None) -> None:
        """Make the node's file the disc's image, or an empty file."""
        os.unlink(self.node)
        if image is None:
            with open(self.node, "wb"):
                pass
        else:
            os.link(image, self.node)
        os.chmod(self.node, 0o1644)  # the sticky bit: a block device to the preload

    def _media_props(self, disc: Disc | None) -> dict[str, str]:
        if disc is None:
            return {"ID_CDROM_MEDIA": "0", "DISK_EJECT_REQUEST": "1", "DISK_MEDIA_CHANGE": "1"}
        state = {0: "blank", 1: "appendable", 2: "complete", 3: "complete"}[disc.status]
        flag = "ID_CDROM_MEDIA_" + disc.media.rstrip("0123456789").upper().replace(
            "-", "_"
        ).replace("+", "_PLUS_").replace("__", "_")
        props = {
            "ID_CDROM_MEDIA": "1",
            flag: "1",
            "ID_CDROM_MEDIA_STATE": state,
            "DISK_MEDIA_CHANGE": "1",
            "DISK_EJECT_REQUEST": "0",
        }
        if disc.tracks:
            props["ID_CDROM_MEDIA_SESSION_COUNT"] = str(len(disc.sessions()))
            props["ID_CDROM_MEDIA_TRACK_COUNT"] = str(len(disc.tracks))
        return props

    def _uevent(self, props: dict[str, str]) -> None:
        for key, value in props.items():
            self.testbed.set_property(self.syspath, key, value)
        self.testbed.uevent(self.syspath, "change")

    def serve(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        drive = self.drive
        if op == "env":
            return {"UMOCKDEV_DIR": self.root, "node": self.node}
        if op == "insert":
            image = req["image"]
            disc = (
                Disc.load(image)
                if Disc.meta_path(image).exists()
                else Disc.create(image, req["media"])
            )
            with drive.lock:
                if drive.disc is not None:
                    return {"error": "a disc is loaded"}
                self._link(image)
                drive.insert(disc)
            if req.get("uevent", True):
                self._uevent(self._media_props(disc))
            return {"ok": True}
        if op == "eject":
            with drive.lock:
                if not drive.eject(force=req.get("force", False)):
                    return {"ok": False, "locked": True}
                self._link(None)
            if req.get("uevent", True):
                self._uevent(self._media_props(None))
            return {"ok": True}
        if op == "faults":
            with drive.lock:
                for key, value in req.items():
                    if key != "op":
                        setattr(drive.faults, key, value)
            return {"ok": True}
        if op == "disc":
            with drive.lock:
                assert drive.disc is not None, "no disc loaded"
                for key, value in req.items():
                    if key != "op":
                        setattr(drive.disc, key, value)
                drive.disc.save()
            return {"ok": True}
        if op == "state":
            with drive.lock:
                disc = drive.disc
                return {
                    "locked": drive.locked,
                    "disc": None
                    if disc is None
                    else json.loads(json.dumps(disc.__dict__, default=vars)),
                    "status": None if disc is None else disc.status,
                    "nwa": None if disc is None else disc.nwa(),
                    "unknown": list(drive.unknown),
                    "unknown_ioctls": list(self.handler.unknown_ioctls),
                    "clients_gone": self.handler.clients_gone,
                    "log": drive.log[-400:],
                    "writes_unlocked": drive.writes_unlocked,
                    "track_write_types": drive.track_write_types,
                    "eject_refused_while_writing": drive.eject_refused_while_writing,
                    "busy_left": drive.faults.busy,
                    "busy_answers": drive.busy_answers,
                }
        return {"error": f"unknown op {op}"}


def main() -> None:
    bed = Bed()
    for line in sys.stdin:
        try:
            answer = bed.serve(json.loads(line))
        except Exception as exc:
            answer = {"error": repr(exc)}
        print(json.dumps(answer), flush=True)
    with bed.drive.lock:
        if bed.drive.disc is not None:
            bed.drive.disc.save()


if __name__ == "__main__":
    main()
