"""``make install`` puts ``cdfs`` on the PATH (issue 11, item 9)."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import run

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def make(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = run(
        ["make", "-s", "-C", str(REPO), *args],
        env=env or {**os.environ, "PATH": SYSTEM_PATH},
        check=False,
        timeout=300,
    )
    return res.returncode, res.stdout + res.stderr


def test_make_install_puts_cdfs_on_the_path(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    code, out = make("install", f"PREFIX={prefix}")
    assert code == 0, out
    link = prefix / "bin" / "cdfs"
    assert link.is_symlink() and link.resolve() == (REPO / ".venv" / "bin" / "cdfs").resolve()
    assert f"{prefix / 'bin'} is not on your PATH yet" in out
    env = {"PATH": f"{prefix / 'bin'}:{SYSTEM_PATH}", "HOME": str(tmp_path)}
    res = run(["cdfs", "--help"], env=env, cwd=tmp_path)
    assert res.stdout.startswith("usage: cdfs")
    res = run(["cdfs", "media", "create", str(tmp_path / "d.iso"), "--type", "cd-r80"], env=env)
    assert "created blank CD-R 80 min" in res.stdout
    # Once on the PATH, nothing more to say; and it can be undone.
    code, out = make("install", f"PREFIX={prefix}", env={**os.environ, **env})
    assert code == 0 and "not on your PATH" not in out, out
    code, out = make("uninstall", f"PREFIX={prefix}")
    assert code == 0 and not link.exists() and not link.is_symlink(), out


def test_make_install_goes_to_the_users_local_bin(tmp_path: Path) -> None:
    # As a user other than root (the Makefile then uses sudo for apt-get).
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PATH": SYSTEM_PATH, "HOME": str(home)}
    code, out = make("install", "SUDO=sudo", env=env)
    assert code == 0, out
    link = home / ".local" / "bin" / "cdfs"
    assert link.is_symlink()
    res = run(["cdfs", "--version"], env={**env, "PATH": f"{link.parent}:{SYSTEM_PATH}"})
    assert res.stdout.startswith("cdfs")


def test_make_install_leaves_a_cdfs_it_did_not_make_alone(tmp_path: Path) -> None:
    bindir = tmp_path / "prefix" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "cdfs").write_text("#!/bin/sh\necho another cdfs\n")
    code, out = make("install", f"PREFIX={tmp_path / 'prefix'}")
    assert code != 0 and "is not a link made by 'make install'" in out
    assert (bindir / "cdfs").read_text() == "#!/bin/sh\necho another cdfs\n"
    code, out = make("uninstall", f"PREFIX={tmp_path / 'prefix'}")
    assert code == 0 and (bindir / "cdfs").exists()


def test_an_existing_venv_is_updated_with_its_own_python(tmp_path: Path) -> None:
    """When pyproject.toml is newer than the venv, `make` updates the venv
    through the venv's own interpreter, and never makes the venv again with
    whatever python3 the PATH has now (that left the checkout's venv with one
    Python's binary and another's standard library)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "calls"
    stub = venv / "bin" / "python"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    stub.chmod(0o755)
    code, out = make("venv", f"VENV={venv}")
    assert code == 0, out
    assert not (venv / "pyvenv.cfg").exists(), "the venv was made again over the existing one"
    assert "-m pip install -q -e .[test]" in calls.read_text().splitlines()
    assert (venv / ".installed").exists()
