"""``docker-compose config`` without Docker, root or apt: interpolate, then validate.

What compose does before it runs anything, done here with PyPI packages only: read the
``.env`` file given (variables of the environment win over it, as in compose), replace
``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``, ``${VAR?message}``
and ``$$`` in every string value (never in keys or comments, as compose), stop on every
required variable that is missing, and check the result against the Compose Specification's
JSON schema (``tests/compose_spec/compose-spec.json``, from github.com/compose-spec/compose-spec,
Apache-2.0), which every Compose implementation (v1, v2, podman-compose) accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "compose_spec" / "compose-spec.json"

_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class ComposeConfigError(Exception):
    """The file would not start: missing required variables, or not a valid Compose file."""


class MissingVariable(ComposeConfigError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _interpolate(text: str, env: Mapping[str, str], missing: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        value = env.get(name)
        empty = not value
        if op in (":?", "?") and (value is None or (op == ":?" and empty)):
            missing.append(f"{name}: {arg}")
            return ""
        if op == ":-" and empty:
            return arg
        if op == "-" and value is None:
            return arg
        return value or ""

    return _REFERENCE.sub(replace, text)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """One string, as compose interpolates it; :class:`MissingVariable` names what is missing."""
    missing: list[str] = []
    result = _interpolate(text, env, missing)
    if missing:
        raise MissingVariable("; ".join(missing))
    return result


def references(text: str) -> set[str]:
    return {m.group("name") for m in _REFERENCE.finditer(text) if m.group("name")}


def _interpolate_tree(node: Any, env: Mapping[str, str], missing: list[str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env, missing)
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env, missing) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value, env, missing) for value in node]
    return node


@cache
def compose_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


def compose_config(
    compose_file: Path, env: Mapping[str, str], env_file: Path | None = None
) -> dict[str, Any]:
    """The file as ``docker-compose --env-file F config`` resolves it, or ComposeConfigError.

    Every service is listed whatever the profiles (like compose v1's ``config``): which
    start with which, their ``profiles`` say.
    """
    variables = {**(read_env_file(env_file) if env_file else {}), **env}
    document = yaml.safe_load(compose_file.read_text())  # anchors and << merges resolved
    missing: list[str] = []
    resolved: dict[str, Any] = _interpolate_tree(document, variables, missing)
    if missing:
        raise MissingVariable("required variables are not set: " + "; ".join(missing))
    errors = sorted(
        jsonschema.Draft7Validator(compose_schema()).iter_errors(resolved),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        raise ComposeConfigError(
            "not a valid Compose file: "
            + "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or '<top>'}: {e.message}"
                for e in errors
            )
        )
    return resolved
