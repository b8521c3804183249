"""Plain-words rendering of a recorder's status.

The daemon publishes its status as a dict (JSON on the wire); this module
turns it into the text of ``.status`` and ``cdfs status``, so both say the
same thing.  No I/O here.
"""

from __future__ import annotations

from typing import Any

AT_REST = ("idle", "done", "failed")
"""Burn phases in which nothing is running."""


def human_bytes(n: int | float) -> str:
    """``1.5 MB`` style sizes (decimal, as disc capacities are sold)."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def count(n: int, noun: str, plural: str = "") -> str:
    """``1 file``, ``2 files``: a number with its noun."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def files_words(files: int, links: int = 0) -> str:
    """``3 files``, ``1 file and 2 symbolic links``: what a burn took."""
    words = count(files, "file")
    return f"{words} and {count(links, 'symbolic link')}" if links else words


def staged_line(s: dict[str, Any]) -> str:
    """What is staged: files, symbolic links (as a burn counts them), bytes."""
    parts = [count(s.get("staged_files", 0), "file")]
    if s.get("staged_symlinks"):
        parts.append(count(s["staged_symlinks"], "symbolic link"))
    return ", ".join([*parts, human_bytes(s.get("staged_bytes", 0))])


def burn_line(burn: dict[str, Any]) -> str:
    phase = burn.get("phase", "idle")
    if phase in AT_REST:
        return "no burn running"
    parts = [f"{phase} {burn.get('percent', 0):.1f}%"]
    total = burn.get("bytes_total") or 0
    if total:
        parts.append(f"{human_bytes(burn.get('bytes_done', 0))} of {human_bytes(total)}")
    rate = burn.get("bytes_per_second") or 0
    if rate:
        x = burn.get("x_factor")
        parts.append(f"{human_bytes(rate)}/s" + (f" ({x:.1f}x)" if x else ""))
    remaining = burn.get("seconds_remaining")
    if remaining is not None:
        parts.append(f"{int(remaining)} s left")
    return ", ".join(parts)


def last_line(last: dict[str, Any] | None) -> str:
    if not last:
        return "none yet"
    outcome = "succeeded" if last.get("ok") else "FAILED"
    when = f" at {last['finished']}" if last.get("finished") else ""
    return f"{outcome}{when}: {last.get('message', '')}"


def render_text(s: dict[str, Any]) -> str:
    sessions = s.get("sessions", [])
    lines = [
        f"Drive:        {s.get('drive', '?')}",
        f"Disc:         {disc_line(s, len(sessions))}",
        *([f"Problem:      {s['disc_problem']}"] if s.get("disc_problem") else []),
        f"Capacity:     {human_bytes(s.get('capacity_bytes', 0))}",
        f"Used:         {human_bytes(s.get('used_bytes', 0))}",
        f"Free:         {human_bytes(s.get('free_bytes', 0))}{closed_note(s)}",
        f"Staged:       {staged_line(s)}",
        f"Still fits:   {fits_line(s)}",
        *rewrite_lines(s),
        f"Burn:         {burn_line(s.get('burn', {}))}",
        f"Last burn:    {last_line(s.get('last_burn'))}",
    ]
    folders = s.get("staged_folder_changes", 0)
    if folders:
        lines.append(f"Folders:      {folders} on the disc with a staged mode, owner or time")
    lines += names_lines(s.get("names") or {})
    return "\n".join(lines) + "\n"


def disc_line(s: dict[str, Any], sessions: int) -> str:
    if s.get("state") == "no disc":
        return "no disc in the drive"
    title = s.get("media_title", s.get("media", "?"))
    return f"{title}, {s.get('state', '?')}, {count(sessions, 'session')}"


def closed_note(s: dict[str, Any]) -> str:
    """Why a disc takes no more sessions, after its Free figure."""
    if s.get("free_bytes", 0):
        return ""
    if s.get("state") == "no disc":
        return " (no disc in the drive: staging takes files until one is inserted)"
    if s.get("state") == "closed":
        return " (the disc is closed: no session can be added)"
    return " (the disc is full: not even an empty session fits)"


def fits_line(s: dict[str, Any]) -> str:
    """Still fits: free minus what the staged changes need (df's available)."""
    fits = human_bytes(s.get("available_bytes", 0))
    need = s.get("staged_need_bytes", 0)
    if not need:
        return fits
    return f"{fits} (free minus {human_bytes(need)} the staged changes need)"


def rewrite_lines(s: dict[str, Any]) -> list[str]:
    """On a rewritable disc: what would still fit after a rewrite, when it
    is more than a next session can take."""
    rewrite = s.get("rewrite_available_bytes")
    if rewrite is None or rewrite <= s.get("available_bytes", 0):
        return []
    return [f"If rewritten: {human_bytes(rewrite)} would still fit (cdfs burn --rewrite)"]


def names_lines(report: dict[str, Any]) -> list[str]:
    """The staged names other readers see differently, in plain words: the
    Joliet (Windows) changes one by one, the rest as counts."""
    out: list[str] = []
    count = report.get("joliet_count", 0)
    if count:
        out.append(
            f"Windows (Joliet) will see {count} staged name{'s' if count != 1 else ''} differently:"
        )
        shown = report.get("joliet", [])
        out += [f"  {item['path']}  ->  {item['as']}" for item in shown]
        if count > len(shown):
            out.append(f"  ... and {count - len(shown)} more")
    links = report.get("joliet_symlinks", 0)
    if links:
        out.append(
            f"Windows (Joliet) will not see {links} staged symbolic link{'s' if links != 1 else ''}"
            " (Joliet cannot record links)"
        )
    count = report.get("iso_count", 0)
    if count:
        out.append(
            f"Readers with neither Rock Ridge nor Joliet will see {count} staged "
            f"name{'s' if count != 1 else ''} shortened or with characters replaced"
        )
    return out
