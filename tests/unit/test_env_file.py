"""OUTBOUND_CALLS_ENV_FILE: which file settings read besides the environment (none in tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.settings import ENV_FILE_VARIABLE, RetellSettings, WorkerSettings


@pytest.fixture
def dotenv_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a ``.env`` with a Retell key."""
    (tmp_path / ".env").write_text("RETELL_API_KEY=key_from_dotenv\nMAX_CONCURRENT_CALLS=3\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_tests_read_no_env_file(dotenv_here: Path) -> None:
    settings = RetellSettings()
    assert settings.retell_api_key is None
    assert settings.max_concurrent_calls == 20


def test_unset_reads_dotenv_in_the_working_directory(
    dotenv_here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    assert RetellSettings().api_key() == "key_from_dotenv"
    assert WorkerSettings().max_concurrent_calls == 3


def test_a_path_reads_that_file_and_the_environment_still_wins(
    dotenv_here: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path_factory.mktemp("etc") / "outbound-calls.env"
    other.write_text("RETELL_API_KEY=key_from_etc\nMAX_CONCURRENT_CALLS=4\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(other))
    monkeypatch.setenv("MAX_CONCURRENT_CALLS", "5")
    settings = RetellSettings()
    assert settings.api_key() == "key_from_etc"
    assert settings.max_concurrent_calls == 5
