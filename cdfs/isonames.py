"""Names on a disc: the ISO 9660, Joliet and volume identifiers of a session.

This module owns the mapping from the exact names users gave (UTF-8 bytes,
kept verbatim in Rock Ridge) to the restricted names the other two trees of a
session need, and the checks that a name can be recorded at all.  The
mappings are deterministic and collision-free within a directory, so that
mastering never hands pycdlib a name it would reject (a failed add leaves a
pycdlib object unusable).

It does not touch pycdlib or the disc; :mod:`cdfs.mastering` uses it.

Rules, from ECMA-119 (ISO 9660) 7.5/7.6 and the Joliet specification:

- ISO 9660 level 3 file identifiers: d-characters ``A-Z 0-9 _``, one dot,
  name plus extension at most 30 characters, version ``;1``.  Directory
  identifiers: d-characters only; at most 31, of which we use 28 so that
  pycdlib's three-digit suffix for relocated directories still fits.
- Joliet: UCS-2, at most 64 characters; ``* / : ; ? \\`` and control
  characters are forbidden.  UCS-2 has no surrogates, so characters outside
  the Basic Multilingual Plane become ``_`` as well.
- Rock Ridge (NM): any bytes except ``/`` and NUL, at most 255 bytes.  cdfs
  stores names as UTF-8, so names must also be valid UTF-8.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable

from .errors import UsageError

RR_NAME_MAX = 255
"""Longest Rock Ridge name in bytes (what ``statfs`` reports as name max)."""

JOLIET_NAME_MAX = 64
"""Longest Joliet name in UCS-2 characters."""

ISO_FILE_MAX = 30
"""Longest ISO 9660 file identifier (name, dot and extension, no version)."""

ISO_DIR_MAX = 28
"""Longest ISO 9660 directory identifier we generate (31 minus 3 for the
suffix pycdlib appends to relocated directories whose names collide)."""

ISO_VOLUME_ID_MAX = 32
JOLIET_VOLUME_ID_MAX = 16

_ISO_VOLUME_ID_FALLBACK = "CDROM"
_ISO_EXT_MAX = 8
_JOLIET_EXT_MAX = 16
_D_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_JOLIET_FORBIDDEN = frozenset("*/:;?\\")


def show_path(path: Iterable[bytes]) -> str:
    """A path for messages: components joined by ``/``, undecodable bytes escaped."""
    return "/".join(c.decode("utf-8", "backslashreplace") for c in path)


def check_name(name: bytes, path: tuple[bytes, ...]) -> str:
    """Check that ``name`` (the last component of ``path``) can be recorded;
    return it decoded.  Raises UsageError naming the path."""
    where = show_path(path)
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise UsageError(f"invalid file name {where!r}")
    if len(name) > RR_NAME_MAX:
        raise UsageError(f"file name longer than {RR_NAME_MAX} bytes: {where!r}")
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"file name is not valid UTF-8: {where!r}") from None


def check_target(target: bytes, path: tuple[bytes, ...]) -> str:
    """Check a symlink target (non-empty UTF-8 without NUL); return it decoded."""
    where = show_path(path)
    if not target or b"\0" in target:
        raise UsageError(f"invalid symlink target for {where!r}")
    try:
        return target.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"symlink target is not valid UTF-8: {where!r}") from None


# -- ISO 9660 ----------------------------------------------------------------


def _d_string(text: str) -> str:
    """``text`` in d-characters: accents dropped, upper case, others as ``_``."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        up = ch.upper()
        out.append(up if up in _D_CHARS else "_")
    return "".join(out)


def _split_ext(text: str) -> tuple[str, str]:
    """Split at the last dot; a leading dot (``.profile``) is not a separator."""
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem:
        return text, ""
    return stem, ext


def _iso_candidate(name: str, is_dir: bool, suffix: str = "") -> str:
    """The ISO identifier wanted for ``name``, without version; ``suffix`` is
    inserted before the extension to resolve a collision."""
    if is_dir:
        stem = _d_string(name) or "_"
        return stem[: ISO_DIR_MAX - len(suffix)] + suffix
    stem, ext = _split_ext(name)
    ext_d = _d_string(ext)[:_ISO_EXT_MAX]
    room = ISO_FILE_MAX - len(suffix) - (len(ext_d) + 1 if ext_d else 0)
    stem_d = (_d_string(stem) or "_")[:room]
    return stem_d + suffix + ("." + ext_d if ext_d else "")


