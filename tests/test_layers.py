"""Layers: which part of vidclass may import which (the picture in the README's Development section).

The pipeline reads top to bottom and imports only point down (``/work/shared/STYLE.md``, "Layers").
Every module of ``vidclass/`` is parsed with :mod:`ast`; imports inside functions and under
``if TYPE_CHECKING:`` count too, because a deferred import is still a dependency and only hides a
cycle. A *unit* is a top-level module or sub-package (``engines`` holds ``engines.ray``). A unit may
import itself and the units of strictly lower rank in ``RANKS``; the package root (``__init__``,
which re-exports the public API) is exempt, and a name imported from it counts as an import of the
unit that defines it. The graph of units must have no cycle.

``RANKS`` is the README's table, and a test holds the two together. ``KNOWN`` lists violations
accepted for a while, each with its way out (empty today); an entry that no longer happens fails the
test too, so the list can only shrink.

``python tests/test_layers.py`` prints the picture and today's violations.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "vidclass"

# Lowest first: the table in the README's Development section ("How the code is laid out"), which
# test_the_readme_table_is_this_one holds to it. Units named here that do not exist (yet) are fine; a
# unit that exists and is not named here fails the test: a new module has to be given its place.
RANKS: dict[int, tuple[str, ...]] = {
    0: ("errors", "version"),
    1: ("spec", "text", "thumbnails"),
    2: ("sampling", "preprocess", "scores", "results", "convert"),
    3: ("segments", "sources", "store"),
    4: ("settings", "graph"),
    5: ("runtimes", "clips"),
    6: ("dense",),
    7: ("classifier",),
    8: ("engines",),
    9: ("evaluate",),
    10: ("outputs",),
    11: ("cli",),
}
ROOT_UNIT = "__init__"

# (importer, imported) -> why it is there today and how it goes away. Remove an entry once fixed;
# an entry that no longer happens fails the test.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    """One import statement of one module of the package, resolved to the module it imports."""

    importer: str  # dotted module name, e.g. vidclass.engines.ray
    imported: str  # dotted module name inside the package, e.g. vidclass.classifier
    names: tuple[str, ...]  # what ``from imported import ...`` takes; ("*",) for ``import`` and star imports
    path: Path
    line: int
    text: str  # the statement's first line, for the message

    def where(self, base: Path) -> str:
        try:
            shown = self.path.relative_to(base)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def module_names(package_dir: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name (``pkg.sub`` for ``pkg/sub/__init__.py``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package, *parts])] = path
    return modules


def unit_of(module: str) -> str:
    """``vidclass.engines.ray`` -> ``engines``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT_UNIT


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module name a ``from ... import`` statement names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()  # a plain module's relative imports start from its package
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: Mapping[str, Path]):
    """(module, names) pairs a statement imports: ``from pkg import sub`` imports the module pkg.sub,
    ``from pkg import name`` takes ``name`` from pkg."""
    if isinstance(node, ast.Import):
        return [(alias.name, ("*",)) for alias in node.names]
    base = _resolve(node, module, is_package)
    return [(f"{base}.{a.name}", ("*",)) if f"{base}.{a.name}" in modules else (base, (a.name,)) for a in node.names]


def import_edges(package_dir: Path, package: str) -> list[Edge]:
    """Every import of a module of the package by a module of the package, wherever it stands in
    the file (top level, function body, ``TYPE_CHECKING`` block)."""
    modules = module_names(package_dir, package)
    edges: list[Edge] = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target, names in _targets(node, module, path.name == "__init__.py", modules):
                # ``import pkg.a.b`` may name a module below the last one known: keep the longest known prefix.
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != module:
                    edges.append(Edge(module, target, names, path, node.lineno, lines[node.lineno - 1].strip()))
    return _through_root(edges, package)


def _through_root(edges: list[Edge], package: str) -> list[Edge]:
    """A name imported from the package root counts as an import of the module the root takes it
    from (``from vidclass import Classifier`` depends on ``classifier``); the root's own names
    (``__version__``) depend on nothing. A star import in the root may supply any name."""
    supplies: dict[str, set[str]] = {}
    for edge in edges:
        if edge.importer == package:
            for name in edge.names:
                supplies.setdefault(name, set()).add(edge.imported)
    resolved: list[Edge] = []
    for edge in edges:
        if edge.imported != package or edge.importer == package:
            resolved.append(edge)
            continue
        for name in edge.names:
            for target in sorted(supplies.get(name, set()) | supplies.get("*", set())):
                resolved.append(replace(edge, imported=target, names=(name,)))
    return resolved


def rank_table(ranks: Mapping[int, Iterable[str]]) -> dict[str, int]:
    return {unit: rank for rank, units in ranks.items() for unit in units}


