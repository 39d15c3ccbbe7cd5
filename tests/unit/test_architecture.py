"""What may import what (docs/architecture.md), checked on the source: a rule a newcomer
breaks by accident fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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
RULES: dict[str, tuple[str, ...]] = {
    "calls": NOT_IN_THE_DOMAIN,
    "adapters": ("workflows", "activities", "stack", "cli", "tests"),
    "workflows": ("adapters", "httpx", "structlog", "stack", "tests"),
    "activities": ("workflows", "stack", "tests"),
    "bench": ("tests",),
    "stack": ("tests",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _breaks(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f"{f}.") for f in forbidden)


@pytest.mark.parametrize("package", sorted(RULES))
def test_a_package_imports_only_what_it_may(package: str) -> None:
    broken = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path)
        if _breaks(name, RULES[package])
    }
    assert not broken, f"{package}/ may not import these (docs/architecture.md):\n" + "\n".join(
        sorted(broken)
    )


def test_the_sandbox_passes_through_only_the_domain_of_ours() -> None:
    from worker import SANDBOX_PASSTHROUGH

    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests"}
    assert set(SANDBOX_PASSTHROUGH) & ours == {"calls"}
