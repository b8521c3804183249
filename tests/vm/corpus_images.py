"""The discs of the main suite's corpus, made on the host for the VM lane's
guest kernel to read (tests/vm/test_vm_corpus.py): ``python -m
tests.vm.corpus_images OUTDIR`` (run by tests/vm/run.sh).

Each tree of tests/test_corpus.py's CORPUS (names, limits, collisions, deep
trees, symlinks, modes, owners, sparse files, timestamps, many files) is
burned as test_corpus.py burns it (a real cdfs mount of an emulated CD-R,
``cdfs burn``); a disc of ten sessions as tests/test_multisession.py burns
it, with the reference tree of each session; and a DVD+R holding a file over
4 GiB (two extents), made sparse.  OUTDIR/manifest.json says, for each disc
and session, where the session starts and what a Rock Ridge reader must
show (test_corpus.py's listings)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import test_corpus as tc
import test_multisession as tm

from conftest import Mount, cdfs

SESSIONS = 10
BIG = 4 * 2**30 + 3 * 2048 + 5
BIG_MARKERS = {0: b"START", tc.MAX_EXTENT - 3: b"ACROSS", 2**32: b"4 GiB", BIG - 3: b"END"}
BIG_MTIME = 1_700_000_000


def sessions_of(disc: Path, env: dict[str, str]) -> list[int]:
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return [int(s["start"]) for s in info["sessions"]]


def corpus_disc(name: str, work: Path, out: Path) -> dict[str, Any]:
    t = tc.CORPUS[name]
    b = tc.burn_tree(t, work)
    shutil.move(b.disc, out / f"{name}.iso")
    # The kernel shows the (empty) relocation directory, as xorriso does.
    want = tc.rock_ridge_view(t, shows_rr_moved=True)
    return {"disc": f"{name}.iso", "sessions": [{"start": 0, "want": want}]}


def multisession_disc(work: Path, out: Path) -> dict[str, Any]:
    env = tc._home(work)
    disc = work / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], env)
    ref = work / "ref"
    ref.mkdir()
    mnt = work / "mnt"
    mnt.mkdir()
    m = Mount(mnt, disc, env, log=work / "mnt.log", extra=["--no-burn-on-unmount"])
    m.start()
    wants = []
    try:
        for k in range(1, SESSIONS + 1):
            tm.stage_session(mnt, k)
            tm.stage_session(ref, k)
            m.burn()
            # Folders get the time of this run: only files' times are fixed.
            wants.append(
                [
                    (p, {f: v for f, v in a.items() if a["kind"] != "dir" or f != "mtime"})
                    for p, a in tc.local_view(ref)
                ]
            )
    finally:
        m.stop(check=False)
        m.kill()
    starts = sessions_of(disc, env)
    assert len(starts) == SESSIONS, starts
    shutil.move(disc, out / "sessions.iso")
    return {
        "disc": "sessions.iso",
        "sessions": [{"start": s, "want": w} for s, w in zip(starts, wants, strict=True)],
    }


def big_file_disc(work: Path, out: Path) -> dict[str, Any]:
    env = tc._home(work)
    src = work / "big.bin"
    with src.open("wb") as f:
        f.truncate(BIG)
        for at, piece in BIG_MARKERS.items():
            f.seek(at)
            f.write(piece)
    os.utime(src, (BIG_MTIME, BIG_MTIME))
    disc = work / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "dvd+r"], env)
    mnt = work / "mnt"
    mnt.mkdir()
    m = Mount(mnt, disc, env, log=work / "mnt.log", extra=["--no-burn-on-unmount"])
    m.start()
    try:
        tc.run(["cp", "-a", "--sparse=always", str(src), str(mnt / "big.bin")], timeout=1200)
        (mnt / "small.txt").write_bytes(b"next to a big one\n")
        os.utime(mnt / "small.txt", (BIG_MTIME, BIG_MTIME))
        cdfs(["burn", "--wait", "--quiet", str(mnt)], env, timeout=3000)
    finally:
        m.stop(check=False)
        m.kill()
    # The zeros between the markers as holes: the share stays small.
    subprocess.run(["fallocate", "--dig-holes", str(disc)], check=True, timeout=600)
    shutil.move(disc, out / "big.iso")
    small = {"kind": "file", "size": 18, "mtime": BIG_MTIME, "sha": tc.sha_of(
        tc.F("small.txt", b"next to a big one\n"))}  # fmt: skip
    markers = {str(k): v.decode() for k, v in BIG_MARKERS.items()}
    return {
        "disc": "big.iso",
        "big": {"path": "big.bin", "size": BIG, "mtime": BIG_MTIME, "markers": markers},
        "sessions": [{"start": 0, "want": [("small.txt", small)]}],
    }


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    discs = []
    with tempfile.TemporaryDirectory(prefix="cdfs-vm-corpus-") as tmp:
        makers = [(n, lambda w, n=n: corpus_disc(n, w, out)) for n in tc.CORPUS]
        makers += [("sessions", lambda w: multisession_disc(w, out))]
        if not os.environ.get("CDFS_VM_NO_BIG"):
            makers += [("big", lambda w: big_file_disc(w, out))]
        for name, make in makers:
            start = time.monotonic()
            work = Path(tmp, name)
            work.mkdir()
            discs.append({"name": name, **make(work)})
            shutil.rmtree(work)
            print(f"corpus: {name} in {time.monotonic() - start:.0f} s", file=sys.stderr)
    (out / "manifest.json").write_text(json.dumps({"discs": discs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
