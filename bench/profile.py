"""Sums up a ``py-spy record --format raw --idle --threads`` profile (what
``python -m bench --profile DIR`` writes): where the daemon's main thread
spends its samples, split into waiting for the kernel, cdfs' own code, and
the pyfuse3/trio machinery around it.

usage: python -m bench.profile PROFILE.txt [--top N] [--thread NAME]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

IDLE_LEAVES = frozenset(
    {"EpollIOManager.get_events", "get_events", "wait", "select", "poll", "epoll_wait"}
)
"""Leaf functions that mean waiting (the trio loop in epoll, a thread
blocked): the daemon had nothing to do."""


@dataclass
class Frame:
    fn: str
    file: str

    @property
    def name(self) -> str:
        short = re.sub(r"^.*/site-packages/", "", self.file)
        return f"{self.fn} ({short})"

    @property
    def is_cdfs(self) -> bool:
        return self.file.startswith("cdfs/") or "/cdfs/" in self.file


def _frame(text: str) -> Frame:
    m = _FRAME.match(text.strip())
    if not m:
        return Frame(text.strip(), "")
    return Frame(m.group("fn"), m.group("file"))


@dataclass
class Profile:
    stacks: dict[str, list[tuple[list[Frame], int]]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )

    @classmethod
    def read(cls, path: Path) -> Profile:
        prof = cls()
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            parts = stack.split(";")
            thread = parts[0].split(":", 1)[-1].strip() if parts[0].startswith("thread") else "?"
            frames = [_frame(p) for p in parts[1:]]
            prof.stacks[thread].append((frames, int(count)))
        return prof


# Entry points of cdfs code called by the pyfuse3/trio machinery: a stack
# whose deepest cdfs frame is below one of these is cdfs' own work.
_DRIVERS = ("cdfs/daemon.py", "cdfs/cli.py", "cdfs/__main__.py")


def _layer(frames: list[Frame]) -> str:
    leaf = frames[-1].fn if frames else ""
    if leaf in IDLE_LEAVES or leaf.endswith(".get_events"):
        return "idle (waiting for the kernel)"
    if any(f.is_cdfs and not f.file.endswith(_DRIVERS) for f in frames):
        return "cdfs code"
    return "pyfuse3 + trio machinery"


def summary(prof: Profile, top: int, thread: str | None) -> str:
    out: list[str] = []
    for name, stacks in prof.stacks.items():
        if thread is not None and thread not in name:
            continue
        total = sum(n for _f, n in stacks)
        out.append(f"== thread {name}: {total} samples")
        layers: collections.Counter[str] = collections.Counter()
        self_: collections.Counter[str] = collections.Counter()
        incl: collections.Counter[str] = collections.Counter()
        for frames, n in stacks:
            layer = _layer(frames)
            layers[layer] += n
            if layer.startswith("idle") or not frames:
                continue
            self_[frames[-1].name] += n
            for key in {f.name for f in frames if f.is_cdfs and not f.file.endswith(_DRIVERS)}:
                incl[key] += n
        for layer, n in layers.most_common():
            out.append(f"  {100 * n / total:5.1f}%  {layer}")
        busy = total - sum(n for k, n in layers.items() if k.startswith("idle"))
        if not busy:
            continue
        out.append(f"  busy samples: {busy}; top self (% of busy):")
        out += [f"    {100 * n / busy:5.1f}%  {k}" for k, n in self_.most_common(top)]
        out.append("  cdfs functions, inclusive (% of busy):")
        out += [f"    {100 * n / busy:5.1f}%  {k}" for k, n in incl.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--thread", help="only threads whose name contains this")
    args = p.parse_args(argv)
    print(summary(Profile.read(args.profile), args.top, args.thread))
    return 0


if __name__ == "__main__":
    sys.exit(main())
