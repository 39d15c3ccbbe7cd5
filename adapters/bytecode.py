"""Bytecode for the modules the workflow sandbox imports afresh for every workflow run.

The sandbox re-executes a workflow's own modules for each run it starts (that is how it keeps
runs apart). Python loads a module from its cached bytecode when there is one and compiles the
source when there is not; with ``PYTHONDONTWRITEBYTECODE`` (set in our image and on many
machines) or a read-only tree no cache is ever written, so every call would compile
``workflows/`` again: 20 ms of CPU per call measured, a quarter of what a call costs the
worker (docs/benchmarks.md).
Writing the cache once when the worker starts (or when the image is built, see the
Dockerfile) turns that into a load of a few hundred microseconds.
"""

from __future__ import annotations

import compileall
import functools
from pathlib import Path

from adapters.logs import get_logger

log = get_logger("bytecode")


def compile_package(directory: Path) -> bool:
    """Write missing or stale bytecode next to the modules of ``directory`` (not below it),
    whatever ``PYTHONDONTWRITEBYTECODE`` says; False when some could not be written."""
    return bool(compileall.compile_dir(directory, maxlevels=0, quiet=2))


@functools.cache
def cache_bytecode(directory: Path) -> bool:
    """Once per process and directory: its bytecode, or a warning saying why runs compile."""
    written = compile_package(directory)
    if not written:
        log.warning(
            "bytecode not writable; every workflow run compiles these modules again",
            directory=str(directory),
            fix="run `python -m compileall` over the code when installing it",
        )
    return written
