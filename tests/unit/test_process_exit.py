"""Processes that held a Temporal client leave without finalizing the interpreter (where
temporalio's native threads can abort a clean exit), yet run their exit handlers and keep
their exit code (adapters/process_exit.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import atexit
from adapters.process_exit import run_then_exit

class Finalized:
    def __del__(self):
        print("finalized", flush=True)

kept = Finalized()
atexit.register(lambda: print("exit handler ran", flush=True))

def main():
    {body}

run_then_exit(main)
"""


def run(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(body=body)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("body", "code", "stderr"),
    [
        ("return 0", 0, ""),
        ("return 3", 3, ""),
        ("raise SystemExit('RETELL_API_KEY is not set')", 1, "RETELL_API_KEY is not set"),
        ("raise RuntimeError('boom')", 1, "RuntimeError: boom"),
    ],
)
def test_exit_handlers_run_the_code_is_kept_and_nothing_is_finalized(
    body: str, code: int, stderr: str
) -> None:
    done = run(body)

    assert done.returncode == code, done.stderr
    assert "exit handler ran" in done.stdout
    # Interpreter finalization (where the native threads bite) never started.
    assert "finalized" not in done.stdout
    assert stderr in done.stderr
