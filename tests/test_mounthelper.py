"""``mount -t fuse.cdfs`` and fstab lines (issue 17 item 4).

mount(8) runs mount.fuse3, which runs ``cdfs SOURCE MOUNTPOINT -o OPTIONS``
through /bin/sh with a fixed PATH (/usr/local/sbin:/usr/local/bin:...).
The tests run in a private mount namespace (``unshare -m``) in which a
folder holding a ``cdfs`` for this checkout is bind-mounted over
/usr/local/bin (what ``make install`` does as root) and a test fstab over
/etc/fstab: the machine's own stay untouched, and so do other mounts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cdfs, run
from users import User

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")


@pytest.fixture
def place(home: dict[str, str]) -> Iterator[Path]:
    """A folder others may reach, with bin/cdfs for this checkout."""
    top = Path(f"/tmp/cdfs-fstab-{secrets.token_hex(4)}")
    top.mkdir(mode=0o755)
    (top / "bin").mkdir()
    wrapper = top / "bin" / "cdfs"
    path = os.pathsep.join([str(ROOT), *__import__("site").getsitepackages()])
    python = sys.executable if os.path.realpath(sys.executable).startswith("/usr/") else None
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH={path} exec {python or "/usr/bin/python3"} -m cdfs "$@"\n'
    )
    wrapper.chmod(0o755)
    (top / "mnt").mkdir(mode=0o777)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def in_namespace(place: Path, script: str, env: dict[str, str]) -> str:
    """Run ``script`` (sh, ``set -e``) in a private mount namespace with
    ``place/bin`` over /usr/local/bin and ``place/fstab`` over /etc/fstab."""
    fstab = place / "fstab"
    if not fstab.exists():
        fstab.write_text("")
    setup = f"mount --bind {place}/bin /usr/local/bin\nmount --bind {fstab} /etc/fstab\n"
    res = run(
        ["unshare", "-m", "--propagation", "private", "sh", "-ec", setup + script],
        env=env,
        check=False,
        timeout=120,
    )
    assert res.returncode == 0, f"{script}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def sessions(disc: Path, env: dict[str, str], want: int) -> int:
    """The disc's sessions, waiting (up to a minute) for ``want``: the daemon
    burns after the unmount, in the background."""
    deadline = time.monotonic() + 60
    while True:
        n = len(json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)["sessions"])
        if n >= want or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def test_mount_t_fuse_cdfs_mounts_and_umount_burns(place: Path, home: dict[str, str]) -> None:
    disc = place / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    mp = place / "mnt"
    out = in_namespace(
        place,
        f"mount -t fuse.cdfs -o names=strict,close_policy=always {disc} {mp}\n"
        f"grep ' {mp} ' /proc/self/mounts\n"
        f"echo hello > {mp}/a.txt\n"
        f"cat {mp}/.status\n"
        f"umount {mp}\n",
        home,
    )
    assert f"cdfs {mp} fuse.cdfs rw,nosuid,nodev" in out
    assert "default_permissions" in out
    assert sessions(disc, home, 1) == 1
    assert run(["isoinfo", "-i", str(disc), "-R", "-x", "/a.txt"]).stdout == "hello\n"
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)
    assert info["state"] == "closed", info  # close_policy=always came through -o


def test_an_fstab_line_with_noauto_user_lets_a_user_mount_it(
    place: Path, user: User, home: dict[str, str]
) -> None:
    discs = place / "discs"  # the user's: the emulated recorder writes beside its disc
    discs.mkdir()
    disc = discs / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-rw80"], home)
    for path in (discs, disc, Path(f"{disc}.toc")):
        os.chown(path, user.uid, user.gid)
    mp = place / "mnt"
    os.chown(mp, user.uid, user.gid)
    (place / "fstab").write_text(f"{disc} {mp} fuse.cdfs noauto,user,x-gvfs-show 0 0\n")
    env = " ".join(f"{k}={v}" for k, v in user.env.items())
    as_user = f"runuser -u {user.name} -- env -i {env}"
    out = in_namespace(
        place,
        f"mount -a\n"  # noauto: not mounted by mount -a
        f"! grep ' {mp} ' /proc/self/mounts\n"
        f"{as_user} mount {mp}\n"
        f"grep ' {mp} ' /proc/self/mounts\n"
        f"{as_user} sh -c 'echo from-user > {mp}/u.txt'\n"
        f"{as_user} umount {mp}\n",
        home,
    )
    assert f"user_id={user.uid}" in out
    assert sessions(disc, home, 1) == 1
    assert run(["isoinfo", "-i", str(disc), "-R", "-x", "/u.txt"]).stdout == "from-user\n"


def test_bad_mount_options_are_refused_naming_them(tmp_path: Path, home: dict[str, str]) -> None:
    disc = tmp_path / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    (tmp_path / "mnt").mkdir()
    res = cdfs([str(disc), str(tmp_path / "mnt"), "-o", "rw,bogus"], home, check=False)
    assert res.returncode == 2 and "unknown mount option 'bogus'" in res.stderr
    res = cdfs([str(disc), str(tmp_path / "mnt"), "-o", "ro"], home, check=False)
    assert res.returncode == 2 and "remove the ro option" in res.stderr
    assert not os.path.ismount(tmp_path / "mnt")
