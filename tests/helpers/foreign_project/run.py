"""Run this team's worker and place one reminder each way; print where things came from and
the two outcomes as JSON. Settings from the environment: TEMPORAL_ADDRESS, OUR_NAMESPACE and
CALLS_QUEUE (where our worker runs), CALLER_NAMESPACE and NEXUS_ENDPOINT, CHILD_REQUEST and
NEXUS_REQUEST (CallRequest JSON)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import uuid

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import activities
import outbound_calls_client
import workflows
from workflows import ChildReminderWorkflow, NexusReminderWorkflow

RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("outbound_calls_client")
)


async def remind(namespace: str, workflow: str, request: str, target: str) -> str:
    client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], namespace=namespace, data_converter=pydantic_data_converter
    )
    queue = f"reminders-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ChildReminderWorkflow, NexusReminderWorkflow],
        activities=[activities.greeting_for],
        workflow_runner=RUNNER,
    ):
        outcome = await client.execute_workflow(
            workflow,
            args=[json.loads(request), target],
            id=f"reminder-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    return json.dumps(outcome)


async def main() -> None:
    env = os.environ
    child, nexus = await asyncio.gather(
        remind(
            env["OUR_NAMESPACE"], "ChildReminderWorkflow", env["CHILD_REQUEST"], env["CALLS_QUEUE"]
        ),
        remind(
            env["CALLER_NAMESPACE"],
            "NexusReminderWorkflow",
            env["NEXUS_REQUEST"],
            env["NEXUS_ENDPOINT"],
        ),
    )
    print(
        json.dumps(
            {
                "workflows": workflows.__file__,
                "activities": activities.__file__,
                "client": outbound_calls_client.__file__,
                "service_code": [
                    m for m in ("calls", "adapters", "stack") if importlib.util.find_spec(m)
                ],
                "child": json.loads(child),
                "nexus": json.loads(nexus),
            }
        )
    )


asyncio.run(main())
# temporalio's runtime threads can abort a finalizing interpreter (temporalio/sdk-python#300):
# the work is done and printed, so leave without finalizing.
sys.stdout.flush()
os._exit(0)
