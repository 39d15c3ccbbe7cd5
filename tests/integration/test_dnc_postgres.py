"""The shared do-not-call list on a real PostgreSQL server (``DNC_DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from pgserver.postgres_server import PostgresServer
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.dnc_store import open_do_not_call_list
from adapters.settings import BridgeSettings, WorkerSettings
from bridge.app import create_app
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.server import serve_asgi_app
from tests.helpers.call_harness import (
    SIM_KEY,
    TO_NUMBER,
    call_request,
    process_env,
    simulator_admin,
    start_worker_process,
)
from tests.helpers.cli_runner import cli_env, run_cli
from tests.helpers.postgres_server import PSQL_BIN, database_url, socket_dir

ROOT = Path(__file__).resolve().parents[2]
OTHER = "+14155550124"


async def test_add_contains_list_and_remove_with_a_record(dnc_database_url: str) -> None:
    async with PostgresDoNotCallList.connect(dnc_database_url) as store:
        assert not await store.contains(TO_NUMBER)
        await store.add(TO_NUMBER, "user_requested_dnc")
        await store.add(TO_NUMBER, "again")  # idempotent: the first reason stays
        await store.add(OTHER, "asked by email")
        assert await store.contains(TO_NUMBER)
        entries = await store.entries()
        assert [(e.number, e.reason) for e in entries] == [
            (TO_NUMBER, "user_requested_dnc"),
            (OTHER, "asked by email"),
        ]
        assert await store.remove(TO_NUMBER, "consent renewed")
        assert not await store.remove(TO_NUMBER, "twice")
        assert not await store.contains(TO_NUMBER)
    with psycopg.connect(dnc_database_url) as db:
        removals = db.execute("SELECT number, listed_reason, reason FROM do_not_call_removals")
        assert removals.fetchall() == [(TO_NUMBER, "user_requested_dnc", "consent renewed")]


async def test_schema_is_created_once_by_many_workers_at_once_and_indexed(
    dnc_database_url: str,
) -> None:
    async def open_and_add(number: str) -> None:
        async with PostgresDoNotCallList.connect(dnc_database_url) as store:
            await store.add(number, "x")

    numbers = [f"+1415555{n:04d}" for n in range(6)]
    await asyncio.gather(*(open_and_add(n) for n in numbers))
    async with PostgresDoNotCallList.connect(dnc_database_url) as store:  # and once more
        assert {e.number for e in await store.entries()} == set(numbers)
    with psycopg.connect(dnc_database_url) as db:
        db.execute("SET enable_seqscan = off")  # a tiny table: ask whether an index exists
        plan = db.execute(
            "EXPLAIN (FORMAT TEXT) SELECT 1 FROM do_not_call WHERE number = %s",
            (TO_NUMBER,),
        ).fetchall()
    assert "Index" in " ".join(row[0] for row in plan)


async def test_only_e164_numbers_are_stored(dnc_database_url: str) -> None:
    async with PostgresDoNotCallList.connect(dnc_database_url) as store:
        for bad in ("4155550123", "+0415555", "+1 415 555 0123", "+1234567890123456"):
            with pytest.raises(psycopg.errors.CheckViolation):
                await store.add(bad, "x")


async def test_a_wrong_url_names_the_setting_not_the_password(postgres: PostgresServer) -> None:
    url = database_url(postgres, "no_such_database", user="nobody:s3cret-pw")
    with pytest.raises(RuntimeError, match="DNC_DATABASE_URL") as failure:
        async with PostgresDoNotCallList.connect(url, timeout_s=2):
            pass
    assert "s3cret" not in str(failure.value)


async def test_settings_choose_postgres_over_the_sqlite_file(
    dnc_database_url: str, tmp_path: Path
) -> None:
    shared = WorkerSettings(
        dnc_database_url=SecretStr(dnc_database_url), do_not_call_db=tmp_path / "a.sqlite3"
    )
    async with open_do_not_call_list(shared) as store:
        await store.add(TO_NUMBER, "x")
    async with open_do_not_call_list(shared.model_copy(update={"do_not_call_db": tmp_path})) as s:
        assert await s.contains(TO_NUMBER)
    async with open_do_not_call_list(WorkerSettings(do_not_call_db=tmp_path / "b.sqlite3")) as s:
        assert not await s.contains(TO_NUMBER)  # the embedded default: its own file


def test_cli_dnc_commands_use_the_shared_list(dnc_database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DNC_DATABASE_URL": dnc_database_url,
        "DO_NOT_CALL_DB": str(tmp_path / "cli.sqlite3"),
    }
    cli = [str(Path(sys.executable).parent / "outbound-calls"), "dnc"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    assert run("add", TO_NUMBER, "--reason", "asked by email").returncode == 0
    listed = run("list", "-o", "csv")
    assert listed.returncode == 0, listed.stderr
    assert "asked by email" in listed.stdout
    with psycopg.connect(dnc_database_url) as db:
        assert db.execute("SELECT count(*) FROM do_not_call").fetchone() == (1,)
    assert run("remove", TO_NUMBER, "--reason", "consent renewed").returncode == 0
    with psycopg.connect(dnc_database_url) as db:
        assert db.execute("SELECT count(*) FROM do_not_call").fetchone() == (0,)
    # The SQLite file was never the list the CLI used.
    assert not (tmp_path / "cli.sqlite3").exists()


def test_compose_creates_the_list_database_and_role_idempotently(
    postgres: PostgresServer,
) -> None:
    """deploy/postgres/create-dnc-database.sh, run twice as the dnc-database service runs it."""
    name = f"dnc_{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": f"{PSQL_BIN}:{os.environ['PATH']}",
        "PGHOST": socket_dir(postgres),
        "PGUSER": "postgres",
        "DNC_DB_NAME": name,
        "DNC_DB_USER": name,
        "DNC_DB_PASSWORD": 'it\'s a "quoted" pw',
    }
    for _ in range(2):
        result = subprocess.run(
            ["/bin/sh", str(ROOT / "deploy" / "postgres" / "create-dnc-database.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "pw" not in result.stdout + result.stderr
    with psycopg.connect(postgres.get_uri(), autocommit=True) as db:
        owner = db.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        assert owner == (name,)
        role = db.execute(
            "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s",
            (name,),
        ).fetchone()
        assert role == (True, True)


@asynccontextmanager
async def worker_process(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await start_worker_process(env)
    try:
        yield proc
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)


@pytest.mark.integration
async def test_two_workers_on_two_hosts_share_one_list(
    dev_env: WorkflowEnvironment, dnc_database_url: str, tmp_path: Path
) -> None:
    """Different SQLite files (two hosts), one DNC_DATABASE_URL: a person who asked a call
    handled by one worker not to be called again is not dialled by the other."""
    client = dev_env.client
    bridge = create_app(BridgeSettings(retell_api_key=SecretStr(SIM_KEY)), client=client)
    async with AsyncExitStack() as stack:
        served = await stack.enter_async_context(serve_asgi_app(bridge))
        sim = await stack.enter_async_context(
            simulator_admin(webhook_url=f"{served.base_url}/webhooks/retell")
        )
        queues = []
        for host in ("host-a", "host-b"):
            queue = f"dnc-{host}-{uuid.uuid4().hex[:6]}"
            env = process_env(
                client,
                TEMPORAL_TASK_QUEUE=queue,
                RETELL_BASE_URL=sim.base_url,
                RETELL_API_KEY=SIM_KEY,
                DO_NOT_CALL_DB=str(tmp_path / host / "do_not_call.sqlite3"),
                DNC_DATABASE_URL=dnc_database_url,
            )
            await stack.enter_async_context(worker_process(env))
            queues.append(queue)

        first = await start_call(client, call_request("dnc_requested"), task_queue=queues[0])
        assert (await asyncio.wait_for(first.result(), 60)).status == OutcomeStatus.DO_NOT_CALL
        second = await start_call(client, call_request("answered"), task_queue=queues[1])
        outcome = await asyncio.wait_for(second.result(), 60)
        assert outcome.status == OutcomeStatus.DO_NOT_CALL
        assert outcome.attempts == ()
        assert len(await sim.calls(TO_NUMBER)) == 1  # dialled once, by the first worker only


@pytest.mark.integration
async def test_a_number_on_an_imported_source_is_refused_and_a_stale_source_is_warned_of(
    dev_env: WorkflowEnvironment, dnc_database_url: str, tmp_path: Path
) -> None:
    """The CLI imports a registry file into the shared list; a worker process warns at start
    of a source older than 31 days and refuses a number on the fresh one without dialing,
    its log naming the source."""
    cli = cli_env(DNC_DATABASE_URL=dnc_database_url)
    for source, number in (("national-2026-10", OTHER), ("national-2026-12", TO_NUMBER)):
        registry = tmp_path / f"{source}.txt"
        registry.write_text(f"{number[2:5]},{number[5:]}\n")  # the registry's full-list form
        imported = await run_cli(
            "dnc", "import", str(registry), "--source", source, env=cli, cwd=tmp_path
        )
        assert imported.code == 0, imported.err
    with psycopg.connect(dnc_database_url) as db:
        db.execute(
            "UPDATE registry_sources SET imported_at = now() - interval '40 days'"
            " WHERE name = 'national-2026-10'"
        )
    client = dev_env.client
    async with simulator_admin() as sim:
        queue = f"dnc-registry-{uuid.uuid4().hex[:6]}"
        env = process_env(
            client,
            TEMPORAL_TASK_QUEUE=queue,
            RETELL_BASE_URL=sim.base_url,
            RETELL_API_KEY=SIM_KEY,
            DO_NOT_CALL_DB=str(tmp_path / "unused.sqlite3"),
            DNC_DATABASE_URL=dnc_database_url,
        )
        proc = await start_worker_process(env, capture=True)
        lines: list[dict[str, object]] = []

        async def read_log() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(raw))

        reader = asyncio.create_task(read_log())
        try:
            handle = await start_call(client, call_request("answered"), task_queue=queue)
            outcome = await asyncio.wait_for(handle.result(), 60)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=30)
            await asyncio.wait_for(reader, timeout=10)
        assert outcome.status == OutcomeStatus.DO_NOT_CALL
        assert outcome.attempts == ()
        assert await sim.requests("/create-phone-call") == []
    stale = "do-not-call registry source older than 31 days"
    (warning,) = [line for line in lines if str(line.get("event")).startswith(stale)]
    assert warning["level"] == "warning"
    assert warning["source"] == "national-2026-10"
    assert warning["fix"] == "outbound-calls dnc import FILE --source national-2026-10"
    refusals = [line for line in lines if line.get("registry_sources")]
    assert refusals, lines
    assert refusals[0]["registry_sources"] == ["national-2026-12"]
    assert TO_NUMBER not in json.dumps(lines)  # masked
