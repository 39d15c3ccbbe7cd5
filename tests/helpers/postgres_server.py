"""A real PostgreSQL server for the tests, from the ``pgserver`` wheel: no Docker, no apt.

``initdb`` refuses to run as root; as root (CI here), pgserver runs the server as a system
user of its own (``pgserver``, created with useradd once). It listens on a Unix socket in its
data directory only, so nothing outside this machine's processes can reach it.
"""

from __future__ import annotations

import atexit
import uuid
from pathlib import Path
from urllib.parse import quote

import pgserver
import psycopg
from pgserver.postgres_server import PostgresServer, get_server

PSQL_BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"


def start_postgres(data_dir: Path) -> PostgresServer:
    """Start (or reuse) the server on ``data_dir``; stop it with ``stop_postgres``."""
    return get_server(data_dir, cleanup_mode="stop")


def stop_postgres(server: PostgresServer) -> None:
    server.cleanup()
    # pgserver's own exit hook (kept in "stop" mode) would log once more at interpreter
    # exit, into a stream pytest has closed by then: a "Logging error" traceback after
    # every run.
    atexit.unregister(server._cleanup)


def socket_dir(server: PostgresServer) -> str:
    return str(server.get_postmaster_info().socket_dir)


def database_url(server: PostgresServer, database: str, user: str = "postgres") -> str:
    """A ``postgresql://`` URL (as DNC_DATABASE_URL takes it) over the server's socket."""
    return f"postgresql://{user}@/{database}?host={quote(socket_dir(server), safe='')}"


def create_database(server: PostgresServer) -> str:
    """A new, empty database of its own for one test; answers its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.get_uri(), autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return database_url(server, name)
