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
        parts.append(f"{human_bytes(rate)}/s")
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
        f"Disc:         {s.get('media_title', s.get('media', '?'))}, {s.get('state', '?')}, "
        f"{len(sessions)} session{'s' if len(sessions) != 1 else ''}",
        *([f"Problem:      {s['disc_problem']}"] if s.get("disc_problem") else []),
        f"Capacity:     {human_bytes(s.get('capacity_bytes', 0))}",
        f"Used:         {human_bytes(s.get('used_bytes', 0))}",
        f"Free:         {human_bytes(s.get('free_bytes', 0))}",
        f"Staged:       {s.get('staged_files', 0)} files, {human_bytes(s.get('staged_bytes', 0))}",
        f"Still fits:   {human_bytes(s.get('available_bytes', 0))}",
        f"Burn:         {burn_line(s.get('burn', {}))}",
        f"Last burn:    {last_line(s.get('last_burn'))}",
    ]
    lines += names_lines(s.get("names") or {})
    return "\n".join(lines) + "\n"


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
