"""The burn journal: what a burn is about to record, written before the
recording starts, so that a daemon killed at any moment can tell on its
next start whether the session made it onto the disc.

Owns the journal file's format and its atomic, private (0600) writes.
Deciding what to do with it is :func:`cdfs.burn.recovery.recover`'s job.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from cdfs import private
from cdfs.errors import MediaError


@dataclass(frozen=True, slots=True)
class Entry:
    """One staged item the burn covers: its relative path, kind and the
    stat key that says it was not changed since."""

    rel: bytes
    kind: str
    key: tuple[int, ...]


@dataclass(frozen=True)
class Journal:
    start: int
    sectors: int
    label: str
    files: int
    bytes: int
    started: str
    entries: tuple[Entry, ...]
    stash: str = ""
    """Set for a rewrite: the stash holds the whole disc while it is blank."""
    verified: bool = False
    """The recorded session passed the verification the burn asked for
    (full or quick); until then a recovery must read it back itself."""


def write(path: Path, journal: Journal) -> None:
    data = {
        "start": journal.start,
        "sectors": journal.sectors,
        "label": journal.label,
        "files": journal.files,
        "bytes": journal.bytes,
        "started": journal.started,
        "stash": journal.stash,
        "verified": journal.verified,
    }
    # The entries encoded one by one into the text: a journal lists every
    # staged name of the session (100,000 and more), and a list of lists
    # for json.dumps would cost several times the text (issue 18).
    kinds: dict[str, str] = {}
    entries = ",".join(
        f'["{e.rel.hex()}",{kinds.get(e.kind) or kinds.setdefault(e.kind, json.dumps(e.kind))},'
        f"[{','.join(map(str, e.key))}]]"
        for e in journal.entries
    )
    text = f'{json.dumps(data)[:-1]}, "entries": [{entries}]}}'
    del entries
    private.write_file(path, text.encode(), sync=True)


def read(path: Path) -> Journal | None:
    try:
        data = json.loads(path.read_text())
        return Journal(
            start=int(data["start"]),
            sectors=int(data["sectors"]),
            label=str(data["label"]),
            files=int(data["files"]),
            bytes=int(data["bytes"]),
            started=str(data["started"]),
            entries=tuple(
                Entry(bytes.fromhex(rel), str(kind), tuple(int(k) for k in key))
                for rel, kind, key in data["entries"]
            ),
            stash=str(data.get("stash", "")),
            verified=data.get("verified") is True,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MediaError(
            f"the burn journal {path} is damaged ({exc}); move it away to "
            "mount, the staged files are untouched"
        ) from None


def mark_verified(path: Path, written: Journal | None = None) -> None:
    """Record (atomically) that the journal's session passed verification.
    ``written``: the journal as it was written, if the caller still has it
    (saves reading back a file that lists every name of the session)."""
    journal = written if written is not None else read(path)
    if journal is not None:
        write(path, replace(journal, verified=True))


def clear(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
