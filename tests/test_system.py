"""Auto-mount (issue 17 item 1): ``cdfs enable``/``disable``, the user unit
``cdfs@.service`` and the udev rule that starts it.

What runs here: the unit as ``cdfs enable`` writes it passes
``systemd-analyze verify`` (with a private runtime directory; ``--man=no``,
as the man pages are not installed in the system's man path here), and a
broken copy of it does not; enable/disable install and remove it; the unit's
ExecStart and ExecStop, run as written with systemd's specifiers filled in,
mount an emulated disc, burn on stop and unmount; ``udevadm test`` runs the
rule (made to match this machine's disk, given the properties cdrom_id sets)
and shows it tagging a recorder for systemd and asking for the unit, and
asking nothing for a drive that only reads.  What cannot run here (no udev
daemon, no user systemd, no optical drive): udev starting the unit on an
insertion.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cdfs, run

ROOT = Path(__file__).resolve().parent.parent
# Debian's udevadm: installed, else the one `make test` takes out of the
# udev package into the venv (installing udev would open /dev/fuse to all).
UDEVADM = shutil.which("udevadm") or str(Path(sys.executable).parent.parent / "udev" / "udevadm")


def units(home: dict[str, str]) -> Path:
    return Path(home["XDG_CONFIG_HOME"]) / "systemd" / "user"


def verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` of instance sr0 of the template ``unit``."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    where = tmp_path / "verify"
    where.mkdir(exist_ok=True)
    shutil.copy(unit, where / "cdfs@.service")
    return run(
        ["systemd-analyze", "verify", "--man=no", "--user", str(where / "cdfs@sr0.service")],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        check=False,
    )


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def test_enable_installs_the_unit_and_disable_removes_it(home: dict[str, str]) -> None:
    out = cdfs(["enable", "/dev/sr0"], home).stdout
    unit = units(home) / "cdfs@.service"
    link = units(home) / "default.target.wants" / "cdfs@sr0.service"
    assert f"installed {unit}" in out and "enabled cdfs@sr0.service" in out
    assert link.is_symlink() and os.readlink(link) == "../cdfs@.service"
    text = unit.read_text()
    assert "BindsTo=dev-%i.device" in text and "TimeoutStopSec=150min" in text
    assert "WantedBy=default.target" in text
    cdfs(["enable", "sr1"], home)
    assert "disabled cdfs@sr0.service" in cdfs(["disable"], home).stdout
    assert not link.is_symlink() and unit.exists()  # sr1 still uses it
    out = cdfs(["disable", "sr1"], home).stdout
    assert f"removed {unit}" in out and not unit.exists()
    res = cdfs(["enable", "sda"], home, check=False)
    assert res.returncode == 2 and "not a recorder's kernel name" in res.stderr


@needs_analyze
def test_the_unit_passes_systemd_analyze_verify(home: dict[str, str], tmp_path: Path) -> None:
    cdfs(["enable"], home)
    unit = units(home) / "cdfs@.service"
    res = verify(unit, tmp_path)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    # The check is not blind: a broken unit is reported.
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace("TimeoutStopSec=150min", "TimeoutStopSec=soon"))
    assert "Failed to parse" in verify(broken, tmp_path).stderr


def unit_command(text: str, key: str, mountpoint: Path) -> list[str]:
    """A unit's command line with systemd's specifiers filled in."""
    line = next(x for x in text.splitlines() if x.startswith(f"{key}="))
    command = line.split("=", 1)[1].replace("${CDFS_MOUNTPOINT}", str(mountpoint))
    return shlex.split(command)


def test_the_units_commands_mount_and_stop_burns_and_unmounts(
    home: dict[str, str], tmp_path: Path
) -> None:
    cdfs(["enable"], home)
    text = (units(home) / "cdfs@.service").read_text()
    disc = tmp_path / "disc.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    mp = tmp_path / "Recorder-sr0"
    mp.mkdir()
    start = [w.replace("/dev/%I", str(disc)) for w in unit_command(text, "ExecStart", mp)]
    assert start[0] in (shutil.which("cdfs"), sys.executable)
    daemon = subprocess.Popen(start, env=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mp):
            assert daemon.poll() is None and time.monotonic() < deadline, daemon.stderr
            time.sleep(0.05)
        (mp / "a.txt").write_text("auto\n")
        run(unit_command(text, "ExecStop", mp), env=home)
        assert not os.path.ismount(mp)
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            subprocess.run(["fusermount3", "-u", "-z", str(mp)], check=False, timeout=30)
            daemon.kill()
            daemon.wait(timeout=30)
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)
    assert len(info["sessions"]) == 1
    assert run(["isoinfo", "-i", str(disc), "-R", "-x", "/a.txt"]).stdout == "auto\n"


def test_the_udev_rule_asks_for_the_user_unit_of_recorders() -> None:
    rules = (ROOT / "udev" / "61-cdfs.rules").read_text().splitlines()
    active = [line for line in rules if line and not line.startswith("#")]
    wants = [line for line in active if "SYSTEMD_USER_WANTS" in line]
    assert wants == [
        'ENV{CDFS_RECORDER}=="1", TAG+="systemd", ENV{SYSTEMD_USER_WANTS}+="cdfs@%k.service"'
    ]
    # After the lines that set CDFS_RECORDER, before the end label.
    assert active.index(wants[0]) > max(
        i for i, line in enumerate(active) if 'ENV{CDFS_RECORDER}="1"' in line
    )
    assert active.index(wants[0]) < active.index('LABEL="cdfs_end"')


def udev_test(tmp_path: Path, fake: str) -> str:
    """``udevadm test`` of this machine's disk vda, in a private mount
    namespace whose /etc/udev/rules.d holds only ``fake`` (properties that
    cdrom_id would set for a drive) and the cdfs rule made to match vda
    instead of sr*: what the rule does for such a drive."""
    rules = tmp_path / "rules.d"
    rules.mkdir(parents=True)
    (rules / "60-fake.rules").write_text(f'KERNEL=="vda", {fake}\n')
    text = (ROOT / "udev" / "61-cdfs.rules").read_text()
    assert 'KERNEL!="sr[0-9]*"' in text
    (rules / "61-cdfs.rules").write_text(text.replace('KERNEL!="sr[0-9]*"', 'KERNEL!="vda"'))
    # /etc seen through an overlay in the private namespace: the rules
    # directory exists there even where udev is not installed.
    upper, work = tmp_path / "etc-upper", tmp_path / "etc-work"
    upper.mkdir()
    work.mkdir()
    res = run(
        ["unshare", "-m", "--propagation", "private", "sh", "-ec",
         f"mount -t overlay cdfs-etc -o lowerdir=/etc,upperdir={upper},workdir={work} /etc\n"
         "mkdir -p /etc/udev/rules.d\n"
         f"mount --bind {rules} /etc/udev/rules.d\n"
         f"{shlex.quote(UDEVADM)} test --action=add /sys/class/block/vda"],
        check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "Reading rules file: /etc/udev/rules.d/61-cdfs.rules" in out
    assert "nvalid" not in out and "rror" not in out, out
    return out


@pytest.mark.skipif(
    not os.path.exists("/sys/class/block/vda") or os.geteuid() != 0,
    reason="needs root (a mount namespace) and a disk named vda",
)  # fmt: skip
def test_udevadm_test_shows_the_rule_asking_for_the_unit(tmp_path: Path) -> None:
    out = udev_test(
        tmp_path / "rw", 'ENV{ID_CDROM}="1", ENV{ID_CDROM_CD_RW}="1", ENV{ID_CDROM_MEDIA}="1"'
    )
    props = set(out.splitlines())
    assert {"CDFS_RECORDER=1", "SYSTEMD_USER_WANTS=cdfs@vda.service"} <= props
    assert "SYSTEMD_READY=0" not in props
    assert any(p.startswith("TAGS=") and ":systemd:" in p and ":uaccess:" in p for p in props)
    # With no disc, on any event (not only the kernel's media-change ones, as
    # systemd's 60-cdrom_id.rules): the device unit is inactive, so that the
    # next disc makes it active again and starts the unit.
    out = udev_test(tmp_path / "empty", 'ENV{ID_CDROM}="1", ENV{ID_CDROM_CD_RW}="1"')
    assert "SYSTEMD_READY=0" in out.splitlines()
    # A drive that only reads discs is no recorder: nothing is asked for it.
    out = udev_test(tmp_path / "ro", 'ENV{ID_CDROM}="1", ENV{ID_CDROM_CD}="1"')
    assert "CDFS_RECORDER=1" not in out and "SYSTEMD_USER_WANTS" not in out
