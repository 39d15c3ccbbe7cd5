"""The fenced code blocks of README.md and docs/*.md, and the rules that keep them true.

Every ```python block is one of three kinds:

- an **excerpt**: its first line is ``# from <path>``, and its lines are that file's lines,
  verbatim and in order (a line ``...`` skips lines of the file); the file is imported by a
  test, and so is every class and function the excerpt shows;
- a **fragment**: a ``<!-- snippet: fragment of <path> -->`` line comes just before it; it
  compiles, its imports resolve, and every dotted name it takes from that module's globals
  (``workflow.patched``) exists there; other free names are the surroundings' locals;
- a **run** snippet: anything else. It runs in a fresh namespace, given only the names a
  ``<!-- snippet: given a, b -->`` line before it declares (from :data:`GIVENS`). One without
  a top-level ``await`` runs in tests/unit; one with it talks to Temporal and runs in
  tests/workflow on the time-skipping server, with a worker and the simulator.

``outbound-calls ...`` lines of ```bash blocks name commands the CLI has.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# What a run snippet may take as given, and what the test gives it.
GIVENS = {
    "client": "a connected Temporal client (the README's connect_temporal)",
    "request": "a CallRequest",
}

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:\s*(?P<text>.*?)\s*-->\s*$")
_FROM = re.compile(r"^#\s*from\s+(?P<path>\S+\.py)\s*$")
_ELISION = "..."


@dataclass(frozen=True)
class Snippet:
    doc: Path
    line: int  # the fence's line, 1-based
    lang: str
    code: str  # dedented to the fence
    directive: str = ""

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def source(self) -> str | None:
        """The file an excerpt comes from (``# from <path>`` on its first line)."""
        first = self.code.splitlines()[0] if self.code else ""
        found = _FROM.match(first)
        return found["path"] if found else None

    @property
    def fragment_of(self) -> str | None:
        found = re.fullmatch(r"fragment of (\S+\.py)", self.directive)
        return found[1] if found else None

    @property
    def given(self) -> tuple[str, ...]:
        found = re.fullmatch(r"given (.+)", self.directive)
        return tuple(n.strip() for n in found[1].split(",")) if found else ()

    @property
    def kind(self) -> str:
        if self.source:
            return "excerpt"
        if self.directive.startswith("fragment"):
            return "fragment"
        return "run"

    def compiled(self) -> CodeType:
        """The code, compiled with top-level ``await`` allowed; tracebacks show doc lines."""
        code: CodeType = compile(
            "\n" * self.line + self.code,
            str(self.doc.relative_to(ROOT)),
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        return code

    @property
    def awaits(self) -> bool:
        return bool(self.compiled().co_flags & inspect.CO_COROUTINE)


def docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def snippets(lang: str, paths: list[Path] | None = None) -> list[Snippet]:
    return [s for path in paths or docs() for s in parse(path) if s.lang == lang]


def parse(path: Path) -> Iterator[Snippet]:
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening or not opening["lang"]:
            i += 1
            continue
        indent = len(opening["indent"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not _FENCE.match(lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        directive = _DIRECTIVE.match(before)
        yield Snippet(
            doc=path,
            line=start + 1,
            lang=opening["lang"],
            code="\n".join(body) + "\n",
            directive=directive["text"] if directive else "",
        )
        i += 1


# Excerpts.


def _chunks(lines: list[str]) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == _ELISION:
            chunks.append([])
        else:
            chunks[-1].append(line.rstrip())
    # ruff's formatter puts a blank line before an elision that ends a block: not the file's.
    for chunk in chunks:
        while chunk and not chunk[-1]:
            chunk.pop()
    return [c for c in chunks if c]


def excerpt_problems(snippet: Snippet) -> list[str]:
    """Why an excerpt is not its file's text, or its file not tested; empty when it is."""
    assert snippet.source is not None
    path = ROOT / snippet.source
    if not path.is_file():
        return [f"{snippet.where}: {snippet.source} does not exist"]
    text = [line.rstrip() for line in path.read_text().splitlines()]
    at = 0
    for chunk in _chunks(snippet.code.splitlines()[1:]):
        found = next(
            (i for i in range(at, len(text) - len(chunk) + 1) if text[i : i + len(chunk)] == chunk),
            None,
        )
        if found is None:
            return [
                f"{snippet.where}: these lines are not in {snippet.source} (in this order):\n"
                + "\n".join(chunk)
            ]
        at = found + len(chunk)
    return _untested(snippet, snippet.source)


def _untested(snippet: Snippet, source: str) -> list[str]:
    module = source.removesuffix(".py").replace("/", ".")
    # The classes and functions it shows (an excerpt with elisions need not parse).
    shown = set(re.findall(r"^(?:async def|def|class) (\w+)", snippet.code, re.MULTILINE))
    imported: set[str] = set()
    importers = 0
    for test in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(test.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == module:
                importers += 1
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import) and module in (a.name for a in node.names):
                importers += 1
    if not importers:
        return [f"{snippet.where}: no test imports {module}, so the excerpt is untested"]
    missing = sorted(shown - imported)
    return [f"{snippet.where}: no test imports {name} from {module}" for name in missing]


# Names and imports.


def bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def free_names(code: str) -> set[str]:
    """The names a snippet uses without binding them (builtins apart)."""
    tree = ast.parse(code)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - bound_names(tree) - set(dir(builtins))


def import_problems(snippet: Snippet) -> list[str]:
    """Every module a snippet imports must import, and every name it takes must exist."""
    problems: list[str] = []
    for node in ast.walk(ast.parse(snippet.code)):
        targets: list[tuple[str, str | None]]
        if isinstance(node, ast.Import):
            targets = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in targets:
            where = f"{snippet.where} (line {snippet.line + node.lineno})"
            try:
                imported = importlib.import_module(module)
            except ImportError as err:
                problems.append(f"{where}: import {module}: {err}")
                continue
            if name and not hasattr(imported, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ImportError:
                    problems.append(f"{where}: {module} has no {name}")
    return problems


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def fragment_problems(snippet: Snippet) -> list[str]:
    """A fragment compiles, its imports resolve, and the dotted names it takes from its
    module's globals exist there."""
    context = snippet.fragment_of
    if context is None or not (ROOT / context).is_file():
        return [f"{snippet.where}: say `<!-- snippet: fragment of <an existing .py> -->`"]
    try:
        snippet.compiled()
    except SyntaxError as err:
        return [f"{snippet.where}: does not compile: {err}"]
    problems = import_problems(snippet)
    tree = ast.parse(snippet.code)
    scope: dict[str, Any] = vars(importlib.import_module(context[:-3].replace("/", ".")))
    free = free_names(snippet.code)
    chains = [
        chain
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Name)
        and (chain := _dotted(node))
        and chain[0] in free
        and chain[0] in scope
    ]
    for chain in chains:
        value: Any = scope[chain[0]]
        for i, attr in enumerate(chain[1:], start=1):
            if not hasattr(value, attr):
                problems.append(
                    f"{snippet.where}: {'.'.join(chain[:i])} (from {context}) has no {attr}"
                )
                break
            value = getattr(value, attr)
    if not chains:
        problems.append(f"{snippet.where}: takes no name from {context}, so nothing is checked")
    return problems


# Run snippets.


def run_problems(snippet: Snippet) -> list[str]:
    """What keeps a run snippet from running as written, short of running it."""
    try:
        snippet.compiled()
    except SyntaxError as err:
        return [f"{snippet.where}: does not compile: {err}"]
    problems = import_problems(snippet)
    unknown = sorted(set(snippet.given) - set(GIVENS))
    if snippet.directive and not snippet.given:
        problems.append(f"{snippet.where}: unknown directive `{snippet.directive}`")
    if unknown:
        problems.append(f"{snippet.where}: no test gives {unknown}; known: {sorted(GIVENS)}")
    undefined = sorted(free_names(snippet.code) - set(snippet.given))
    if undefined:
        problems.append(
            f"{snippet.where}: uses {undefined} without defining them: import them, declare "
            "them (`<!-- snippet: given client -->`), make it an excerpt (`# from <file>`) "
            "or a fragment (`<!-- snippet: fragment of <file> -->`)"
        )
    return problems


async def run_snippet(snippet: Snippet, given: dict[str, Any]) -> dict[str, Any]:
    """Runs a snippet in a fresh namespace holding only ``given``; returns the namespace."""
    namespace: dict[str, Any] = {"__name__": f"snippet_{snippet.line}", **given}
    result = eval(snippet.compiled(), namespace)  # our own docs, on purpose
    if inspect.iscoroutine(result):
        await result
    return namespace


# The command line in ```bash blocks.


def cli_lines(paths: list[Path] | None = None) -> list[tuple[str, str]]:
    """(where, command line) of each ``outbound-calls ...`` line of a bash block."""
    found: list[tuple[str, str]] = []
    for snippet in snippets("bash", paths):
        for offset, line in enumerate(snippet.code.splitlines(), start=1):
            words = line.split("#")[0].split()
            if words and words[0].endswith("outbound-calls"):
                found.append((f"{snippet.where} (line {snippet.line + offset})", line.strip()))
    return found


def cli_problems(where: str, line: str, command: Any) -> list[str]:
    """The command and subcommand a line names must exist (``a|b`` names both); ``command``
    is the CLI's click group (``typer.main.get_command(app)``)."""
    words = line.split("#")[0].split()[1:]
    group = command
    for word in words:
        commands: dict[str, Any] | None = getattr(group, "commands", None)
        if commands is None or word.startswith("-"):
            return []
        names = word.split("|")
        missing = [n for n in names if n not in commands]
        if missing:
            return [f"{where}: `{line}`: no command {missing} in `{group.name}`"]
        group = commands[names[0]]
    if getattr(group, "commands", None) is not None:
        return [f"{where}: `{line}`: names no command"]
    return []
