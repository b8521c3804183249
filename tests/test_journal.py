"""The burn journal's file: written entry by entry (issue 18: a journal
lists every staged name of a session), read back by the standard JSON
parser and by :func:`cdfs.burn.journal.read` as it was written."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

from cdfs.burn import journal


def _journal(entries: tuple[journal.Entry, ...], stash: str = "") -> journal.Journal:
    return journal.Journal(40, 1200, 'lab"el\\ é', 2, 99, "2026-12-05T08:00:00", entries, stash)


ODD = (
    journal.Entry(b'a "quoted"\\name', "file", (12, 0o100644, 1000, 1000, 7, 1764921600123456789)),
    journal.Entry(b"\xff\xfe not utf-8/\n", "symlink", (13, 0o120777, 0, 0, 3, 0)),
    journal.Entry(b"dir", "dir", (14, 0o40755, 1000, 1000)),
)


def test_written_journal_is_json_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "burn-journal.json"
    for entries, stash in ((ODD, ""), ((), "/stash/x"), (ODD[:1], "")):
        j = _journal(entries, stash)
        journal.write(path, j)
        data = json.loads(path.read_bytes())
        assert data["entries"] == [[e.rel.hex(), e.kind, list(e.key)] for e in entries]
        assert (data["label"], data["stash"], data["verified"]) == (j.label, stash, False)
        assert journal.read(path) == j
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_mark_verified_with_the_written_journal(tmp_path: Path) -> None:
    path = tmp_path / "burn-journal.json"
    j = _journal(ODD, "/stash/y")
    journal.write(path, j)
    journal.mark_verified(path, j)
    assert journal.read(path) == dataclasses.replace(j, verified=True)
    other = tmp_path / "other.json"
    journal.write(other, j)
    journal.mark_verified(other)  # read back from the file
    assert other.read_bytes() == path.read_bytes()
