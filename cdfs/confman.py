"""The man page cdfs.conf(5), generated from the settings' definitions.

Owns the page's text: every key of :class:`cdfs.config.Settings` with its
default, its scope (system only, or system and user) and the docstring
written under its field in :mod:`cdfs.config` (read from the module's
source, so the page cannot drift from it), plus the auto-mount unit of
:mod:`cdfs.system`.  ``make man`` writes it to ``man/cdfs.conf.5``
(``python -m cdfs.confman``).
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

from cdfs import __version__, config, system

UDEV_RULES = Path(__file__).resolve().parent.parent / "udev" / "61-cdfs.rules"


def udev_lines() -> list[str]:
    """The rules of udev/61-cdfs.rules, without its comments."""
    try:
        text = UDEV_RULES.read_text()
    except OSError:
        return []
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def field_docs() -> dict[str, str]:
    """Each field of Settings and the docstring under it."""
    tree = ast.parse(inspect.getsource(config))
    cls = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == config.Settings.__name__
    )
    docs: dict[str, str] = {}
    for field, doc in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field.target.id] = " ".join(doc.value.value.replace("``", "").split())
    return docs


def roff(text: str) -> str:
    """Plain text made safe for roff: backslashes, hyphens, leading dots."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.splitlines())  # fmt: skip


def render() -> str:
    docs = field_docs()
    defaults = config.Settings()
    out = [
        f'.TH CDFS.CONF 5 "" "cdfs {__version__}" "cdfs manual"',
        ".SH NAME",
        "cdfs.conf \\- settings of cdfs, the disc recorder as a file system",
        ".SH SYNOPSIS",
        f"\\fI{config.SYSTEM_CONFIG}\\fR",
        ".br",
        "\\fI~/.config/cdfs/config.toml\\fR",
        ".SH DESCRIPTION",
        "Settings are TOML \\fIkey\\fR = \\fIvalue\\fR lines, read from the system file, "
        "then the user's (\\fB$XDG_CONFIG_HOME/cdfs/config.toml\\fR), the later winning; "
        "\\fBcdfs config set\\fR writes the user's.",
        "Unknown keys and bad values are refused with a message naming them, never ignored.",
        "Keys may be written with \\- or _.",
        "System settings may be set in the system file only: a user's file that sets one "
        "is refused.",
        "\\fBcdfs burn\\fR flags and \\fB.burn\\fR lines override the recording settings "
        "for one burn.",
        ".SH SETTINGS",
    ]
    for key in config.KEYS:
        default = config.show(getattr(defaults, key)) or "(empty)"
        scope = "system only" if key in config.SYSTEM_KEYS else "system and user"
        out += [
            ".TP",
            f"\\fB{key}\\fR (default: \\fB{roff(default)}\\fR; {scope})",
            roff(docs.get(key, "")),
        ]
    out += [
        ".SH EXAMPLE",
        ".nf",
        roff(
            "# /etc/cdfs/config.toml: only members of cdrom may burn\n"
            'burn_policy = "group"\nburn_group = "cdrom"\nverify = "quick"'
        ),
        ".fi",
        ".SH FILES",
        ".TP",
        f".I {config.SYSTEM_CONFIG}",
        "System settings, and who may burn.",
        ".TP",
        ".I ~/.config/cdfs/config.toml",
        "The user's settings.",
        ".TP",
        ".I ~/.config/systemd/user/cdfs@.service",
        "The auto\\-mount unit \\fBcdfs enable\\fR installs (\\fICDFS\\fR: the \\fBcdfs\\fR "
        "on the PATH):",
        ".PP",
        ".nf",
        ".RS",
        roff(system.unit_text("CDFS")),
        ".RE",
        ".fi",
        ".TP",
        ".I /etc/udev/rules.d/61\\-cdfs.rules",
        "Installed by root from \\fIudev/61\\-cdfs.rules\\fR: marks recorders "
        "(\\fBCDFS_RECORDER=1\\fR), gives the seat's user access, and starts each "
        "logged\\-in user's \\fBcdfs@\\fR\\fIKERNEL\\fR\\fB.service\\fR on each insertion "
        "(users who ran \\fBcdfs enable\\fR have it):",
        ".PP",
        ".nf",
        ".RS",
        roff("\n".join(udev_lines())),
        ".RE",
        ".fi",
        ".SH ENVIRONMENT",
        ".TP",
        f".B {config.SYSTEM_CONFIG_ENV}",
        f"Another system file instead of \\fI{config.SYSTEM_CONFIG}\\fR: taken only when "
        "root owns it and no one else may write it.",
        ".SH SEE ALSO",
        "\\fBcdfs\\fR(1), \\fBmount.fuse3\\fR(8), \\fBfuse\\fR(8), \\fBsystemd.unit\\fR(5)",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
