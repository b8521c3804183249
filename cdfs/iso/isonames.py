"""Names on a disc: the ISO 9660, Joliet and volume identifiers of a session.

This module owns the mapping from the exact names users gave (UTF-8 bytes,
kept verbatim in Rock Ridge) to the restricted names the other two trees of a
session need, and the checks that a name can be recorded at all.  The
mappings are deterministic and collision-free within a directory, so that
mastering never hands pycdlib a name it would reject (a failed add leaves a
pycdlib object unusable).

It also owns the upper bound of the room the records carrying those names
take (:class:`MetadataBound`, the metadata part of
:func:`cdfs.iso.mastering.estimate_sectors`).  It does not touch pycdlib or the
disc; :mod:`cdfs.iso.mastering` uses it.

Rules, from ECMA-119 (ISO 9660) 7.5/7.6 and the Joliet specification:

- ISO 9660 level 3 file identifiers: d-characters ``A-Z 0-9 _``, one dot,
  name plus extension at most 30 characters, version ``;1``.  Directory
  identifiers: d-characters only; at most 31, of which we use 28 so that
  pycdlib's three-digit suffix for relocated directories still fits.
- Joliet: UCS-2, at most 64 characters; ``* / : ; ? \\`` and control
  characters are forbidden.  UCS-2 has no surrogates, so characters outside
  the Basic Multilingual Plane become ``_`` as well.
- Rock Ridge (NM): any bytes except ``/`` and NUL, at most 255 bytes.  cdfs
  stores names as UTF-8, so names must also be valid UTF-8.  Symlink
  targets (SL) likewise, of at most 1,023 bytes (:mod:`cdfs.iso.rrlinks`).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import NamedTuple

from cdfs.errors import NameTooLongError, UsageError
from cdfs.iso import rrlinks
from cdfs.units import SECTOR_SIZE

RR_NAME_MAX = 255
"""Longest Rock Ridge name in bytes (what ``statfs`` reports as name max)."""

JOLIET_NAME_MAX = 64
"""Longest Joliet name in UCS-2 characters."""

ISO_FILE_MAX = 30
"""Longest ISO 9660 file identifier (name, dot and extension, no version)."""

ISO_DIR_MAX = 28
"""Longest ISO 9660 directory identifier we generate (31 minus 3 for the
suffix pycdlib appends to relocated directories whose names collide)."""

ISO_DIR_DEPTH = 7
"""Most components of a directory's ISO 9660 path: ECMA-119 6.8.2.1 allows 8
levels, the root included.  Deeper directories are relocated (Rock Ridge)."""

ISO_VOLUME_ID_MAX = 32
JOLIET_VOLUME_ID_MAX = 16

_ISO_VOLUME_ID_FALLBACK = "CDROM"
_ISO_EXT_MAX = 8
_JOLIET_EXT_MAX = 16
_D_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_JOLIET_FORBIDDEN = frozenset("*/:;?\\")


def relocated(depth: int) -> bool:
    """Whether the directory at Rock Ridge depth ``depth`` (1: in the root)
    is relocated into ``/RR_MOVED``: where its ISO path would exceed
    ISO_DIR_DEPTH.  A relocated directory is at ISO depth 2, so the levels
    are 8, 14, 20... (as genisoimage relocates)."""
    return depth > ISO_DIR_DEPTH and (depth - ISO_DIR_DEPTH - 1) % (ISO_DIR_DEPTH - 1) == 0


def show_path(path: Iterable[bytes]) -> str:
    """A path for messages: components joined by ``/``, undecodable bytes escaped."""
    return "/".join(c.decode("utf-8", "backslashreplace") for c in path)


def check_name(name: bytes, path: tuple[bytes, ...]) -> str:
    """Check that ``name`` (the last component of ``path``) can be recorded;
    return it decoded.  Raises UsageError naming the path."""
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise UsageError(f"invalid file name {show_path(path)!r}")
    if len(name) > RR_NAME_MAX:
        raise UsageError(f"file name longer than {RR_NAME_MAX} bytes: {show_path(path)!r}")
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"file name is not valid UTF-8: {show_path(path)!r}") from None


def check_target(target: bytes, path: tuple[bytes, ...]) -> str:
    """Check a symlink target (non-empty UTF-8 without NUL, at most
    :data:`cdfs.iso.rrlinks.TARGET_MAX` bytes); return it decoded."""
    if not target or b"\0" in target:
        raise UsageError(f"invalid symlink target for {show_path(path)!r}")
    if len(target) > rrlinks.TARGET_MAX:
        raise NameTooLongError(
            f"symlink target of {len(target)} bytes for {show_path(path)!r}: xorriso cannot "
            f"read a disc with a target longer than {rrlinks.TARGET_MAX} bytes"
        )
    try:
        return target.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"symlink target is not valid UTF-8: {show_path(path)!r}") from None


# -- ISO 9660 ----------------------------------------------------------------


_ASCII_D = bytes(ord(u) if (u := chr(c).upper()) in _D_CHARS else ord("_") for c in range(256))
"""ASCII in upper case d-characters, others as ``_`` (a table for
``bytes.translate``: translating a ``str`` looks each character up in a
dict, ten times slower)."""


def _d_string(text: str) -> str:
    """``text`` in d-characters: accents dropped, upper case, others as ``_``."""
    if text.isascii():
        return text.encode().translate(_ASCII_D).decode()
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if not unicodedata.combining(ch):
            up = ch.upper()
            out.append(up if up in _D_CHARS else "_")
    return "".join(out)


def _split_ext(text: str) -> tuple[str, str]:
    """Split at the last dot; a leading dot (``.profile``) is not a separator."""
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem:
        return text, ""
    return stem, ext


class _Parts(NamedTuple):
    """A name taken apart for fitting: stem, extension, length limit."""

    stem: str
    ext: str
    limit: int

    def fit(self, suffix: str = "") -> str:
        """The name within its limit, ``suffix`` inserted before the extension."""
        tail = suffix + ("." + self.ext if self.ext else "")
        return self.stem[: self.limit - len(tail)] + tail


def _iso_parts(name: str, is_dir: bool) -> _Parts:
    if is_dir:
        return _Parts(_d_string(name) or "_", "", ISO_DIR_MAX)
    stem, ext = _split_ext(name)
    return _Parts(_d_string(stem) or "_", _d_string(ext)[:_ISO_EXT_MAX], ISO_FILE_MAX)


def _iso_wanted(name: str, is_dir: bool) -> str:
    """The identifier ``name`` wants (before collisions): ``_iso_parts(name,
    is_dir).fit()``, computed in one translation for ASCII names (most
    names; this runs for every entry of a session)."""
    if not name.isascii():
        return _iso_parts(name, is_dir).fit()
    return _iso_wanted_ascii(name.encode(), is_dir).decode()


def iso_names(
    children: Iterable[tuple[str, bool]], reserved: Iterable[str] = ()
) -> dict[str, bytes]:
    """ISO 9660 identifiers for the children of one directory.

    ``children`` are (decoded name, is_dir) pairs; ``reserved`` identifiers
    are given to nobody.  Files get ``NAME.EXT;1`` (``NAME.;1`` without
    extension).  Readers strip the version and a trailing dot, so collisions
    are checked on that form, shared by files and directories.
    """
    items = list(children)
    return dict(zip([name for name, _d in items], iso_idents(items, reserved), strict=True))


def iso_idents(items: Sequence[tuple[str, bool]], reserved: Iterable[str] = ()) -> list[bytes]:
    """:func:`iso_names` as a list in the order of ``items`` (the names of
    one directory, each once)."""
    wanted = [_iso_wanted(name, is_dir) for name, is_dir in items]
    forms = set(wanted)
    taken = set(reserved)
    if len(forms) != len(items) or not forms.isdisjoint(taken):
        parts = {name: _iso_parts(name, is_dir) for name, is_dir in items}
        chosen = _resolve(sorted(items), _by_name(items, wanted), parts, "_", str, taken)
        wanted = [chosen[name] for name, _d in items]
    return [
        (base if is_dir else _iso_file_ident(base)).encode("ascii")
        for base, (_name, is_dir) in zip(wanted, items, strict=True)
    ]


def _by_name(items: Sequence[tuple[str, bool]], values: list[str]) -> dict[str, str]:
    return dict(zip([name for name, _d in items], values, strict=True))


def _iso_file_ident(base: str) -> str:
    return (base if "." in base else base + ".") + ";1"


# -- Joliet ------------------------------------------------------------------


_ASCII_JOLIET = bytes(
    ord("_") if chr(c) in _JOLIET_FORBIDDEN or c < 0x20 else c for c in range(256)
)


def _joliet_chars(text: str) -> str:
    if text.isascii():
        return text.encode().translate(_ASCII_JOLIET).decode()
    return "".join(
        "_" if ch in _JOLIET_FORBIDDEN or ord(ch) < 0x20 or ord(ch) > 0xFFFF else ch for ch in text
    )


def _joliet_parts(name: str) -> _Parts:
    clean = _joliet_chars(name)
    stem, ext = _split_ext(clean)
    if len(ext) > _JOLIET_EXT_MAX:
        stem, ext = clean, ""
    return _Parts(stem, ext, JOLIET_NAME_MAX)


def _joliet_key(name: str) -> str:
    # Windows compares names without case and ignores trailing dots and
    # spaces, so "Foo." and "foo" are one name to it.
    return name.rstrip(". ").casefold()


def _joliet_wanted(name: str) -> str:
    """``_joliet_parts(name).fit()``: the cleaned name itself whenever it
    fits (characters are replaced one for one) and has no empty extension
    (the general rule drops a trailing dot)."""
    clean = _joliet_chars(name)
    if len(clean) <= JOLIET_NAME_MAX and not clean.endswith("."):
        return clean
    return _joliet_parts(name).fit()


def joliet_names(
    children: Iterable[tuple[str, bool]], first: Collection[str] = ()
) -> dict[str, str]:
    """Joliet names for the children of one directory (``name -> name``),
    at most 64 UCS-2 characters, colliding names suffixed ``~1``, ``~2``
    before the extension.  Collisions are checked as Windows sees names:
    ignoring case and trailing dots and spaces.  Names in ``first`` (files
    already on the disc) are served before the others, so that a new name
    colliding with theirs gets the suffix and Windows users do not see a
    burned file change its name in the next session."""
    items = list(children)
    return dict(zip([name for name, _d in items], joliet_list(items, first), strict=True))


def joliet_list(items: Sequence[tuple[str, bool]], first: Collection[str] = ()) -> list[str]:
    """:func:`joliet_names` as a list in the order of ``items`` (the names
    of one directory, each once)."""
    wanted = [_joliet_wanted(name) for name, _is_dir in items]
    if len({_joliet_key(w) for w in wanted}) == len(items):
        return wanted  # no two names collide (most directories)
    ordered = sorted(items, key=lambda item: (item[0] not in first, item))
    parts = {name: _joliet_parts(name) for name, _ in items}
    chosen = _resolve(ordered, _by_name(items, wanted), parts, "~", _joliet_key, set())
    return [chosen[name] for name, _d in items]


def _resolve(
    items: list[tuple[str, bool]],
    wanted: dict[str, str],
    parts: dict[str, _Parts],
    sep: str,
    key: Callable[[str], str],
    taken: set[str],
) -> dict[str, str]:
    """Give each name its ``wanted`` form unless an earlier name (in
    ``items`` order) or ``taken`` has it; else the first numbered variant
    (``sep`` and a number before the extension) that neither anyone took
    nor anyone wants."""
    keys = {w: key(w) for w in wanted.values()}
    reserved = set(keys.values())
    # Names that want the same form share their variants, so numbering for
    # them resumes where it stopped: linear even for thousands of collisions.
    counters: dict[str, int] = {}
    out: dict[str, str] = {}
    for name, _is_dir in items:
        pick = base = wanted[name]
        picked = keys[base]
        if picked in taken:
            n = counters.get(keys[base], 0)
            while picked in taken or picked in reserved:
                n += 1
                pick = parts[name].fit(f"{sep}{n}")
                picked = key(pick)
            counters[keys[base]] = n
        taken.add(picked)
        out[name] = pick
    return out


# -- the children of a directory as UTF-8 bytes --------------------------------


def idents_of(
    names: Sequence[bytes], dirs: Sequence[bool], reserved: Iterable[str] = ()
) -> list[bytes]:
    """:func:`iso_idents` of names given as (checked) UTF-8 bytes, with
    ``dirs`` saying which are directories.  When every name is ASCII and
    none collides (most directories) they are mapped as bytes: the same
    rules, without decoding and encoding each name."""
    if b"".join(names).isascii():
        wanted = [_iso_wanted_ascii(n, d) for n, d in zip(names, dirs, strict=True)]
        forms = set(wanted)
        if len(forms) == len(names) and forms.isdisjoint(s.encode() for s in reserved):
            return [w if d else _ascii_file_ident(w) for w, d in zip(wanted, dirs, strict=True)]
    return iso_idents([(n.decode(), d) for n, d in zip(names, dirs, strict=True)], reserved)


def _iso_wanted_ascii(name: bytes, is_dir: bool) -> bytes:
    """:func:`_iso_wanted` of an ASCII name, in bytes: translated one
    character for one, so indexes into ``name`` hold in ``text``."""
    text = name.translate(_ASCII_D)
    if is_dir:
        return text[:ISO_DIR_MAX] or b"_"
    dot = name.rfind(b".")
    if dot <= 0:  # no extension (a leading dot is not a separator)
        return text[:ISO_FILE_MAX] or b"_"
    ext = text[dot + 1 : dot + 1 + _ISO_EXT_MAX]
    if not ext:
        return text[: min(dot, ISO_FILE_MAX)]
    return text[: min(dot, ISO_FILE_MAX - 1 - len(ext))] + b"." + ext


def _ascii_file_ident(base: bytes) -> bytes:
    return (base if b"." in base else base + b".") + b";1"


def joliet_of(
    names: Sequence[bytes], dirs: Sequence[bool], first: Callable[[], Collection[str]]
) -> list[str]:
    """:func:`joliet_list` of names given as (checked) UTF-8 bytes;
    ``first`` is called for the names served first only when two names
    collide.  ASCII names that collide with none are mapped as bytes."""
    if b"".join(names).isascii():
        clean = [n.translate(_ASCII_JOLIET) for n in names]
        if all(len(c) <= JOLIET_NAME_MAX and not c.endswith(b".") for c in clean) and len(
            {c.rstrip(b". ").lower() for c in clean}
        ) == len(names):  # for ASCII, casefold() is lower()
            return [c.decode() for c in clean]
    items = [(n.decode(), d) for n, d in zip(names, dirs, strict=True)]
    return joliet_list(items, first())


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


def label_warning(label: str) -> str | None:
    """A warning naming both forms when a label is longer than a volume id
    can carry (ISO 9660: 32 characters, Joliet: 16), else ``None``."""
    iso, joliet = volume_ids(label)
    text = " ".join(label.split())
    cut = []
    if len(_d_string(text).strip("_")) > ISO_VOLUME_ID_MAX:
        cut.append(f"ISO 9660 allows {ISO_VOLUME_ID_MAX}")
    if len(_joliet_chars(text).rstrip()) > JOLIET_VOLUME_ID_MAX:
        cut.append(f"Joliet (Windows) allows {JOLIET_VOLUME_ID_MAX}")
    if not cut:
        return None
    return (
        f"the label {label!r} ({len(text)} characters) is too long ({' and '.join(cut)} "
        f"characters) and is shortened: Windows will show {joliet!r}, "
        f"other systems {iso!r}"
    )


# -- the room the records of these names take ---------------------------------

# Upper bounds in bytes of what pycdlib writes (ECMA-119 9.1 and 9.4, SUSP,
# RRIP 1.12).  A directory record is at most 254 bytes (pycdlib moves what
# does not fit into a continuation area) and never crosses a sector, so a
# sector of directory records wastes less than one record.
_DR_MAX = 256
_JOLIET_DR_MAX = 33 + 2 * JOLIET_NAME_MAX + 1
_ISO_DR_BASE = 33 + 32 + 1
_SUSP_FIXED = 5 + 44 + 26 + 12 + 28  # RR (1.09 only), PX with serial, TF, CL or PL, CE
_CE_MAX = 28
_PTR_MAX = 8 + 32
_JOLIET_PTR_MAX = 8 + 2 * JOLIET_NAME_MAX
_FIXED_SECTORS = 16 + 4 + 1 + 2
"""System area, PVD, SVD, terminator, version descriptor, the Rock Ridge ER
sector and two sectors of slack."""


class MetadataBound:
    """An upper bound of the sectors a session's metadata takes (everything
    but file data and padding), added up entry by entry: the directory
    records of the ISO 9660/Rock Ridge and Joliet trees, their path tables,
    Rock Ridge continuation areas and relocation, and the descriptors."""

    def __init__(self) -> None:
        self.iso: defaultdict[tuple[bytes, ...], int] = defaultdict(int, {(): 2 * _DR_MAX})
        self.joliet: defaultdict[tuple[bytes, ...], int] = defaultdict(int, {(): 2 * _DR_MAX})
        self.ce: defaultdict[tuple[bytes, ...], int] = defaultdict(int)
        """Continuation bytes by directory: each has blocks of its own."""
        self.relocated = 0
        self.ptr = self.joliet_ptr = 10

    def add(self, path: tuple[bytes, ...], *, is_dir: bool, records: int, target: bytes) -> None:
        """One entry; a multi-extent file has one record per extent."""
        susp = _SUSP_FIXED + 10 + len(path[-1])
        if target:
            susp += rrlinks.length_bound(len(target))
        if _ISO_DR_BASE + susp > _DR_MAX - 2:
            ce = records * (susp + _CE_MAX * (1 + susp // 1024))
            self.ce[path[:-1]] += ce
            if is_dir and relocated(len(path)):  # the relocated record's, in RR_MOVED
                self.ce[(b"\0",)] += ce
        self.iso[path[:-1]] += records * _DR_MAX
        self.joliet[path[:-1]] += records * _JOLIET_DR_MAX
        if is_dir:
            self.iso[path] += 2 * _DR_MAX
            self.joliet[path] += 2 * _DR_MAX
            self.ptr += _PTR_MAX
            self.joliet_ptr += _JOLIET_PTR_MAX
            self.relocated += relocated(len(path))

    def sectors(self) -> int:
        iso, ptr = dict(self.iso), self.ptr
        if self.relocated:
            iso[(b"\0",)] = (self.relocated + 2) * _DR_MAX
            iso[()] += _DR_MAX
            ptr += _PTR_MAX
        meta = sum(_dir_sectors(n, _DR_MAX) for n in iso.values())
        meta += sum(_dir_sectors(n, _JOLIET_DR_MAX) for n in self.joliet.values())
        # Each directory fills its continuation blocks in turn: two
        # consecutive ones hold more than a block.
        meta += sum(2 * -(-n // SECTOR_SIZE) + 1 for n in self.ce.values())
        return _FIXED_SECTORS + meta + _table_sectors(ptr) + _table_sectors(self.joliet_ptr)


def _dir_sectors(record_bytes: int, record_max: int) -> int:
    return max(1, -(-record_bytes // (SECTOR_SIZE - record_max)))


def _table_sectors(table_bytes: int) -> int:
    # pycdlib grows each path table two sectors at a time, LE and BE copies.
    return 2 * 2 * (table_bytes // (2 * SECTOR_SIZE) + 1)


def joliet_problem(name: str) -> str | None:
    """Why ``name`` cannot be carried unchanged in Joliet (what Windows
    reads), or None when it can."""
    if len(name) > JOLIET_NAME_MAX:
        return f"longer than {JOLIET_NAME_MAX} characters"
    if _joliet_chars(name) != name:
        return (
            "has characters Joliet cannot hold (* / : ; ? \\, control characters, or "
            "characters outside the Basic Multilingual Plane)"
        )
    if name != name.rstrip(". "):
        return "ends with a dot or a space, which Windows drops"
    return None


def windows_key(name: str) -> str:
    """The form under which Windows compares two names."""
    return _joliet_key(name)
