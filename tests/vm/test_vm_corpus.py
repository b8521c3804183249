"""The main suite's corpus read by one more reader, the guest kernel's
isofs (issue 16): every disc tests/vm/corpus_images.py burned on the host
(test_corpus.py's trees, ten sessions as test_multisession.py burns them, a
file over 4 GiB), each session mounted with ``-o loop,sbsector=START``, must
show what test_corpus.py says a Rock Ridge reader shows: names byte for
byte (but for one limit of the kernel's, KERNEL_NAME_MAX), the (empty)
relocation directory of deep trees, sizes, checksums, mtimes, modes, owners
and symlink targets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import test_corpus as tc

from vm import lane

pytestmark = pytest.mark.vm

CORPUS = Path(os.environ.get("CDFS_VM_CORPUS", "/mnt/share/corpus"))
FIELDS = {"kind", "size", "sha", "mtime", "mode", "uid", "gid", "target"}
"""What the kernel shows of Rock Ridge entries (atime too, but the corpus's
copies by rsync and tar set it when they copied)."""


def _manifest() -> list[dict[str, Any]]:
    try:
        return list(json.loads((CORPUS / "manifest.json").read_text())["discs"])
    except FileNotFoundError:
        return []


DISCS = _manifest()


def _cases() -> list[Any]:
    cases = [
        pytest.param(d, i, id=f"{d['name']}-session{i + 1}")
        for d in DISCS
        for i in range(len(d["sessions"]))
    ]
    return cases or [pytest.param(None, 0, id="no-corpus")]


def kernel_quirks(a: tc.Attrs) -> tc.Attrs:
    """What the kernel's isofs shows differently of what the disc holds."""
    return a


@pytest.mark.parametrize(("disc", "index"), _cases())
def test_the_kernels_isofs_reads_every_session_of_the_corpus(
    disc: dict[str, Any] | None, index: int, drive: lane.Drive
) -> None:
    if disc is None:
        if os.environ.get("CDFS_VM_NO_CORPUS"):
            pytest.skip("CDFS_VM_NO_CORPUS: no corpus discs were made")
        raise AssertionError(f"no corpus discs in {CORPUS}: tests/vm/corpus_images.py did not run")
    session = disc["sessions"][index]
    want = [(p, kernel_quirks(a)) for p, a in tc.project(session["want"], FIELDS)]
    image = CORPUS / disc["disc"]
    big = disc.get("big")
    with drive.kernel_mount(image, "loop", f"sbsector={session['start']}") as iso:
        got = tc.local_view(iso, read=not big)
        if big:
            got = [(p, a) for p, a in got if p != big["path"]]
            for p, a in got:
                if a["kind"] == "file":
                    a["sha"] = lane.sha256_file(iso / p)
            check_big(iso / big["path"], big)
    got = long_names_shown_whole(got, want)
    tc.compare(want, got, f"{disc['name']} session {index + 1} read by the kernel's isofs")


KERNEL_NAME_MAX = 253
"""Linux's isofs (fs/isofs/rock.c) stops reading a Rock Ridge name (NM)
that would reach 254 bytes: it keeps the NM pieces read so far, so a name of
254 or 255 bytes (which the disc holds whole: xorriso, bsdtar and pycdlib
read it, tests/test_corpus.py) shows as a shorter prefix of its bytes."""


def long_names_shown_whole(got: tc.Listing, want: tc.Listing) -> tc.Listing:
    """``got`` with each name the kernel cut short (a strict prefix of the
    bytes of a wanted name over KERNEL_NAME_MAX bytes, in the same folder)
    put back whole; every other name, and every attribute, as read."""
    long: dict[str, list[bytes]] = {}
    for p, _a in want:
        parent, _, name = p.rpartition("/")
        if len(os.fsencode(name)) > KERNEL_NAME_MAX:
            long.setdefault(parent, []).append(os.fsencode(name))
    renamed: dict[str, str] = {}

    def whole(path: str) -> str:
        if path in renamed:
            return renamed[path]
        parent, _, name = path.rpartition("/")
        parent = whole(parent) if parent else ""
        raw = os.fsencode(name)
        full = [n for n in long.get(parent, []) if n.startswith(raw) and len(raw) < len(n)]
        if len(full) == 1:
            name = os.fsdecode(full[0])
        renamed[path] = f"{parent}/{name}".lstrip("/")
        return renamed[path]

    return [(whole(p), a) for p, a in got]


def check_big(path: Path, big: dict[str, Any]) -> None:
    """A file over 4 GiB (two extents): its size, mtime, the bytes at each
    marker (one across the extents' boundary, one past 4 GiB) and zeros
    around them; reading all of it through a 9p share under emulation would
    take minutes."""
    st = path.stat()
    assert (st.st_size, int(st.st_mtime)) == (big["size"], big["mtime"])
    markers = {int(at): piece.encode() for at, piece in big["markers"].items()}

    def expected(lo: int, n: int) -> bytes:
        buf = bytearray(max(0, min(n, big["size"] - lo)))
        for at, piece in markers.items():
            for i, byte in enumerate(piece):
                if 0 <= at + i - lo < len(buf):
                    buf[at + i - lo] = byte
        return bytes(buf)

    with path.open("rb") as f:
        for at in markers:
            lo = max(0, at - 4096)
            f.seek(lo)
            assert f.read(8192) == expected(lo, 8192), f"big.bin around {at}"
