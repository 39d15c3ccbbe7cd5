"""Leaving a process that held a Temporal client without finalizing the interpreter.

temporalio's native runtime keeps threads of its own. While CPython finalizes, one of them
can call back into the dying interpreter and abort the process ("Fatal Python error:
PyGILState_Release: thread state ... must be current when releasing", SIGABRT;
temporalio/sdk-python#300). A worker that stopped cleanly then exits with -6, which an
orchestrator, a test or ``make run`` reads as a crash. Once a process's work is done, its exit
handlers run (span export, log flush), and it leaves without finalizing.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def exit_without_finalizing(code: int) -> NoReturn:
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def exit_code(stop: SystemExit) -> int:
    """What the interpreter would exit with for ``stop`` (a message is printed, then 1)."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


def run_then_exit(main: Callable[[], int | None]) -> NoReturn:
    """Run a process's ``main`` and leave with its exit code, as ``sys.exit(main())`` would."""
    try:
        code = main() or 0
    except SystemExit as stop:
        code = exit_code(stop)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_without_finalizing(code)
