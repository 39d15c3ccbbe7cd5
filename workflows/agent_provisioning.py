"""AgentProvisioningWorkflow: create the Retell agent for one configuration, once.

Started (or joined) by the ``ensure_agent`` activity under ``agent-<fingerprint>``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from outbound_calls_client.models import AgentConfig
    from outbound_calls_client.names import AGENT_PROVISIONING_WORKFLOW


@workflow.defn(name=AGENT_PROVISIONING_WORKFLOW)
class AgentProvisioningWorkflow:
    @workflow.run
    async def run(self, config: AgentConfig) -> str:
        agent_id = await workflow.execute_activity_method(
            AgentActivities.find_or_create_agent,
            config,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10),
            summary="find or create the agent",
        )
        workflow.set_current_details(f"agent {agent_id}")
        return agent_id
