"""Docs that cannot drift: every ```python block of README.md and docs/ is an excerpt of tested
code, a checked fragment, or code that runs (here when it needs no Temporal, else in
tests/workflow/test_docs_snippets.py); the rules are in tests/helpers/doc_snippets.py. Every
``outbound-calls`` command a ```bash block names exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from cli.main import app
from tests.helpers.doc_snippets import (
    Snippet,
    cli_lines,
    cli_problems,
    excerpt_problems,
    fragment_problems,
    run_problems,
    run_snippet,
    snippets,
)

PYTHON = snippets("python")


def problems_of(snippet: Snippet) -> list[str]:
    if snippet.kind == "excerpt":
        return excerpt_problems(snippet)
    if snippet.kind == "fragment":
        return fragment_problems(snippet)
    return run_problems(snippet)


def test_the_docs_have_python_snippets() -> None:
    assert len(PYTHON) >= 5, [s.where for s in PYTHON]


@pytest.mark.parametrize("snippet", PYTHON, ids=[s.where for s in PYTHON])
def test_a_python_snippet_is_tested(snippet: Snippet) -> None:
    problems = problems_of(snippet)
    assert not problems, "\n".join(problems)


RUN_HERE = [s for s in PYTHON if s.kind == "run" and not run_problems(s) and not s.awaits]


@pytest.mark.parametrize("snippet", RUN_HERE, ids=[s.where for s in RUN_HERE])
async def test_a_snippet_without_temporal_runs(snippet: Snippet) -> None:
    await run_snippet(snippet, {})


CLI = cli_lines()


def test_the_docs_name_cli_commands() -> None:
    assert len(CLI) >= 5, CLI


@pytest.mark.parametrize(("where", "line"), CLI, ids=[w for w, _ in CLI])
def test_a_cli_line_names_real_commands(where: str, line: str) -> None:
    problems = cli_problems(where, line, typer.main.get_command(app))
    assert not problems, "\n".join(problems)


# The rules themselves, on made-up docs.


def _one(tmp_path: Path, markdown: str, lang: str = "python") -> Snippet:
    doc = tmp_path / "doc.md"
    doc.write_text(markdown)
    (found,) = snippets(lang, [doc])
    return found


@pytest.fixture
def tmp_in_root() -> Path:
    # Snippet.where is relative to the repository, so made-up docs live under it.
    from tests.helpers.doc_snippets import ROOT

    path = ROOT / ".pytest_cache" / "doc_snippets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_an_excerpt_that_drifted_fails(tmp_in_root: Path) -> None:
    snippet = _one(
        tmp_in_root,
        "```python\n# from tests/helpers/example_parent.py\n"
        "@workflow.defn(name='AppointmentReminderWorkflow')\n```\n",
    )
    assert "are not in tests/helpers/example_parent.py" in "".join(excerpt_problems(snippet))


def test_an_excerpt_of_untested_code_fails(tmp_in_root: Path) -> None:
    (tmp_in_root / "untested.py").write_text("def f() -> None:\n    pass\n")
    snippet = _one(
        tmp_in_root,
        "```python\n# from .pytest_cache/doc_snippets/untested.py\ndef f() -> None:\n```\n",
    )
    assert excerpt_problems(snippet) == [
        ".pytest_cache/doc_snippets/doc.md:1: no test imports .pytest_cache.doc_snippets.untested,"
        " so the excerpt is untested"
    ]


def test_a_snippet_with_undefined_names_fails(tmp_in_root: Path) -> None:
    snippet = _one(tmp_in_root, "text\n\n```python\nhandle = await start_call(client, r)\n```\n")
    (problem,) = run_problems(snippet)
    assert problem.startswith(".pytest_cache/doc_snippets/doc.md:3: uses ['client', 'r', 'start")


def test_a_fragment_with_a_wrong_name_fails(tmp_in_root: Path) -> None:
    snippet = _one(
        tmp_in_root,
        "<!-- snippet: fragment of workflows/outbound_call.py -->\n"
        "```python\nif workflow.patchd('x'):\n    pass\n```\n",
    )
    assert fragment_problems(snippet) == [
        ".pytest_cache/doc_snippets/doc.md:2: workflow (from workflows/outbound_call.py) "
        "has no patchd"
    ]


def test_a_missing_cli_command_fails(tmp_in_root: Path) -> None:
    _one(tmp_in_root, "```bash\noutbound-calls campaign pause|stop x\n```\n", lang="bash")
    ((where, line),) = cli_lines([tmp_in_root / "doc.md"])
    (problem,) = cli_problems(where, line, typer.main.get_command(app))
    assert "no command ['stop'] in `campaign`" in problem
