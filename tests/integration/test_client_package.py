"""Another team installs the contract package: a fresh virtualenv gets ``pip install ./client``
(its dependencies resolved by pip, at the versions of our runtime lock), and a project with its
own ``workflows`` and ``activities`` packages (tests/helpers/foreign_project/) places a call
through our worker from its workflow, as a child workflow and through Nexus."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from temporalio.testing import WorkflowEnvironment

from adapters.namespace_setup import register_nexus_endpoint
from tests.helpers.call_harness import ROOT, call_request, caller_namespace, live_stack

pytestmark = pytest.mark.integration

PROJECT = ROOT / "tests" / "helpers" / "foreign_project"
CALLERS = "reminders"


def _pins(lock: Path) -> str:
    """The lock's exact versions without its hashes: with hashes pip refuses a local path."""
    return "\n".join(
        line.removesuffix(" \\").strip()
        for line in lock.read_text().splitlines()
        if line and line[0].isalnum() and "==" in line
    )


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("team")
    pins = where / "pins.txt"
    pins.write_text(_pins(ROOT / "requirements" / "lock.txt"))
    # A copy: building in place would leave build/ and egg-info in the checkout.
    source = shutil.copytree(ROOT / "client", where / "client")
    subprocess.run([sys.executable, "-m", "venv", where / "venv"], check=True)
    python = where / "venv" / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", source, "-c", pins],
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
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
