"""The package layout: every import points down the layers, none in a circle.

Reads the imports of every module under ``cdfs/`` (including imports inside
functions and under ``TYPE_CHECKING``: a circle hidden in a function is
still a circle) and checks them against the layers the README draws.  Fails
naming the offending pair, or the modules of a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cdfs"

# Bottom to top.  A module may import its own layer and the layers below.
LAYERS = ["core", "recorders", "iso", "mount", "burn", "app"]
APP = {"desktop"}
"""Packages of the top layer, beside the command line and the daemon."""
MAX_LINES = 600
CORE = {
    "cdfs",
    "cdfs.errors",
    "cdfs.units",
    "cdfs.paths",
    "cdfs.private",
    "cdfs.names",
    "cdfs.config",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(mod: str) -> str:
    if mod in CORE:
        return "core"
    parts = mod.split(".")
    if len(parts) >= 2 and parts[1] in APP:
        return "app"
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    return "app"


def imports(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The cdfs modules that ``mod`` imports anywhere in its text."""
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in known and m != mod}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {mod: imports(mod, path, known) for mod, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_import_points_down_the_layers() -> None:
    edges = graph()
    upward = [
        f"{mod} ({layer(mod)}) imports {dep} ({layer(dep)})"
        for mod, deps in sorted(edges.items())
        for dep in sorted(deps)
        if mod != "cdfs"  # the package's own __init__ imports nothing but is the root
        and LAYERS.index(layer(dep)) > LAYERS.index(layer(mod))
    ]
    assert not upward, "imports from a layer above:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    found = cycles(graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_layer_folder_is_a_package_with_a_docstring() -> None:
    for name in [*LAYERS[1:-1], *sorted(APP)]:
        init = PACKAGE / name / "__init__.py"
        assert init.exists(), f"{init} missing"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc, f"{init}: say what the folder owns and may import"


def test_modules_stay_small() -> None:
    big = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert not big, f"modules over {MAX_LINES} lines: " + ", ".join(big)


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The readers above are not blind: a planted upward import and circle
    are found (on a copy of the graph, not on the tree)."""
    edges = graph()
    edges["cdfs.recorders.media"] = edges["cdfs.recorders.media"] | {"cdfs.mount.view"}
    assert any("cdfs.recorders.media" in c for c in cycles(edges))
    assert LAYERS.index(layer("cdfs.mount.view")) > LAYERS.index(layer("cdfs.recorders.media"))
    assert edges["cdfs.mount.view"], "the view's imports were read"
    assert "cdfs.recorders.emulated" in edges["cdfs.recorders.opening"]
    assert layer("cdfs.desktop.sidebar") == "app"
    edges["cdfs.burn.job"] = edges["cdfs.burn.job"] | {"cdfs.desktop.sidebar"}
    assert LAYERS.index(layer("cdfs.desktop.sidebar")) > LAYERS.index(layer("cdfs.burn.job"))
