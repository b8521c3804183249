"""Who may burn (issue 17 item 2) and shared mounts (item 3), with a second,
unprivileged user created for the test.

The user, its group and the system settings file are made by
:mod:`users` (see there what the setup changes and undoes).
"""

from __future__ import annotations

import grp
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Mount, cdfs, run
from users import User, mounted

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates users: needs root")


def set_policy(path: Path, text: str) -> None:
    path.write_text(text)


def user_mount(u: User, disc: Path, *extra: str, name: str = "mnt") -> Path:
    mp = u.home / name
    u.run(["mkdir", "-p", str(mp)])
    u.cdfs(["mount", "--drive", str(disc), *extra, str(mp)])
    assert mounted(mp)
    return mp


def user_disc(u: User, media: str = "cd-r80") -> Path:
    disc = u.home / f"{media}.iso"
    u.cdfs(["media", "create", str(disc), "--type", media])
    return disc


def sessions(u: User, disc: Path) -> int:
    import json

    return len(json.loads(u.cdfs(["media", "info", "--json", str(disc)]).stdout)["sessions"])


# -- the setting is the system's --------------------------------------------


def test_a_user_config_cannot_set_who_may_burn(home: dict[str, str], tmp_path: Path) -> None:
    conf = Path(home["XDG_CONFIG_HOME"]) / "cdfs" / "config.toml"
    res = cdfs(["config", "set", "burn_policy", "everyone"], home, check=False)
    assert res.returncode == 2
    assert "burn_policy is a system setting" in res.stderr
    assert "/etc/cdfs/config.toml" in res.stderr
    assert not conf.exists()
    conf.parent.mkdir(parents=True)
    conf.write_text('burn_group = "users"\n')
    res = cdfs(["config", "get"], home, check=False)
    assert res.returncode == 2
    assert "burn_group is a system setting" in res.stderr and str(conf) in res.stderr


def test_the_system_file_sets_it_and_config_get_says_where(
    home: dict[str, str], system_config: Path
) -> None:
    system_config.write_text('burn_policy = "root"\nburn_group = "wheel"\n')
    env = {**home, "CDFS_SYSTEM_CONFIG": str(system_config)}
    out = cdfs(["config", "get"], env).stdout
    assert f"burn_policy = root  # {system_config}" in out
    assert f"burn_group = wheel  # {system_config}" in out
    assert "burn_policy = everyone  # default" in cdfs(["config", "get"], home).stdout


def test_a_system_file_others_can_write_is_not_taken(
    home: dict[str, str], system_config: Path
) -> None:
    system_config.chmod(0o666)
    env = {**home, "CDFS_SYSTEM_CONFIG": str(system_config)}
    res = cdfs(["config", "get"], env, check=False)
    assert res.returncode == 2
    assert "must be owned by root and writable by no one else" in res.stderr


# -- a user the policy does not let burn -------------------------------------


def test_a_user_outside_the_group_mounts_and_reads_but_cannot_burn(
    user: User, system_config: Path
) -> None:
    set_policy(system_config, f'burn_policy = "group"\nburn_group = "{user.group}"\n')
    disc = user_disc(user)
    mp = user_mount(user, disc)
    user.run(["sh", "-c", f"echo hello > {mp}/a.txt"])
    assert user.run(["cat", f"{mp}/a.txt"]).stdout == "hello\n"

    res = user.run(["touch", f"{mp}/.burn"], check=False)
    assert res.returncode == 1 and "Permission denied" in res.stderr
    status = user.run(["cat", f"{mp}/.status"]).stdout
    assert "burn_policy = group in /etc/cdfs/config.toml: root and members of group " in status
    assert f"{user.name} may not burn" in status

    res = user.cdfs(["burn", "--wait", "-q", str(mp)], check=False)
    assert res.returncode == 9, res.stderr
    assert f"members of group {user.group} may burn" in res.stderr

    res = user.run(["sh", "-c", f"echo simulate=yes > {mp}/.burn"], check=False)
    assert res.returncode != 0 and "Permission denied" in res.stderr

    # Unmounting does not burn either; the files stay staged for later.
    res = user.cdfs(["umount", "-q", str(mp)], check=False)
    assert res.returncode == 9, res.stderr
    assert "not burned on unmount (the staged files are kept)" in res.stderr
    assert not mounted(mp)
    assert sessions(user, disc) == 0

    # Once in the group (a new login: new processes have it), the same
    # staged file burns, and is on the disc byte for byte.
    user.join()
    mp = user_mount(user, disc)
    assert user.run(["cat", f"{mp}/a.txt"]).stdout == "hello\n"
    res = user.cdfs(["burn", "--wait", "-q", str(mp)], check=False)
    assert res.returncode == 0, res.stderr
    user.cdfs(["umount", "-q", str(mp)])
    assert sessions(user, disc) == 1
    out = run(["isoinfo", "-i", str(disc), "-R", "-x", "/a.txt"]).stdout
    assert out == "hello\n"


