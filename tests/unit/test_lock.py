"""The locks: what the image and the venv install is exactly requirements/, and only that.

pyproject.toml keeps open ranges (what someone installing the package needs); the locks pin
what we ship (``requirements/lock.txt``: the dependencies, which the Docker image installs)
and what we develop and test with (``requirements/dev-lock.txt``: those plus the dev extra).
``make lock`` writes both from pyproject.toml; these tests fail when one drifts from it, when
this interpreter runs something else, or when an install step stops going through a lock.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = "requirements/lock.txt"
DEV_LOCK = "requirements/dev-lock.txt"
HASH_OPTION = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# Not in the locks, and rightly so: the installer, and the project installed on top of them.
NOT_LOCKED = {canonicalize_name("pip"), canonicalize_name("durable-outbound-calls")}
RELOCK = "pyproject.toml and the locks disagree: run `make lock` and commit requirements/"


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    marker: Marker | None
    hashes: frozenset[str]
    line: str

    def applies_here(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def read_lock(relative: str) -> list[Pin]:
    """The lock's requirements, each line joined with its continuations; options other than
    ``--hash`` fail here (an ``--index-url`` or ``-e`` line would install unlocked code)."""
    pins: list[Pin] = []
    text = (ROOT / relative).read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        head, *options = re.split(r"\s+(?=--)", line)
        assert not head.startswith("-"), f"{relative}: an option line, not a pin: {line}"
        requirement = Requirement(head)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1, f"{relative}: not one exact version: {head}"
        assert specifiers[0].operator == "==", f"{relative}: not pinned: {head}"
        assert "*" not in specifiers[0].version, f"{relative}: not pinned: {head}"
        assert requirement.url is None, f"{relative}: a URL, not a release: {head}"
        bad = [option for option in options if not HASH_OPTION.fullmatch(option)]
        assert not bad, f"{relative}: {head}: options other than sha256 hashes: {bad}"
        pins.append(
            Pin(
                canonicalize_name(requirement.name),
                specifiers[0].version,
                requirement.marker,
                frozenset(options),
                head,
            )
        )
    return pins


def applicable(pins: list[Pin]) -> dict[NormalizedName, Pin]:
    """The pins this interpreter installs (a universal lock has some for other platforms)."""
    found: dict[NormalizedName, Pin] = {}
    for pin in pins:
        if pin.applies_here():
            assert pin.name not in found, f"two pins of {pin.name} apply here"
            found[pin.name] = pin
    return found


def pyproject() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data


def runtime_requirements() -> list[Requirement]:
    build = pyproject()["build-system"]["requires"]
    return [Requirement(r) for r in [*pyproject()["project"]["dependencies"], *build]]


def dev_requirements() -> list[Requirement]:
    dev = pyproject()["project"]["optional-dependencies"]["dev"]
    return [*runtime_requirements(), *(Requirement(r) for r in dev)]


# ---------------------------------------------------------------- the files themselves


@pytest.mark.parametrize("lock", [LOCK, DEV_LOCK])
def test_every_requirement_is_one_exact_version_with_its_hashes(lock: str) -> None:
    pins = read_lock(lock)
    assert len(pins) > 20, f"{lock}: hardly anything in it"
    unhashed = [pin.line for pin in pins if not pin.hashes]
    # pip's --require-hashes refuses a lock with any unhashed line; this says which.
    assert not unhashed, f"{lock}: no hash on {unhashed}"
    # Written by `make lock`, not by hand.
    assert "\n#    make lock\n" in (ROOT / lock).read_text()


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [(LOCK, runtime_requirements), (DEV_LOCK, dev_requirements)],
    ids=["lock", "dev-lock"],
)
def test_every_pyproject_requirement_is_locked_within_its_range(
    lock: str, requirements: Callable[[], list[Requirement]]
) -> None:
    pins = read_lock(lock)
    missing: list[str] = []
    outside: list[str] = []
    for requirement in requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        versions = [pin.version for pin in pins if pin.name == canonicalize_name(requirement.name)]
        if not versions:
            missing.append(str(requirement))
        outside += [
            f"{requirement} locked at {version}"
            for version in versions
            if not requirement.specifier.contains(version, prereleases=True)
        ]
    assert not missing, f"{lock}: not locked: {missing}. {RELOCK}"
    assert not outside, f"{lock}: {outside}. {RELOCK}"


def test_the_extras_we_ask_for_are_locked() -> None:
    """uvicorn[standard], psycopg[binary]: what each extra adds is in the runtime lock too."""
    locked = {pin.name for pin in read_lock(LOCK)}
    with_extras = [r for r in runtime_requirements() if r.extras]
    assert with_extras
    missing: list[str] = []
    for requirement in with_extras:
        for needed in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(needed)
            marker = dependency.marker
            if marker is None or not any(
                marker.evaluate({"extra": extra}) for extra in requirement.extras
            ):
                continue  # not one of the extra's
            if canonicalize_name(dependency.name) not in locked:
                missing.append(f"{dependency.name} (for {requirement})")
    assert not missing, f"{LOCK}: {missing}. {RELOCK}"


def test_the_runtime_lock_is_part_of_the_dev_lock_at_the_same_versions() -> None:
    """The tests run what the image ships: every runtime package at its shipped version."""
    dev = {(pin.name, pin.version): pin for pin in read_lock(DEV_LOCK)}
    differing: list[str] = []
    for pin in read_lock(LOCK):
        same = dev.get((pin.name, pin.version))
        if same is None:
            others = sorted(v for (n, v) in dev if n == pin.name)
            differing.append(f"{pin.name}: {pin.version} shipped, {others or 'none'} in dev")
        elif same.hashes != pin.hashes:
            differing.append(f"{pin.name} {pin.version}: other files in the two locks")
    assert not differing, f"{differing}. {RELOCK}"


# ---------------------------------------------------------------- what runs


def test_this_interpreter_runs_exactly_the_dev_lock() -> None:
    """What `make venv` installs from the lock, no package more, none at another version."""
    wanted = {name: pin.version for name, pin in applicable(read_lock(DEV_LOCK)).items()}
    wrong: list[str] = []
    for name, version in sorted(wanted.items()):
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "none"
        if installed != version:
            wrong.append(f"{name}: locked {version}, installed {installed}")
    extra = sorted(
        {canonicalize_name(d.metadata["Name"]) for d in importlib.metadata.distributions()}
        - set(wanted)
        - NOT_LOCKED
    )
    hint = "this venv was not installed from the lock: `make venv` builds one that is"
    assert not wrong, f"{wrong}; {hint}"
    assert not extra, f"installed, not locked: {extra}; {hint}"


# ---------------------------------------------------------------- who installs it


def logical_lines(path: Path) -> list[str]:
    return path.read_text().replace("\\\n", " ").splitlines()


def pip_installs(commands: list[str]) -> Iterator[list[str]]:
    """The arguments of every ``pip install`` in these shell command lines."""
    for command in commands:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True  # words split at blanks and operators only
        words = list(lexer)
        starts = [
            i
            for i in range(len(words) - 1)
            if re.search(r"(^|/)pip[\d.]*$", words[i]) and words[i + 1] == "install"
        ]
        for start in starts:
            arguments = words[start + 2 :]
            ends = [i for i, word in enumerate(arguments) if set(word) <= set("();<>|&")]
            yield arguments[: ends[0]] if ends else arguments


def makefile() -> tuple[dict[str, str], dict[str, tuple[str, list[str]]]]:
    """The Makefile's simple variables and each rule's prerequisites and recipe."""
    variables: dict[str, str] = {}
    rules: dict[str, tuple[str, list[str]]] = {}
    recipe: list[str] | None = None
    for line in logical_lines(ROOT / "Makefile"):
        if line.startswith("\t") and recipe is not None:
            recipe.append(line.strip())
            continue
        if variable := re.match(r"([A-Z_]+)\s*[?:]?=\s*(.*)$", line):
            variables[variable[1]] = variable[2].strip()
        elif (rule := re.match(r"([^\s#:=][^:=]*):(?!=)(.*)$", line)) is not None:
            recipe = []
            for target in rule[1].split():
                rules[target] = (rule[2].strip(), recipe)
        elif line.strip() and not line.startswith("#"):
            recipe = None
    return variables, {expand(target, variables): rule for target, rule in rules.items()}


def expand(text: str, variables: dict[str, str]) -> str:
    while (expanded := re.sub(r"\$\((\w+)\)", lambda m: variables[m[1]], text)) != text:
        text = expanded
    return text


def test_make_installs_the_dev_lock_and_the_project_without_resolving() -> None:
    variables, rules = makefile()
    assert (variables["LOCK"], variables["DEV_LOCK"]) == (LOCK, DEV_LOCK)
    prerequisites, recipe = rules[expand("$(STAMP)", variables)]
    # A changed lock reinstalls the venv, as a changed pyproject.toml does.
    assert {"pyproject.toml", LOCK, DEV_LOCK} <= set(expand(prerequisites, variables).split())
    commands = [expand(line, variables) for line in recipe]
    assert any(re.search(r"-m venv --clear\b", c) for c in commands), "the venv starts empty"
    installs = list(pip_installs(commands))
    assert installs == [
        ["--quiet", "--require-hashes", "-r", DEV_LOCK],
        ["--quiet", "--no-deps", "--no-build-isolation", "--check-build-dependencies", "-e", "."],
    ]
    # The resolver behind `make lock` is pinned as well: one version, not a range.
    assert re.fullmatch(r"\d+\.\d+\.\d+", variables["UV_VERSION"])
    lock_installs = list(pip_installs([expand(c, variables) for c in rules["lock"][1]]))
    assert lock_installs == [["--quiet", f"uv=={variables['UV_VERSION']}"]]


def test_the_image_installs_the_runtime_lock_and_the_project_without_resolving() -> None:
    steps = [
        line.strip().partition(" ")
        for line in logical_lines(ROOT / "Dockerfile")
        if line.strip() and not line.strip().startswith("#")
    ]
    runs = [rest for word, _, rest in steps if word.upper() == "RUN"]
    assert list(pip_installs(runs)) == [
        ["--require-hashes", "-r", LOCK],
        ["--no-deps", "--no-build-isolation", "--check-build-dependencies", "."],
    ]
