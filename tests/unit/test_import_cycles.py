"""No module of ours imports itself round a circle of our modules (two that import each other,
or a longer loop): in a circle, which module works depends on which was imported first, and
neither can be read, tested or moved without the other.

The graph is that of the modules pyproject.toml ships (its packages and py-modules). An import
counts when it runs as the module is imported (top level, or under ``if``, ``try`` or
``with workflow.unsafe.imports_passed_through()``), and under ``if TYPE_CHECKING:`` too: a
type-only import is how a circle is usually hidden (stack/calls.py and stack/processes.py had
one), and mypy still reads both modules as one. An import inside a function does not count:
that is how this code loads a heavy or optional part only when it is used (the CLI's process
commands import the component they run, adapters/tracing.py OpenTelemetry's exporters), it
does not run at import, so it cannot break an import order.
"""

from __future__ import annotations

import ast
import graphlib
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def our_modules() -> dict[str, Path]:
    """Every module of ours by its dotted name (a package by its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for package in SETUPTOOLS["packages"]:
        top = ROOT / SETUPTOOLS.get("package-dir", {}).get(package, package)
        for path in sorted(top.rglob("*.py")):
            parts = [package, *path.relative_to(top).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    for module in SETUPTOOLS["py-modules"]:
        found[module] = ROOT / f"{module}.py"
    return found


def _import_time_statements(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run as the module is imported, TYPE_CHECKING blocks included."""
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ExceptHandler | ast.match_case):
                yield from _import_time_statements(child.body)
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                yield from _import_time_statements(s for s in block if isinstance(s, ast.stmt))


def imported_modules(name: str, source: str, modules: Mapping[str, Path]) -> set[str]:
    """The modules of ``modules`` that module ``name`` imports at import time.

    ``from a import b`` names the module ``a.b`` when there is one, else ``a``; a package a
    submodule sits in is not counted (Python runs its ``__init__`` first, but a package that
    re-exports its submodules would otherwise be in a circle with each of them).
    """
    package = name if modules[name].name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in _import_time_statements(ast.parse(source).body):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                member = f"{base}.{alias.name}"
                named.add(member if member in modules else base)
    found: set[str] = set()
    for dotted in named:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        if dotted and dotted != name:
            found.add(dotted)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {
        name: imported_modules(name, path.read_text(), modules) for name, path in modules.items()
    }


def test_no_module_of_ours_imports_itself_round_a_circle() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as err:
        circle = " imports ".join(reversed(err.args[1]))
        raise AssertionError(
            f"modules import each other in a circle: {circle}; move what both need into a "
            "module of its own that neither imports back"
        ) from None


def test_the_graph_sees_imports_at_import_time_and_under_type_checking_only() -> None:
    modules = {f"pkg.{m}": Path(f"pkg/{m}.py") for m in "abcde"} | {"pkg": Path("pkg/__init__.py")}
    source = """
from typing import TYPE_CHECKING
import pkg.b
from pkg import c

if TYPE_CHECKING:
    from pkg.d import Thing

def later() -> None:
    from pkg import e
"""
    assert imported_modules("pkg.a", source, modules) == {"pkg.b", "pkg.c", "pkg.d"}
    relative = "from . import a\nfrom .c import name_in_c\n"
    assert imported_modules("pkg.b", relative, modules) == {"pkg.a", "pkg.c"}
    assert import_graph()["worker"] >= {"adapters.settings", "workflows.outbound_call"}
