"""What may import what (docs/architecture.md), checked on the source: a rule a newcomer
breaks by accident fails here, not in review."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_dir(package: str) -> str:
    """Where a shipped package's source is (client/ holds the contract package)."""
    return str(SETUPTOOLS.get("package-dir", {}).get(package, package))


# calls/ is the pure domain, the only package of ours passed through the workflow sandbox.
NOT_IN_THE_DOMAIN = (
    "httpx",
    "structlog",
    "cryptography",
    "psycopg",
    "psycopg_pool",
    "sqlite3",
    "fastapi",
    "starlette",
    "uvicorn",
    "h11",
    "opentelemetry",
    "socket",
    "temporalio.client",
    "temporalio.worker",
    "temporalio.service",
    "temporalio.runtime",
    "temporalio.api",
    "adapters",
    "activities",
    "workflows",
    "stack",
    "cli",
)
OURS = ("calls", "adapters", "activities", "workflows", "bridge", "simulator", "stack", "cli")
RULES: dict[str, tuple[str, ...]] = {
    # The contract other teams install: temporalio, pydantic, phonenumbers and nothing of ours.
    "outbound_calls_client": (*OURS, "httpx", "structlog", "fastapi", "tests"),
    "calls": NOT_IN_THE_DOMAIN,
    "adapters": ("workflows", "activities", "stack", "cli", "tests"),
    "workflows": ("adapters", "httpx", "structlog", "stack", "tests"),
    "activities": ("workflows", "stack", "tests"),
    "bench": ("tests",),
    "stack": ("tests",),
    # The processes: each stands alone; none imports another, or what starts them.
    "bridge": ("workflows", "activities", "cli", "simulator", "stack", "tests"),
    "simulator": ("workflows", "activities", "cli", "bridge", "stack", "tests"),
    # The shipped CLI needs workflows/ (it queries and updates by method), not the processes.
    "cli": (
        "activities",
        "bridge",
        "simulator",
        "codec_server",
        "stack",
        "worker",
        "devstack",
        "bench",
        "tests",
    ),
}
# What a module may import inside a function only: the CLI's process commands run a component
# in its own process, and load it when that command runs, so the other commands never do.
IMPORTED_ON_USE: dict[str, tuple[str, ...]] = {
    "cli/process_commands.py": ("worker", "bridge", "simulator", "devstack"),
}


def _imports(path: Path) -> set[str]:
    """What ``path`` imports, but for the IMPORTED_ON_USE names it imports in a function."""
    on_use = IMPORTED_ON_USE.get(str(path.relative_to(ROOT)), ())
    names: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        found: set[str] = set()
        if isinstance(node, ast.Import):
            found = {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found = {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        names.update(name for name in found if not (in_function and _breaks(name, on_use)))
        in_function = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return names


def _breaks(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f"{f}.") for f in forbidden)


@pytest.mark.parametrize("package", sorted(RULES))
def test_a_package_imports_only_what_it_may(package: str) -> None:
    broken = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package_dir(package)).rglob("*.py"))
        for name in _imports(path)
        if _breaks(name, RULES[package])
    }
    assert not broken, f"{package}/ may not import these (docs/architecture.md):\n" + "\n".join(
        sorted(broken)
    )


def test_the_cli_knows_the_simulators_scenarios_without_importing_it() -> None:
    from calls.scenario_names import SCENARIO_NAMES
    from simulator.scenarios import SCENARIOS

    assert tuple(SCENARIOS) == SCENARIO_NAMES, "calls/scenario_names.py and simulator/ differ"


def test_the_sandbox_passes_through_only_the_domain_of_ours() -> None:
    from worker import SANDBOX_PASSTHROUGH

    ours = set(SETUPTOOLS["packages"])
    assert set(SANDBOX_PASSTHROUGH) & ours == {"calls", "outbound_calls_client"}


# The map of the packages (docs/architecture.md, "The packages"), checked against the tree.

MAP_DOC = ROOT / "docs" / "architecture.md"


def _package_map() -> dict[str, str]:
    """Each path the map names (``calls/``, ``worker.py``) and the text beside it."""
    text = MAP_DOC.read_text()
    block = text.split("## The packages", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    paths: list[str] = []
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        if line[0].isspace():
            for path in paths:
                entries[path] += " " + line.strip()
            continue
        named = re.match(r"([\w./-]+(?:, [\w./-]+)*)\s+(.*)", line)
        assert named, f"docs/architecture.md's map: `{line}` names no path"
        paths = named[1].split(", ")
        for path in paths:
            entries[path] = named[2].strip()
    return entries


def _tree() -> set[str]:
    """What the map must name: the packages and modules pyproject ships, tests/ folders and
    bench/."""
    tests = {
        f"tests/{p.name}/" for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name[0] != "_"
    }
    return (
        {f"{package_dir(p)}/" for p in SETUPTOOLS["packages"]}
        | {f"{m}.py" for m in SETUPTOOLS["py-modules"]}
        | tests
        | {"bench/"}
    )


def _definitions() -> dict[str, set[Path]]:
    """Every top-level class and function of our code and of tests/helpers, and where it is
    defined (the CLI's commands and the tests' own functions are words, not places)."""
    found: dict[str, set[Path]] = {}
    for entry in _tree():
        path = ROOT / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if source.name.startswith("test_") or source.name == "conftest.py":
                continue
            for node in ast.parse(source.read_text()).body:
                if isinstance(node, ast.ClassDef) or (
                    isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and not _is_cli_command(node)
                ):
                    found.setdefault(node.name, set()).add(source)
    return found


def _is_cli_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``@app.command(...)`` or ``@app.callback()``: a function named for the command line."""
    return any(
        isinstance(d, ast.Call)
        and isinstance(d.func, ast.Attribute)
        and d.func.attr in {"command", "callback"}
        for d in node.decorator_list
    )


def test_the_map_names_every_package_and_every_path_it_names_exists() -> None:
    entries = _package_map()
    missing = sorted(_tree() - set(entries))
    assert not missing, f"docs/architecture.md's map does not name {missing}"
    absent = sorted(p for p in entries if not (ROOT / p).exists())
    assert not absent, f"docs/architecture.md's map names {absent}, which do not exist"


def test_what_the_map_places_in_a_package_is_there() -> None:
    definitions = _definitions()
    wrong: list[str] = []
    for entry, description in _package_map().items():
        where = ROOT / entry
        for module in re.findall(r"\b[\w/]+\.py\b", description):
            if where.is_dir() and not (where / module).is_file():
                wrong.append(f"{entry}: {module} is not in {entry}")
        for name in set(re.findall(r"\b[A-Za-z_]\w+\b", description)) & set(definitions):
            if not any(d == where or where in d.parents for d in definitions[name]):
                places = sorted(str(d.relative_to(ROOT)) for d in definitions[name])
                wrong.append(f"{entry}: {name} is defined in {places}")
    assert not wrong, "docs/architecture.md's map has drifted:\n" + "\n".join(sorted(wrong))
