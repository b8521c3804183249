"""A burn you can trust: settings, progress, checks, verification, and
nothing lost when the daemon is killed or writers race with burns."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_extract, xorriso_listing


def wait_phase(m: Any, phases: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        s = m.status()
        if s["burn"]["phase"] in phases:
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.02)


def sessions(disc: Path, env: dict[str, str]) -> list[dict[str, int]]:
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return list(info["sessions"])


def test_config_get_set_and_refusals(home: dict[str, str]) -> None:
    out = cdfs(["config", "get"], home).stdout
    assert "verify = full  # default" in out and "burn_on_unmount = yes" in out
    assert cdfs(["config", "set", "verify", "quick"], home).returncode == 0
    assert cdfs(["config", "get", "verify"], home).stdout.strip() == "quick"
    cdfs(["config", "set", "speed", "8"], home)
    assert cdfs(["config", "get", "speed"], home).stdout.strip() == "8"
    for args, word in (
        (["set", "colour", "blue"], "unknown setting"),
        (["set", "verify", "sometimes"], "must be one of"),
        (["set", "speed", "fast"], "must be a positive number"),
        (["set", "eject", "perhaps"], "yes or no"),
        (["get", "colour"], "unknown setting"),
    ):
        res = cdfs(["config", *args], home, check=False)
        assert res.returncode == 2 and word in res.stderr and "Traceback" not in res.stderr
    cfg = Path(home["XDG_CONFIG_HOME"]) / "cdfs" / "config.toml"
    assert 'verify = "quick"' in cfg.read_text()
    cfg.write_text(cfg.read_text() + "colour = 1\n")
    res = cdfs(["config", "get"], home, check=False)
    assert res.returncode == 2 and "colour" in res.stderr


def test_settings_apply_to_burns(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    cdfs(["config", "set", "burn_on_unmount", "no"], home)
    cdfs(["config", "set", "simulate", "yes"], home)
    disc = make_disc()
    m = mount(disc)
    (m.path / "f.txt").write_text("f")
    res = m.burn()
    assert "simulated" in res.stdout and "nothing was written" in res.stdout
    assert os.getxattr(m.path / "f.txt", "user.cdfs.state") == b"staged"
    assert sessions(disc, home) == []
    res = m.burn("--label", "real")  # a .burn line overrides the setting
    assert res.returncode == 0
    with open(m.path / ".burn", "w") as f:
        f.write("simulate=no\n")
    deadline = time.monotonic() + 60
    while not sessions(disc, home):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (m.path / "g.txt").write_text("g")
    assert m.stop() == 0
    # burn_on_unmount = no: g.txt stayed staged.
    assert len(sessions(disc, home)) == 1 and "g.txt" not in xorriso_listing(disc)


def test_progress_phases_and_speed(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc(), "--no-burn-on-unmount")
    (m.path / "data.bin").write_bytes(os.urandom(3_000_000))
    seen: dict[str, dict[str, Any]] = {}
    t = threading.Thread(target=lambda: m.burn("--speed", "4"))
    t.start()
    deadline = time.monotonic() + 60
    while t.is_alive() and time.monotonic() < deadline:
        burn = m.status()["burn"]
        seen.setdefault(burn["phase"], burn)
        if burn["phase"] == "recording" and burn["percent"] > 0:
            seen["recording"] = burn
        time.sleep(0.05)
    t.join(timeout=60)
    rec = seen["recording"]
    assert 0 < rec["percent"] <= 100 and rec["bytes_total"] > 3_000_000
    assert rec["x_factor"] is not None and rec["x_factor"] > 0
    assert rec["seconds_remaining"] is not None
    text_status = "recording" in seen and "done" in seen
    assert text_status, seen.keys()
    assert m.status()["last_burn"]["ok"]


def test_check_messages(tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    # Staged data over the free space: said by how much, nothing written.
    disc = make_disc("cd-r74")
    m = mount(disc, "--no-burn-on-unmount")
    with open(m.path / "big.bin", "wb") as f:
        f.truncate(m.status()["available_bytes"] - 2_000_000)
    (m.path / "more.txt").write_text("more")
    m.stop()
    # Another program wrote a session meanwhile: the staged data no longer fits.
    iso = tmp_path / "other.iso"
    src = tmp_path / "other"
    src.mkdir()
    (src / "x").write_bytes(os.urandom(5_000_000))
    run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(iso), str(src)])
    from cdfs.recorders.emulated import EmulatedRecorder

    EmulatedRecorder(disc).record(iso, EmulatedRecorder(disc).disc_info().nwa or 0)
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    res = m2.burn(check=False)
    assert res.returncode == 6  # no space (README's exit codes)
    assert "The disc in the drive is not writable or it is full" in res.stderr
    assert "MB more than is free" in res.stderr
    assert (m2.path / "more.txt").read_text() == "more"
    assert len(sessions(disc, home)) == 1


def test_not_enough_room_for_the_stash(tmp_path: Path, mount: Any) -> None:
    small = tmp_path / "small"
    small.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)])
    try:
        m = mount(None, "--stash-dir", str(small), "--no-burn-on-unmount")
        (m.path / "two.bin").write_bytes(os.urandom(2_000_000))
        res = m.burn(check=False)
        assert res.returncode == 6  # no space (README's exit codes)
        assert "not enough free disk space for the stash file" in res.stderr
        assert "MB needed" in res.stderr and "MB available" in res.stderr
        assert os.getxattr(m.path / "two.bin", "user.cdfs.state") == b"staged"
        m.kill()
    finally:
        subprocess.run(["umount", "-l", str(small)], timeout=30, check=False)


def test_no_disc_in_the_drive(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"remove_after_bytes": 4096})
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "f.bin").write_bytes(os.urandom(100_000))
    res = m.burn(check=False)
    assert res.returncode == 1 and "removed" in res.stderr.lower()
    assert os.getxattr(m.path / "f.bin", "user.cdfs.state") == b"staged"


@pytest.mark.parametrize("mode", ["full", "quick"])
def test_corrupted_sector_fails_verification(
    mount: Any, make_disc: Any, home: dict[str, str], mode: str
) -> None:
    # A byte inside the file data (past the 16 system sectors and the
    # directory tree) goes wrong on the way to the disc, silently.
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"corrupt_at_byte": 200_000})
    m = mount(make_disc(), "--no-burn-on-unmount")
    (m.path / "data.bin").write_bytes(os.urandom(1_000_000))
    res = m.burn("--verify", mode, check=False)
    assert res.returncode == 1, res.stdout
    assert "verification failed" in res.stderr
    assert m.status()["last_burn"]["ok"] is False
    assert os.getxattr(m.path / "data.bin", "user.cdfs.state") == b"staged"


def test_verification_none_skips_reading(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"corrupt_at_byte": 200_000})
    m = mount(make_disc(), "--no-burn-on-unmount")
    (m.path / "data.bin").write_bytes(os.urandom(1_000_000))
    assert m.burn("--verify", "none").returncode == 0


@pytest.mark.parametrize("phase", ["checking", "mastering", "recording", "verifying"])
def test_kill_9_in_every_phase(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], phase: str
) -> None:
    disc = make_disc()
    m0 = mount(disc, "--no-burn-on-unmount", name="m0")
    (m0.path / "old.txt").write_text("burned first\n")
    m0.burn()
    m0.stop()
    # Fault knobs are read by the daemon when it starts.
    if phase == "recording":
        home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 20.0})
    else:
        home["CDFS_FAULT_PAUSE"] = phase
    m = mount(disc, "--no-burn-on-unmount", name="m1")
    payload = {f"f{i}.bin": os.urandom(300_000) for i in range(4)}
    for name, data in payload.items():
        (m.path / name).write_bytes(data)
    subprocess.Popen([*_cdfs_cmd(), "burn", str(m.path)], env=home).wait(timeout=60)
    wait_phase(m, (phase,))
    time.sleep(0.3)
    assert m.proc is not None
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    m.kill()
    home.pop("CDFS_FAULT_PAUSE", None)
    home.pop("CDFS_EMULATED_FAULTS", None)
    # Remount: every staged file intact (or burned), earlier session readable.
    m2 = mount(disc, "--no-burn-on-unmount", name="m2")
    for name, data in payload.items():
        assert (m2.path / name).read_bytes() == data
    assert (m2.path / "old.txt").read_text() == "burned first\n"
    last = m2.status()["last_burn"]
    if phase == "recording":
        assert last and "interrupted before its session was recorded" in last["message"]
    if phase == "verifying":
        assert last and "had recorded its session" in last["message"]
    res = m2.burn()
    assert res.returncode == 0
    listing = xorriso_listing(disc, sessions(disc, home)[-1]["start"])
    for name in [*payload, "old.txt"]:
        assert name in listing
    out = tmp_path / "out"
    xorriso_extract(disc, out, sessions(disc, home)[-1]["start"])
    for name, data in payload.items():
        assert (out / name).read_bytes() == data
    if phase == "recording":
        # The interrupted session stays as wasted space; the next went after it.
        info = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)
        assert info["sessions"][-1]["start"] > info["sessions"][0]["start"] + 11_400 + 100


def _cdfs_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "cdfs"]


def test_second_burn_is_queued(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 2.0})
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "one.bin").write_bytes(os.urandom(500_000))
    run(["touch", str(m.path / ".burn")])
    wait_phase(m, ("recording",))
    (m.path / "two.bin").write_bytes(os.urandom(500_000))
    run(["touch", str(m.path / ".burn")])
    run(["touch", str(m.path / ".burn")])  # coalesced with the one before
    deadline = time.monotonic() + 120
    while len(sessions(disc, home)) < 2 or m.status()["burn"]["phase"] not in ("done",):
        assert time.monotonic() < deadline, m.status()
        time.sleep(0.1)
    time.sleep(0.5)
    assert len(sessions(disc, home)) == 2
    assert m.status()["last_burn"]["ok"]
    assert os.getxattr(m.path / "two.bin", "user.cdfs.state") == b"disc"


def test_parallel_writers_while_burning(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    disc = make_disc("dvd+r")
    m = mount(disc, "--no-burn-on-unmount")
    written: dict[str, str] = {}
    lock = threading.Lock()
    stop = time.monotonic() + 6

    def writer(n: int) -> None:
        i = 0
        while time.monotonic() < stop:
            data = os.urandom(1000 + (i * 7919 + n) % 50_000)
            name = f"w{n}/f{i}.bin"
            (m.path / f"w{n}").mkdir(exist_ok=True)
            (m.path / name).write_bytes(data)
            with lock:
                written[name] = hashlib.sha256(data).hexdigest()
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    burns = 0
    while any(t.is_alive() for t in threads):
        m.burn()
        burns += 1
    for t in threads:
        t.join()
    assert burns >= 2
    # Every file written is on the disc or still staged, with its bytes.
    for name, digest in written.items():
        data = (m.path / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    m.burn()
    assert list(m.staged().rglob("*.bin")) == []
    for name, digest in list(written.items())[:: max(1, len(written) // 50)]:
        assert hashlib.sha256((m.path / name).read_bytes()).hexdigest() == digest


def test_burn_image(tmp_path: Path, make_disc: Any, home: dict[str, str], mount: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.txt").write_text("hello from an image\n")
    iso = tmp_path / "image.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-J", "-R", "-o", str(iso), str(src)])
    disc = make_disc()
    res = cdfs(["burn-image", "--drive", str(disc), "-q", str(iso)], home)
    assert "full verification passed" in res.stdout
    out = tmp_path / "out"
    xorriso_extract(disc, out)
    assert (out / "hello.txt").read_text() == "hello from an image\n"
    # Only onto a blank disc, and only ISO images.
    res = cdfs(["burn-image", "--drive", str(disc), "-q", str(iso)], home, check=False)
    assert res.returncode != 0 and "blank disc" in res.stderr
    res = cdfs(
        ["burn-image", "--drive", str(make_disc(name="b.iso")), "-q", str(src / "hello.txt")],
        home,
        check=False,
    )
    assert res.returncode != 0 and "not an ISO 9660 image" in res.stderr
    # Not while the drive is mounted.
    blank = make_disc(name="c.iso")
    mount(blank)
    res = cdfs(["burn-image", "--drive", str(blank), "-q", str(iso)], home, check=False)
    assert res.returncode != 0 and "unmount it first" in res.stderr
