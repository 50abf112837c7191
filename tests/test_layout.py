"""The package's import graph: no circle, and no import from a lower layer into a higher one.

Every import counts, also those inside functions (the commands import their heavy modules lazily).
The layers, lowest first, are those of workflow/cgexplain/README.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "workflow" / "cgexplain"

#: lowest first; a module may import its own layer's modules and any lower layer's
LAYERS = [
    ("cgexplain", "core"),   # the package's __init__ (its version) and the core
    ("data",),
    ("systems",),
    ("reference",),
    ("priors",),
    ("nn",),
    ("train", "simulate"),
    ("analysis",),
    ("relevance",),
    ("baselines",),
    ("figures",),
    ("explain", "validation", "cli", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (relative and absolute, at any depth of the code)."""
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                pkg = ".".join(base[: len(base) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                    else node.module or ""
                targets = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else pkg for a in node.names]
            else:
                continue
            graph[mod] |= {t for t in targets if t in modules and t != mod}
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else parts[0]
    if key not in RANK:
        raise AssertionError(f"module {module} is in no layer of tests/test_layout.py (add its package)")
    return RANK[key]


def test_every_module_has_a_layer_and_a_docstring():
    for mod, path in ((module_name(p), p) for p in PKG.rglob("*.py")):
        layer(mod)
        if path.name != "__main__.py":
            assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


def test_no_import_from_a_lower_layer_into_a_higher_one():
    upward = [f"{a} -> {b}" for a, targets in import_graph().items() for b in targets if layer(b) > layer(a)]
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


@pytest.mark.parametrize("level", ["module", "package"])
def test_no_import_circle(level):
    graph = import_graph()
    if level == "package":
        pkg = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
        coarse: dict[str, set[str]] = {}
        for a, targets in graph.items():
            coarse.setdefault(pkg(a), set()).update(pkg(b) for b in targets if pkg(b) != pkg(a))
        graph = coarse
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_checker_sees_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The graph reader is not blind: a fake package with a circle and an upward import is caught."""
    fake = tmp_path / "cgexplain"
    (fake / "core").mkdir(parents=True)
    (fake / "figures").mkdir()
    for d in (fake, fake / "core", fake / "figures"):
        (d / "__init__.py").write_text('"""x"""\n')
    (fake / "core" / "a.py").write_text('"""a"""\ndef f():\n    from ..figures import b\n')
    (fake / "figures" / "b.py").write_text('"""b"""\nfrom ..core import a\n')
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    graph = import_graph()
    assert graph["cgexplain.core.a"] == {"cgexplain.figures.b"} and graph["cgexplain.figures.b"] == {"cgexplain.core.a"}
    with pytest.raises(AssertionError, match="against the layer order"):
        test_no_import_from_a_lower_layer_into_a_higher_one()
    with pytest.raises(AssertionError, match="import circle"):
        test_no_import_circle("module")
