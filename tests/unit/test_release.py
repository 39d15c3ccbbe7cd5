"""The release: pyproject's version is the one installed, the CLI's ``--version`` and the
newest release in CHANGELOG.md, and that release's histories are recorded and replayed."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

from tests.histories.record import RELEASE, RELEASES
from worker import PRODUCT_VERSION

ROOT = Path(__file__).resolve().parents[2]
RELEASE_HEADING = re.compile(r"^## (\d+\.\d+\.\d+) - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def _pyproject_version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def test_the_installed_version_is_pyprojects_and_at_least_1_0() -> None:
    assert version("durable-outbound-calls") == _pyproject_version() == PRODUCT_VERSION
    assert Version(PRODUCT_VERSION) >= Version("1.0.0")


def test_the_changelog_has_an_unreleased_section_then_this_version_first() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = RELEASE_HEADING.findall(text)
    assert releases, "CHANGELOG.md lists no release"
    assert releases[0][0] == _pyproject_version()
    assert text.index("## Unreleased") < text.index(f"## {releases[0][0]}")
    versions = [Version(v) for v, _ in releases]
    assert versions == sorted(versions, reverse=True)


def test_the_current_release_line_has_its_recorded_histories() -> None:
    current = Version(_pyproject_version())
    assert f"{current.major}.{current.minor}" == RELEASE
    assert RELEASE in RELEASES
