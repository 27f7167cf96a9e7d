"""Arrows point one way (docs ARCHITECTURE): apps import the core, never each other; flowpath's subpackages form
no cycle; the core imports no app. Read from the source with ``ast`` (function-level imports count too)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APPS = ("flowpath", "connectome")
CORE = "graphsolvers"


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved against ``package``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(top: str) -> list[Path]:
    return sorted((REPO / top).rglob("*.py"))


def subpackage_graph(top: str) -> dict[str, set[str]]:
    """``{subpackage: subpackages it imports}`` among ``top``'s direct children (a top-level module is its own)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sources(top):
        name = module_name(path)
        if name == top:
            continue  # the package's own __init__ re-exports; it is no subpackage
        own = name.split(".")[1]
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for imported in imported_modules(path, package):
            parts = imported.split(".")
            if (
                parts[0] == top
                and len(parts) > 1
                and parts[1] != own
                and (REPO / top / parts[1]).exists() | (REPO / top / f"{parts[1]}.py").exists()
            ):
                edges[own].add(parts[1])
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_relative_imports_resolve_against_the_package(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("from . import x\nfrom ..bench.gold import Box\nimport flowpath.vision\n")
    assert imported_modules(src, "flowpath.synth") == {
        "flowpath.synth",
        "flowpath.synth.x",
        "flowpath.bench.gold",
        "flowpath.bench.gold.Box",
        "flowpath.vision",
    }


def test_flowpath_subpackages_form_no_cycle() -> None:
    edges = subpackage_graph("flowpath")
    assert "agent" in edges and "bench" in edges  # the walk sees the subpackages
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges) or [])}"


@pytest.mark.parametrize(
    ("top", "forbidden"), [(CORE, APPS), ("flowpath", ("connectome",)), ("connectome", ("flowpath",))]
)
def test_packages_import_only_down(top: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        f"{module_name(path)} imports {imported}"
        for path in sources(top)
        for imported in imported_modules(path, module_name(path))
        if imported.split(".")[0] in forbidden
    }
    assert not offenders, sorted(offenders)
