"""Run ``outbound-calls`` as a user does: the installed console script, a real subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The console script pip installed next to the interpreter (the entry point under test).
CLI = str(Path(sys.executable).parent / "outbound-calls")
# Settings a developer's shell may carry; a test gives the CLI only what it sets. (The session
# already dropped them, tests/helpers/hermetic.py; OUTBOUND_CALLS_ENV_FILE="" stays.)
_OWN_PREFIXES = ("TEMPORAL_", "PAYLOAD_", "RETELL_", "DO_NOT_CALL_")


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def cli_env(**settings: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    return {**base, **settings}


async def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path, timeout_s: float = 120.0
) -> CliRun:
    """``cwd`` is a scratch directory: no ``.env`` or ``.devstack`` of the checkout is read."""
    proc = await asyncio.create_subprocess_exec(
        CLI,
        *args,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    assert proc.returncode is not None
    return CliRun(proc.returncode, out.decode(), err.decode())
