"""Shared fixtures: real Temporal servers from the PyPI wheels, started once per session, and
the Retell simulator on loopback. Helpers (call_worker, eventually, ...) are in tests/helpers/.

Before anything runs, the product's settings of the shell leave the environment and ``.env``
files are off (tests/helpers/hermetic.py): a test sees only what it sets itself, and so do
the processes it starts, which inherit that environment."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pgserver.postgres_server import PostgresServer
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
from stack.binaries import server_binary
from tests.helpers.call_harness import (
    SimulatorAdmin,
    simulator_admin,
    start_time_skipping_server,
)
from tests.helpers.hermetic import scrub_environment
from tests.helpers.postgres_server import create_database, start_postgres, stop_postgres


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than there are cores. The tests mostly wait on servers
    (2 cores: 3 workers ran the suite in 312 s, 2 in 373 s); --maxprocesses caps it."""
    return (os.cpu_count() or 1) + 1


def pytest_configure(config: pytest.Config) -> None:
    scrub_environment(os.environ)


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: days of timers pass in milliseconds."""
    env = await start_time_skipping_server()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A full dev server (``temporal server start-dev``), in memory, with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (the ``pgserver`` wheel), started once for the session. Its
    data lives outside pytest's tmp directory: as root the server runs as user ``pgserver``,
    and every pytest session starting on the machine makes ``/tmp/pytest-of-root`` private
    again (0700), which another session's server could then no longer reach."""
    with tempfile.TemporaryDirectory(prefix="outbound-calls-postgres-") as parent:
        os.chmod(parent, 0o755)
        server = start_postgres(Path(parent) / "data")
        yield server
        stop_postgres(server)


@pytest.fixture
def dnc_database_url(postgres: PostgresServer) -> str:
    """An empty database of the test's own on that server, as DNC_DATABASE_URL."""
    return create_database(postgres)


@pytest.fixture
def sim_time_scale() -> float:
    """The pace of the ``sim`` fixture's calls (SIMULATOR_TIME_SCALE); a module that needs
    another overrides this fixture."""
    return 0.01


@pytest.fixture
async def sim(sim_time_scale: float) -> AsyncIterator[SimulatorAdmin]:
    """The Retell simulator on loopback, sending no webhooks (a test delivers them, or the
    poll fallback finds the call's end), and its admin client (``sim.base_url`` is Retell's)."""
    async with simulator_admin(time_scale=sim_time_scale) as admin:
        yield admin