def test_root_policy_refuses_erase_and_burn_image_without_a_mount(
    user: User, system_config: Path, tmp_path: Path
) -> None:
    set_policy(system_config, 'burn_policy = "root"\n')
    disc = user_disc(user, "cd-rw80")
    res = user.cdfs(["erase", "--yes", "-q", str(disc)], check=False)
    assert res.returncode == 9, res.stderr
    assert "burn_policy = root" in res.stderr and "root only may burn" in res.stderr

    src = user.home / "src"
    user.run(["mkdir", str(src)])
    user.run(["sh", "-c", f"echo x > {src}/x"])
    image = user.home / "image.iso"
    run(["runuser", "-u", user.name, "--", "xorriso", "-outdev", f"stdio:{image}", "-map",
         str(src), "/"])  # fmt: skip
    res = user.cdfs(["burn-image", "-q", "--drive", str(disc), str(image)], check=False)
    assert res.returncode == 9, res.stderr
    assert "root only may burn" in res.stderr
    assert sessions(user, disc) == 0

    # The erase through a mount is refused the same way (EACCES).
    mp = user_mount(user, disc)
    res = user.cdfs(["erase", "--yes", "-q", str(mp)], check=False)
    assert res.returncode == 9, res.stderr
    assert "root only may burn" in res.stderr
    res = user.run(["setfattr", "-n", "user.cdfs.erase", "-v", "quick", str(mp)], check=False)
    assert res.returncode != 0 and "Permission denied" in res.stderr
    user.cdfs(["umount", "-q", str(mp)])


def test_everyone_is_the_default(user: User) -> None:
    disc = user_disc(user)
    mp = user_mount(user, disc)
    user.run(["sh", "-c", f"echo hi > {mp}/b"])
    res = user.cdfs(["burn", "--wait", "-q", str(mp)], check=False)
    assert res.returncode == 0, res.stderr
    user.cdfs(["umount", "-q", str(mp)])
    assert sessions(user, disc) == 1


# -- shared mounts ------------------------------------------------------------


@pytest.fixture
def shared(user: User, system_config: Path, home: dict[str, str]) -> Iterator[Mount]:
    """A rewritable disc mounted by root with -o allow_other, at a mount
    point the test user can reach; burn_policy = group, the test's group."""
    set_policy(system_config, f'burn_policy = "group"\nburn_group = "{user.group}"\n')
    top = Path(f"/tmp/cdfs-shared-{secrets.token_hex(4)}")
    top.mkdir(mode=0o755)
    env = {**home, "CDFS_SYSTEM_CONFIG": str(system_config)}
    disc = top / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-rw80"], env)
    (top / "mnt").mkdir()
    m = Mount(top / "mnt", disc, env, log=top / "mount.log", extra=["-o", "allow_other"])
    m.start()
    try:
        yield m
    finally:
        m.kill()
        shutil.rmtree(top, ignore_errors=True)


def test_a_shared_mount_checks_modes_and_lets_only_the_group_burn(
    user: User, shared: Mount
) -> None:
    mp = shared.path
    (mp / "public.txt").write_text("for all\n")
    (mp / "public.txt").chmod(0o644)
    (mp / "secret.txt").write_text("root's\n")
    (mp / "secret.txt").chmod(0o600)
    assert user.run(["cat", f"{mp}/public.txt"]).stdout == "for all\n"
    res = user.run(["cat", f"{mp}/secret.txt"], check=False)
    assert res.returncode == 1 and "Permission denied" in res.stderr
    res = user.run(["sh", "-c", f"echo x > {mp}/mine.txt"], check=False)
    assert res.returncode != 0 and "Permission denied" in res.stderr

    st = os.stat(mp / ".burn")
    assert stat.S_IMODE(st.st_mode) == 0o664
    assert st.st_gid == grp.getgrnam(user.group).gr_gid

    # Not in the group: the kernel refuses .burn (its mode), cdfs burn says why.
    requests = shared.status()["requests"]
    res = user.run(["touch", f"{mp}/.burn"], check=False)
    assert res.returncode == 1 and "Permission denied" in res.stderr
    res = user.cdfs(["burn", "--wait", "-q", str(mp)], check=False)
    assert res.returncode == 9, res.stderr
    assert "is another user's" in res.stderr and user.group in res.stderr

    # The root directory made writable for all: setting the erase attribute
    # passes the kernel's check, and cdfs refuses it for the policy.
    os.chmod(mp, 0o777)
    res = user.run(["setfattr", "-n", "user.cdfs.erase", "-v", "quick", str(mp)], check=False)
    assert res.returncode != 0 and "Permission denied" in res.stderr
    message = shared.status()["last_burn"]["message"]
    assert f"{user.name} may not burn or erase on the mount of root" in message
    assert shared.status()["requests"] == requests

    # In the group (a new login), the user's burn is taken and recorded.
    user.join()
    res = user.cdfs(["burn", "--wait", "-q", str(mp)], check=False)
    assert res.returncode == 0, res.stderr
    assert shared.status()["requests"] == requests + 1
    shared.stop()
    out = run(["isoinfo", "-i", str(shared.disc), "-R", "-x", "/public.txt"]).stdout
    assert out == "for all\n"
