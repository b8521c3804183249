"""The man pages (issue 17 item 5): cdfs.conf(5) is generated from the
settings' definitions and lists every setting with its default and scope;
both pages pass groff's lint (``groff -man -ww -z``: every warning on) and
render with ``man -l``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdfs import config, confman

from conftest import run

MAN = Path(__file__).resolve().parent.parent / "man"
PAGES = [MAN / "cdfs.1", MAN / "cdfs.conf.5"]
needs_groff = pytest.mark.skipif(shutil.which("groff") is None, reason="groff-base missing")


def lint(page: Path) -> str:
    res = run(["groff", "-man", "-ww", "-z", str(page)], check=False)
    return f"{res.returncode} {res.stderr}".strip()


def test_cdfs_conf_5_is_generated_from_the_settings() -> None:
    assert (MAN / "cdfs.conf.5").read_text() == confman.render(), "run 'make man' and commit"


def test_cdfs_conf_5_lists_every_setting_its_default_and_scope() -> None:
    page = confman.render()
    docs = confman.field_docs()
    assert set(docs) == set(config.KEYS)
    for key in config.KEYS:
        default = config.show(getattr(config.Settings(), key)) or "(empty)"
        scope = "system only" if key in config.SYSTEM_KEYS else "system and user"
        assert f"\\fB{key}\\fR (default: \\fB{confman.roff(default)}\\fR; {scope})" in page
    assert "burn_policy" in config.SYSTEM_KEYS and "system only" in page
    assert "TimeoutStopSec=150min" in page
    assert "SYSTEMD_USER_WANTS" in page


@needs_groff
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_man_pages_pass_groff_lint(page: Path) -> None:
    assert lint(page) == "0"


@needs_groff
def test_the_lint_is_not_blind(tmp_path: Path) -> None:
    broken = tmp_path / "broken.5"
    broken.write_text(confman.render().replace(".SH SETTINGS", ".SH SETTINGS\n\\qbad escape"))
    assert "warning" in lint(broken)


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db missing")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_man_l_shows_the_pages(page: Path) -> None:
    res = run(["man", "-l", str(page)], env={"PATH": "/usr/bin:/bin", "MANPAGER": "cat",
                                               "PAGER": "cat", "LANG": "C.UTF-8"})  # fmt: skip
    assert "NAME" in res.stdout and "cdfs" in res.stdout
