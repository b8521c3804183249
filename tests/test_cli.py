"""The command line without a mount: help, man page, option parsing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cdfs.burn.options import parse_burn_options
from cdfs.cli import build_parser
from cdfs.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


def test_man_page_is_generated_from_the_parser(tmp_path: Path) -> None:
    out = tmp_path / "cdfs.1"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "argparse-manpage"),
            "--module",
            "cdfs.cli",
            "--function",
            "build_parser",
            "--project-name",
            "cdfs",
            "--prog",
            "cdfs",
            "--version",
            "0.1.0",
            "--description",
            "burn discs like Windows XP did: the recorder as a file system",
            "--include",
            str(ROOT / "man" / "cdfs.include"),
            "--manual-title",
            "cdfs manual",
            "--output",
            str(out),
        ],
        check=True,
        timeout=60,
        capture_output=True,
        cwd=ROOT,
    )

    def body(p: Path) -> list[str]:
        return [line for line in p.read_text().splitlines() if not line.startswith(".TH")]

    assert body(out) == body(ROOT / "man" / "cdfs.1"), "run 'make man' and commit man/cdfs.1"


def test_every_command_has_help() -> None:
    parser = build_parser()
    for cmd in (
        ["mount"],
        ["umount"],
        ["burn"],
        ["status"],
        ["media", "create"],
        ["media", "info"],
    ):
        res = subprocess.run(
            [sys.executable, "-m", "cdfs", *cmd, "--help"],
            timeout=60,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "usage: cdfs " + " ".join(cmd) in res.stdout
    args = parser.parse_args(["burn", "--label", "X", "--wait", "/mnt"])
    assert args.label == "X" and args.wait


def test_burn_options_parse_and_refuse() -> None:
    assert parse_burn_options("").label is None
    assert parse_burn_options("# comment\n\nlabel = My Disc\n").label == "My Disc"
    for bad in ("colour=blue\n", "label\n", "label=\n"):
        try:
            parse_burn_options(bad)
        except UsageError as exc:
            assert str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
