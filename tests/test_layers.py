"""The shape of the package: each third-party library is imported in exactly one module."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "warmupd"


def third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party package -> the warmupd modules that import it (anywhere)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "warmupd" and top not in sys.stdlib_module_names \
                        and top != "__future__":
                    found[top].add(module)
    return found


# click is the command line's own vocabulary: its modules share it (the
# boundary prints click's usage errors; the commands are click commands).
LAYER_OWNED = {"click": "warmupd.cli."}


def test_each_library_lives_in_one_module() -> None:
    """Broken if a second module imports a library: an upgrade that changes it
    must be adapted in one place, and its errors mapped in one place."""
    shared = {}
    for lib, mods in third_party_imports().items():
        layer = LAYER_OWNED.get(lib)
        if layer is not None:
            mods = {m for m in mods if not m.startswith(layer)}
            if not mods:
                continue
        if len(mods) > 1 or layer is not None:
            shared[lib] = sorted(mods)
    assert shared == {}


def test_the_scan_sees_the_libraries() -> None:
    """The check above is empty-handed if the scan finds nothing: it must find
    the libraries the project is known to use."""
    assert {"yaml", "click", "icalendar", "watchdog"} <= set(third_party_imports())


# -- the direction of imports between layers ----------------------------------

# Each subpackage of warmupd is a layer; a module may import its own layer and
# the layers below it.  The adapters between the daemon and the core are peers:
# they may not import one another, except along the edges listed here (each
# one an adapter that needs another's records, never the other way round).
RANK = {"core": 0, "contacts": 1, "history": 1, "notify": 1, "calendar": 1, "sources": 1,
        "daemon": 2, "cli": 3}
PEER_EDGES = {
    ("calendar", "history"),  # a CalDAV sync keeps its hrefs and etags in the store
    ("notify", "history"),  # push claims a nudge in the store, so one device sends it
    ("sources", "history"),  # a noticed touch is recorded in the store
    ("sources", "calendar"),  # meetings come from the iCalendar parser and CalDAV
}
# Shared by every layer but the core: the package root (its version), the
# file-system layout, the clock the daemon injects, and the child-process
# runner (the daemon parses with it and hands it to the CalDAV sync, which may
# not import the daemon; jobs name their function by module path, so the
# runner itself imports no layer).
BASE = {"warmupd", "paths", "clock", "child", "__main__"}
# Cycles through type annotations only (``if TYPE_CHECKING:``): no import
# happens at run time.  Listed so that a new one is a decision, not an accident.
TYPE_ONLY_CYCLES = [
    # BookError annotates the Problems it carries; the model re-exports the errors.
    {"warmupd.core.errors", "warmupd.core.model"},
    # Push is the write half of a Syncer, which it annotates; Syncer builds it.
    {"warmupd.calendar.caldav.push", "warmupd.calendar.caldav.sync"},
]


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name | ast.Attribute) \
                and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for stmt in node.body:
                inside.update(id(n) for n in ast.walk(stmt))
    return inside


def import_graph(runtime_only: bool = False) -> dict[str, set[str]]:
    """Module -> the warmupd modules it imports, anywhere in its text (a lazy
    import inside a function counts: it runs, just later)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for mod, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_nodes(tree) if runtime_only else set()
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                # "from pkg import sub" imports the module pkg.sub; a name imports pkg.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in paths and "." in target:
                    target = target.rpartition(".")[0]
                if target in paths and target != mod:
                    graph[mod].add(target)
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "warmupd"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, targets in graph.items():
        here = layer(mod)
        for target in targets:
            there = layer(target)
            if there == here:
                continue
            if here == "core":
                bad.append(f"{mod} -> {target}: the core imports only the core")
            elif there == "cli":
                if here != "__main__":
                    bad.append(f"{mod} -> {target}: nothing imports the command line")
            elif there in BASE:
                continue
            elif here in BASE:
                if there != "core":
                    bad.append(f"{mod} -> {target}: {here} is below every layer but the core")
            elif RANK[there] > RANK[here] or (RANK[there] == RANK[here]
                                              and (here, there) not in PEER_EDGES):
                bad.append(f"{mod} -> {target}: {here} may not import {there}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    """Broken by a new flat module or subpackage the rules below know nothing of."""
    unknown = {m for m in import_graph() if layer(m) not in RANK and layer(m) not in BASE}
    assert unknown == set()


def test_imports_point_down_the_layers() -> None:
    """Broken if the core imports an adapter, anything imports the CLI, an adapter
    imports the daemon, or two peer adapters lean on each other unlisted."""
    assert layer_violations(import_graph()) == []


def test_the_core_uses_the_standard_library_only() -> None:
    core = {lib: sorted(m for m in mods if layer(m) == "core")
            for lib, mods in third_party_imports().items()}
    assert {lib: mods for lib, mods in core.items() if mods} == {}


def test_no_import_cycles_at_run_time() -> None:
    assert cycles(import_graph(runtime_only=True)) == []


def test_the_type_only_cycles_are_the_listed_ones() -> None:
    assert sorted(map(sorted, cycles(import_graph()))) == sorted(map(sorted, TYPE_ONLY_CYCLES))


def test_the_rules_catch_a_wrong_edge() -> None:
    """The checks above pass vacuously if the graph is empty or the rules are
    blind: planted edges of each kind must be reported."""
    graph = import_graph()
    assert "warmupd.core.model" in graph["warmupd.core.planner"]
    assert "warmupd.history.store" in graph["warmupd.daemon.daemon"]
    planted = {k: set(v) for k, v in graph.items()}
    planted["warmupd.core.planner"].add("warmupd.paths")
    planted["warmupd.history.store"].add("warmupd.cli.commands")
    planted["warmupd.notify.push"].add("warmupd.daemon.liveness")
    planted["warmupd.history.store"].add("warmupd.calendar.ics")
    assert len(layer_violations(planted)) == 4
    runtime = import_graph(runtime_only=True)
    runtime["warmupd.core.model"].add("warmupd.core.cycles")
    assert cycles(runtime) == [{"warmupd.core.model", "warmupd.core.cycles"}]
