"""Another team installs the contract package: a fresh virtualenv gets ``pip install ./client``
(offline: its dependencies come from this environment, at the lock's versions), and a project
with its own ``workflows`` and ``activities`` packages (tests/helpers/foreign_project/) places
a call through our worker from its workflow, as a child workflow and through Nexus."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tomllib
import uuid
from importlib.metadata import Distribution, distribution, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from temporalio.testing import WorkflowEnvironment

from adapters.namespace_setup import register_nexus_endpoint
from tests.helpers.call_harness import ROOT, call_request, caller_namespace, live_stack

pytestmark = pytest.mark.integration

PROJECT = ROOT / "tests" / "helpers" / "foreign_project"
CALLERS = "reminders"


def _installed_closure(requirements: list[str]) -> list[Distribution]:
    """The distributions of this environment that ``requirements`` need, transitively."""
    found: dict[str, Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in found:
            found[name] = distribution(name)
            todo.extend(Requirement(r) for r in found[name].requires or [])
    return list(found.values())


def _copy_into(dist: Distribution, site_packages: Path) -> None:
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if file.parts[0] == ".." or not source.is_file():
            continue  # console scripts and the like live outside site-packages
        target = site_packages / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with ``pip install ./client`` in it. Nothing is downloaded: the
    client's dependencies (and the build backend) are copied in from this environment, whose
    versions are the lock's, and ``pip check`` confirms they satisfy the client's ranges."""
    where = tmp_path_factory.mktemp("team")
    client = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())
    # A copy: building in place would leave build/ and egg-info in the checkout.
    source = shutil.copytree(ROOT / "client", where / "client")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", where / "venv"], check=True)
    python = where / "venv" / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    needed = [*client["project"]["dependencies"], *client["build-system"]["requires"]]
    for dist in _installed_closure(needed):
        _copy_into(dist, site_packages)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    offline = ["--quiet", "--no-index", "--no-deps", "--no-build-isolation"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    subprocess.run([*pip, "install", *offline, source], check=True, env=env)
    subprocess.run([*pip, "check"], check=True, env=env, capture_output=True)
    return python


def test_the_client_depends_on_temporalio_pydantic_and_phonenumbers_only(
    client_venv: Path,
) -> None:
    listed = subprocess.run(
        [
            client_venv,
            "-c",
            "from importlib.metadata import requires; "
            "print('\\n'.join(requires('outbound-calls-client') or []))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    names = {Requirement(r).name for r in listed if r}
    assert names == {"temporalio", "pydantic", "phonenumbers"}
    # The service's own distribution asks for them too: one contract, one set of versions.
    ours = {Requirement(r).name for r in requires("durable-outbound-calls") or []}
    assert names <= ours


async def test_another_teams_workflow_places_calls_by_child_and_by_nexus(
    client_venv: Path, dev_env: WorkflowEnvironment
) -> None:
    await caller_namespace(dev_env, CALLERS)
    async with live_stack(dev_env.client) as ours:
        endpoint = f"outbound-calls-{uuid.uuid4().hex[:8]}"
        await register_nexus_endpoint(dev_env.client, task_queue=ours.task_queue, name=endpoint)
        env = {
            "PATH": os.environ["PATH"],
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "OUR_NAMESPACE": dev_env.client.namespace,
            "CALLS_QUEUE": ours.task_queue,
            "CALLER_NAMESPACE": CALLERS,
            "NEXUS_ENDPOINT": endpoint,
            "CHILD_REQUEST": call_request().model_dump_json(),
            "NEXUS_REQUEST": call_request().model_dump_json(),
        }
        run = await asyncio.create_subprocess_exec(
            client_venv,
            "run.py",
            cwd=PROJECT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 120)
        assert run.returncode == 0, err.decode()[-3000:]
        placed = await ours.sim.calls()
    report = json.loads(out)
    # Their packages are theirs; ours come from the installed client, nothing else of ours.
    assert Path(report["workflows"]) == PROJECT / "workflows" / "__init__.py"
    assert Path(report["activities"]) == PROJECT / "activities" / "__init__.py"
    assert str(client_venv.parent.parent) in report["client"]
    assert report["service_code"] == []
    for way in ("child", "nexus"):
        outcome = report[way]
        assert outcome["status"] == "completed", outcome
    call_ids = {report["child"]["call_id"], report["nexus"]["call_id"]}
    assert {c["call_id"] for c in placed} == call_ids
    assert all(c["call_status"] == "ended" for c in placed), placed
    # Their activity's greeting reached Retell as a dynamic variable.
    variables = [c["retell_llm_dynamic_variables"] for c in placed]
    assert all(v["greeting"] == "Hello Ada, this is your reminder" for v in variables), variables
