"""The do-not-call database URL is built with its password percent-encoded, in code and from
the compose file: libpq (psycopg's conninfo parser, the one a connection uses) reads back the
very password given, whatever it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from adapters.dnc_store import database_url, with_password
from adapters.settings import WorkerSettings
from tests.helpers.compose_check import compose_config

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
PASSWORDS = ["p@ss:w/rd%", "a#b?c&d=e", "100%", "sp ace", "ünï", "plain"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_the_password_reaches_libpq_as_it_was_given(password: str) -> None:
    url = with_password("postgresql://do_not_call@postgresql:5432/do_not_call", password)
    assert conninfo_to_dict(url) == {
        "user": "do_not_call",
        "password": password,
        "host": "postgresql",
        "port": "5432",
        "dbname": "do_not_call",
    }


def test_a_password_in_the_url_is_replaced_and_a_socket_url_kept() -> None:
    url = with_password("postgresql://u:old@/dnc?host=%2Ftmp%2Fpg", "p@ss:w/rd%")
    assert conninfo_to_dict(url) == {
        "user": "u",
        "password": "p@ss:w/rd%",
        "dbname": "dnc",
        "host": "/tmp/pg",
    }


def test_settings_without_a_separate_password_keep_the_url() -> None:
    url = "postgresql://u:p%40@db:5432/dnc"
    assert database_url(WorkerSettings(dnc_database_url=SecretStr(url))) == url
    assert database_url(WorkerSettings()) is None
    given = WorkerSettings(
        dnc_database_url=SecretStr(url), dnc_database_password=SecretStr("p@ss:w/rd%")
    )
    assert conninfo_to_dict(database_url(given) or "")["password"] == "p@ss:w/rd%"


def test_the_compose_worker_connects_with_any_password() -> None:
    env = {
        "POSTGRES_PASSWORD": "dummy-db-password",
        "RETELL_API_KEY": "dummy-retell-key",
        "PAYLOAD_KEYS": "k1:" + "A" * 43 + "=",
        "CODEC_SERVER_TOKEN": "dummy-codec-token",
        "DNC_DB_PASSWORD": "p@ss:w/rd%",
    }
    worker_env = compose_config(COMPOSE_FILE, env)["services"]["worker"]["environment"]
    password = worker_env.get("DNC_DATABASE_PASSWORD")
    settings = WorkerSettings(
        dnc_database_url=SecretStr(worker_env["DNC_DATABASE_URL"]),
        dnc_database_password=SecretStr(password) if password else None,
    )
    parsed = conninfo_to_dict(database_url(settings) or "")
    assert parsed["password"] == "p@ss:w/rd%"
    assert (parsed["user"], parsed["host"], parsed["dbname"]) == (
        "do_not_call",
        "postgresql",
        "do_not_call",
    )