def iso_names(
    children: Iterable[tuple[str, bool]], reserved: Iterable[str] = ()
) -> dict[str, bytes]:
    """ISO 9660 identifiers for the children of one directory.

    ``children`` are (decoded name, is_dir) pairs; ``reserved`` identifiers
    are given to nobody.  Files get ``NAME.EXT;1`` (``NAME.;1`` without
    extension).  Readers strip the version and a trailing dot, so collisions
    are checked on that form, shared by files and directories.
    """
    items = sorted(children)
    wanted = {name: _iso_candidate(name, is_dir) for name, is_dir in items}
    chosen = _resolve(
        items,
        wanted,
        lambda name, is_dir, n: _iso_candidate(name, is_dir, f"_{n}"),
        key=str,
        taken=set(reserved),
    )
    return {
        name: (chosen[name] if is_dir else _iso_file_ident(chosen[name])).encode("ascii")
        for name, is_dir in items
    }


def _iso_file_ident(base: str) -> str:
    return (base if "." in base else base + ".") + ";1"


# -- Joliet ------------------------------------------------------------------


def _joliet_chars(text: str) -> str:
    return "".join(
        "_" if ch in _JOLIET_FORBIDDEN or ord(ch) < 0x20 or ord(ch) > 0xFFFF else ch for ch in text
    )


def _joliet_candidate(name: str, suffix: str = "") -> str:
    clean = _joliet_chars(name)
    stem, ext = _split_ext(clean)
    if len(ext) > _JOLIET_EXT_MAX:
        stem, ext = clean, ""
    tail = suffix + ("." + ext if ext else "")
    return stem[: JOLIET_NAME_MAX - len(tail)] + tail


def _joliet_key(name: str) -> str:
    # Windows compares names without case and ignores trailing dots and
    # spaces, so "Foo." and "foo" are one name to it.
    return name.rstrip(". ").casefold()


def joliet_names(children: Iterable[tuple[str, bool]]) -> dict[str, str]:
    """Joliet names for the children of one directory (``name -> name``),
    at most 64 UCS-2 characters, colliding names suffixed ``~1``, ``~2``
    before the extension.  Collisions are checked as Windows sees names:
    ignoring case and trailing dots and spaces."""
    items = sorted(children)
    wanted = {name: _joliet_candidate(name) for name, _ in items}
    return _resolve(
        items,
        wanted,
        lambda name, _d, n: _joliet_candidate(name, f"~{n}"),
        key=_joliet_key,
        taken=set(),
    )


def _resolve(
    items: list[tuple[str, bool]],
    wanted: dict[str, str],
    variant: Callable[[str, bool, int], str],
    key: Callable[[str], str],
    taken: set[str],
) -> dict[str, str]:
    """Give each name its wanted form unless an earlier name (in sorted order)
    or ``taken`` has it; else the first numbered variant that neither anyone
    took nor anyone wants."""
    reserved = {key(w) for w in wanted.values()}
    out: dict[str, str] = {}
    for name, is_dir in items:
        pick = wanted[name]
        n = 0
        while key(pick) in taken or (n and key(pick) in reserved):
            n += 1
            pick = variant(name, is_dir, n)
        taken.add(key(pick))
        out[name] = pick
    return out


# -- volume identifiers ------------------------------------------------------


def volume_ids(label: str) -> tuple[str, str]:
    """(ISO volume id: at most 32 d-characters, Joliet volume id: at most 16
    characters) for a disc label.  Raises UsageError for a label that cannot
    be used: empty (or only white space), or with control characters."""
    if any(unicodedata.category(ch) == "Cc" for ch in label):
        raise UsageError(f"disc label {label!r} contains control characters")
    text = " ".join(label.split())
    if not text:
        raise UsageError("the disc label is empty")
    # A label in another script has no d-characters at all; the ISO id then
    # falls back to a fixed one and only Joliet and Rock Ridge readers see it.
    iso = _d_string(text).strip("_")[:ISO_VOLUME_ID_MAX] or _ISO_VOLUME_ID_FALLBACK
    joliet = _joliet_chars(text)[:JOLIET_VOLUME_ID_MAX].rstrip()
    return iso, joliet
