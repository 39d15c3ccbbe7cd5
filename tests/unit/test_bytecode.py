"""The workflow sandbox re-imports workflows/ for every run: its bytecode must be cached, or
every call compiles the modules again (adapters/bytecode.py)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.bytecode import cache_bytecode, compile_package
from worker import WORKFLOWS_DIR, workflow_runner


@pytest.fixture
def no_bytecode_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # As with PYTHONDONTWRITEBYTECODE=1 (our image sets it).
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    cache_bytecode.cache_clear()
    yield
    cache_bytecode.cache_clear()


def cached(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


@pytest.mark.usefixtures("no_bytecode_writes")
def test_a_worker_writes_the_bytecode_of_its_workflow_modules() -> None:
    modules = sorted(WORKFLOWS_DIR.glob("*.py"))
    for module in modules:
        cached(module).unlink(missing_ok=True)

    workflow_runner()

    missing = [m.name for m in modules if not cached(m).is_file()]
    assert missing == []


@pytest.mark.usefixtures("no_bytecode_writes")
def test_an_unwritable_cache_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("X = 1\n")
    # A file where the cache directory would go: no write succeeds, even as root (a
    # read-only directory would not stop root).
    (tmp_path / "__pycache__").write_text("")

    assert compile_package(tmp_path) is False


@pytest.mark.usefixtures("no_bytecode_writes")
def test_only_the_package_itself_is_compiled(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("X = 1\n")
    (tmp_path / "below").mkdir()
    (tmp_path / "below" / "deep.py").write_text("Y = 2\n")

    assert compile_package(tmp_path) is True

    assert cached(tmp_path / "flow.py").is_file()
    assert not cached(tmp_path / "below" / "deep.py").exists()