def unit_graph(edges: Iterable[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        a, b = unit_of(edge.importer), unit_of(edge.imported)
        graph.setdefault(a, set())
        graph.setdefault(b, set())
        if a != b:
            graph[a].add(b)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def shortest_loop(graph: Mapping[str, set[str]], component: list[str]) -> list[str]:
    """One shortest way round a cycle, from the component's first unit back to it (breadth first)."""
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & set(component)):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{component} is no cycle")


def upward(edges: Iterable[Edge], ranks: Mapping[int, Iterable[str]]) -> list[Edge]:
    """Imports of a unit of the same or a higher rank (the root is exempt both ways)."""
    rank = rank_table(ranks)
    bad = []
    for edge in edges:
        a, b = unit_of(edge.importer), unit_of(edge.imported)
        if a == b or ROOT_UNIT in (a, b) or a not in rank or b not in rank:
            continue
        if rank[b] >= rank[a]:
            bad.append(edge)
    return bad


def problems(
    package_dir: Path,
    package: str,
    ranks: Mapping[int, Iterable[str]],
    known: Mapping[tuple[str, str], str] = {},  # noqa: B006 - read only
) -> list[str]:
    """Every layering problem of the package as a readable line; empty when the layering holds."""
    edges = import_edges(package_dir, package)
    rank = rank_table(ranks)
    base = package_dir.parent
    out: list[str] = []
    units = sorted({unit_of(m) for m in module_names(package_dir, package)} - {ROOT_UNIT})
    out += [f"unit {u!r} has no rank: give it one in RANKS (tests/test_layers.py)" for u in units if u not in rank]
    seen: set[tuple[str, str]] = set()
    for edge in upward(edges, ranks):
        pair = (unit_of(edge.importer), unit_of(edge.imported))
        seen.add(pair)
        a, b = pair
        line = f"upward import: {a} (rank {rank[a]}) imports {b} (rank {rank[b]}) at {edge.where(base)}: {edge.text}"
        if pair not in known and line not in out:  # one line per statement, however many names it takes
            out.append(line)
    out += [f"KNOWN lists {a} -> {b}, which no longer happens: remove it" for a, b in known if (a, b) not in seen]
    allowed = [e for e in edges if (unit_of(e.importer), unit_of(e.imported)) not in known]
    graph = unit_graph(allowed)
    for component in cycles(graph):
        loop = shortest_loop(graph, component)
        sites = [next(e for e in allowed if (unit_of(e.importer), unit_of(e.imported)) == hop).where(base)
                 for hop in zip(loop, loop[1:], strict=False)]
        out.append(f"import cycle between {', '.join(component)}, e.g. {' -> '.join(loop)} ({', '.join(sites)})")
    return out


def picture(ranks: Mapping[int, Iterable[str]] = RANKS, package_dir: Path = ROOT / PACKAGE) -> str:
    """The rank table as text, highest first, with the units that exist today (the README's picture)."""
    present = {unit_of(m) for m in module_names(package_dir, PACKAGE)}
    rows = []
    for rank in sorted(ranks, reverse=True):
        names = [u if u in present else f"({u})" for u in ranks[rank]]
        rows.append(f"{rank:>4}  " + "  ".join(names))
    return "\n".join(rows)


# -- the tree as it is -------------------------------------------------------------------------------


def test_vidclass_imports_only_point_down() -> None:
    found = problems(ROOT / PACKAGE, PACKAGE, RANKS, KNOWN)
    assert not found, "layering broken (see RANKS and KNOWN in tests/test_layers.py):\n  " + "\n  ".join(found)


def readme_ranks(readme: Path = ROOT / "README.md") -> dict[str, int]:
    """unit -> layer, from the rows ``| 3 | `segments`, `sources/`, ... | ... |`` of the README's table."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("### How the code is laid out", 1)[-1].split("\n#", 1)[0]
    ranks = {}
    for number, units in re.findall(r"^\| (\d+) \| ([^|]*) \|", section, re.M):
        for unit in re.findall(r"`([a-z_]+)/?`", units):
            ranks[unit] = int(number)
    return ranks


def test_the_readme_table_is_this_one() -> None:
    documented = readme_ranks()
    here = rank_table(RANKS)
    assert documented, "README.md: no layer table under 'How the code is laid out'"
    wrong = [f"{u}: layer {documented[u]} in the README, rank {here[u]} here" for u in documented if u in here
             and documented[u] != here[u]]
    wrong += [f"{u}: in the README's table, not in RANKS" for u in documented if u not in here]
    present = {unit_of(m) for m in module_names(ROOT / PACKAGE, PACKAGE)} - {ROOT_UNIT}
    wrong += [f"{u}: add `{u}` to layer {here[u]} of the README's table" for u in sorted(present - set(documented))
              if u in here]
    assert not wrong, "README.md and RANKS disagree:\n  " + "\n  ".join(wrong)


def test_readme_rows_are_read(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "## Development\n\n### How the code is laid out\n\n| layer | units | what |\n|---|---|---|\n"
        "| 1 | `cli/` | Typer |\n| 0 | `errors`, `spec` | the `x` contract |\n\n## Next\n| 5 | `late` | no |\n"
    )
    assert readme_ranks(readme) == {"cli": 1, "errors": 0, "spec": 0}


def test_every_unit_has_a_rank_once() -> None:
    named = [unit for units in RANKS.values() for unit in units]
    assert len(named) == len(set(named)), "a unit stands at two ranks"


# -- the checker itself, on a fake package -----------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


FAKE_RANKS = {0: ("base",), 1: ("low",), 2: ("high", "side"), 3: ("top",)}


# low.py importing high inside a function: upward, and a cycle with high's import of low.
LOW_IMPORTS_HIGH_LATE = "from .base import X\n\ndef low_thing():\n    from .high import High\n    return X, High\n"


@pytest.fixture()
def fake(tmp_path: Path) -> Path:
    """``fake``: base < low < high, side < top; top imports down in every form the checker resolves."""
    return _write(tmp_path / "fake", {
        "__init__.py": "from .high import High\nfrom .low import low_thing\n__version__ = '1'\n",
        "base.py": "X = 1\n",
        "low.py": "from .base import X\n\ndef low_thing():\n    return X\n",
        "high/__init__.py": "from ..low import low_thing\n\nclass High:\n    pass\n",
        "high/part.py": "from . import other\nfrom fake.high import High\nimport fake.base\n",
        "high/other.py": "import os\n",
        "side.py": "import fake.low as low\n",
        "top.py": "from fake import High, __version__\nfrom . import side\nfrom .high.part import other\n",
    })


def test_a_clean_package_passes(fake: Path) -> None:
    assert problems(fake, "fake", FAKE_RANKS) == []


def test_imports_are_resolved_to_modules(fake: Path) -> None:
    edges = {(e.importer, e.imported) for e in import_edges(fake, "fake")}
    assert ("fake.high.part", "fake.high.other") in edges  # from . import other, in a sub-package
    assert ("fake.high.part", "fake.base") in edges  # import fake.base
    assert ("fake.high", "fake.low") in edges  # from ..low import, from a package's __init__
    assert ("fake.top", "fake.high") in edges  # from fake import High: the root re-exports it from high
    assert ("fake.top", "fake") not in edges  # __version__ is the root's own
    assert ("fake.top", "fake.high.part") in edges


def test_an_upward_import_inside_a_function_is_caught(fake: Path) -> None:
    _write(fake, {"low.py": LOW_IMPORTS_HIGH_LATE})
    found = problems(fake, "fake", FAKE_RANKS)
    assert any(line.startswith("upward import: low (rank 1) imports high (rank 2) at fake/low.py:4") for line in found)
    assert "import cycle between high, low, e.g. high -> low -> high (fake/high/__init__.py:1, fake/low.py:4)" in found


def test_an_import_under_type_checking_counts(fake: Path) -> None:
    late = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fake.top import T\nX = 1\n"
    _write(fake, {"base.py": late})
    found = problems(fake, "fake", FAKE_RANKS)
    assert any("base (rank 0) imports top (rank 3) at fake/base.py:3" in line for line in found), found


def test_same_rank_is_not_below_and_one_statement_is_one_line(fake: Path) -> None:
    _write(fake, {"side.py": "from .high import High, Other\n"})
    found = [line for line in problems(fake, "fake", FAKE_RANKS) if "side (rank 2) imports high (rank 2)" in line]
    assert found == [
        "upward import: side (rank 2) imports high (rank 2) at fake/side.py:1: from .high import High, Other"
    ]


def test_a_cycle_through_several_units_names_them_all_and_the_shortest_way_round(fake: Path) -> None:
    _write(fake, {"base.py": "def f():\n    import fake.top\nX = 1\n"})  # everything above base now loops back
    cycle_lines = [line for line in problems(fake, "fake", FAKE_RANKS) if line.startswith("import cycle")]
    assert cycle_lines == [
        "import cycle between base, high, low, side, top, e.g. base -> top -> high -> base "
        "(fake/base.py:2, fake/top.py:1, fake/high/part.py:3)"
    ]


def test_known_violations_are_allowed_and_must_still_exist(fake: Path) -> None:
    _write(fake, {"low.py": LOW_IMPORTS_HIGH_LATE})
    assert problems(fake, "fake", FAKE_RANKS, {("low", "high"): "being fixed"}) == []
    assert problems(fake, "fake", FAKE_RANKS, {("low", "high"): "x", ("base", "low"): "y"}) == [
        "KNOWN lists base -> low, which no longer happens: remove it"
    ]


def test_a_unit_without_a_rank_is_reported(fake: Path) -> None:
    _write(fake, {"extra.py": "X = 2\n"})
    assert problems(fake, "fake", FAKE_RANKS) == [
        "unit 'extra' has no rank: give it one in RANKS (tests/test_layers.py)"
    ]


def test_the_root_is_exempt(fake: Path) -> None:
    # The root imports everything it re-exports, whatever their rank; that is no violation.
    _write(fake, {"__init__.py": "from .top import *\nfrom .high import High\nfrom .low import low_thing\n"})
    assert problems(fake, "fake", FAKE_RANKS) == []


if __name__ == "__main__":
    print("rank  units (a unit imports only units of lower rank; ( ) = not there yet)")
    print(picture())
    found = problems(ROOT / PACKAGE, PACKAGE, RANKS)
    print("\n".join(["", "violations today (KNOWN ignored):", *found]) if found else "\nno violations")
    sys.exit(0)
