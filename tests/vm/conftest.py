"""Fixtures of the VM lane's tests (tests marked ``vm``, run inside the
guest by ``make vmtest``): they fail anywhere else rather than pass."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vm import lane


@pytest.fixture(autouse=True)
def in_the_guest() -> None:
    if not os.environ.get("CDFS_VM"):
        pytest.fail("this test runs inside the VM lane's guest: make vmtest")


@pytest.fixture
def drive(tmp_path: Path) -> Iterator[lane.Drive]:
    """CDEmu's drive (the one of the whole boot), empty at the start and at
    the end of the test; mounts made with it are undone."""
    d = lane.Drive(tmp_path)
    d.unload()
    try:
        yield d
    finally:
        d.cleanup()
