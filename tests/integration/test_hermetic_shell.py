"""``make test`` in a production shell: every setting of ``.env.example`` (and Temporal's own
TEMPORAL_*, OTEL_*) exported with production values, and the same in a ``.env`` of the
checkout, change no test's outcome and reach nothing (tests/helpers/hermetic.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.hermetic import (
    ROOT,
    TEMPORAL_ENVCONFIG_NAMES,
    example_names,
    hostile_environment,
    is_product_setting,
    settings_field_names,
)

pytestmark = pytest.mark.integration

# The tests that failed in such a shell, and a few of every kind: the shared do-not-call list,
# the CLI, payload encryption, traces, worker.py and other processes run from the checkout.
SELECTION = (
    "tests/integration/test_dnc_postgres.py",
    "tests/integration/test_cli.py",
    "tests/integration/test_worker_process.py",
    "tests/integration/test_tracing.py",
    "tests/integration/test_privacy.py::test_key_settings",
    "tests/integration/test_privacy.py::test_no_keys_means_the_plain_converter",
    "tests/integration/test_privacy.py::test_rotation_keeps_old_payloads_readable_and_names_a_removed_key",
    "tests/workflow/test_privacy_options.py",
    "tests/unit/test_process_exit.py",
    "tests/unit/test_codec_server.py",
    "tests/unit/test_env_file.py",
)
# CLI runs that only print help or completion, or refuse an option's value before reading any
# setting: thirty-odd interpreter starts, no setting involved.
DESELECT = (
    "not test_every_command_has_help and not test_shell_completion_scripts"
    " and not test_values_are_checked_against_their_known_sets"
)


def copy_of_the_checkout(target: Path) -> Path:
    """The files git knows (tracked and new, not ignored) as they are in the work tree: the
    tree under test, without the checkout's own ``.env``, ``.venv`` or ``.devstack``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_the_hostile_shell_sets_every_setting(tmp_path: Path) -> None:
    hostile = hostile_environment(tmp_path)
    names = settings_field_names() | example_names() | set(TEMPORAL_ENVCONFIG_NAMES)
    assert names <= set(hostile)
    assert all(is_product_setting(name) for name in hostile)
    # At session start (tests/conftest.py) every one left this process's environment.
    assert [name for name in os.environ if is_product_setting(name)] == ["OUTBOUND_CALLS_ENV_FILE"]
    assert os.environ["OUTBOUND_CALLS_ENV_FILE"] == ""


def test_the_suite_passes_in_a_production_shell_with_a_production_dotenv(
    tmp_path: Path,
) -> None:
    checkout = copy_of_the_checkout(tmp_path / "checkout")
    hostile = hostile_environment(tmp_path)
    (checkout / ".env").write_text("".join(f"{k}={v}\n" for k, v in sorted(hostile.items())))
    env = {**os.environ, **hostile}
    env.pop("OUTBOUND_CALLS_ENV_FILE", None)  # unset, as in most shells: .env is read
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *SELECTION,
            "-k",
            DESELECT,
            "-p",
            "no:cacheprovider",
            "-n",
            "0",  # the outer run has its workers already
            "-q",
        ],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert " passed" in result.stdout, result.stdout
    assert "skipped" not in result.stdout, result.stdout
