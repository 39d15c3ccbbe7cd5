"""Agents provisioned once per configuration, however many calls ask at the same moment.

``ensure_agent`` (called by a call workflow) runs ``AgentProvisioningWorkflow`` under the
id ``agent-<fingerprint>``: every concurrent ask attaches to the same run, and later asks
read the finished run's answer, so Retell's create-agent runs once per configuration.
``find_or_create_agent`` (run by that workflow) looks the agent up by name before creating
it, which also covers a create whose answer was lost, and our records outliving retention.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.retell import as_temporal_errors
from adapters.logs import get_logger
from adapters.retell_client import RetellClient
from calls.agents import (
    agent_name_for,
    create_agent_body,
    provisioning_workflow_id,
)
from outbound_calls_client.models import AgentConfig
from outbound_calls_client.names import AGENT_PROVISIONING_WORKFLOW

log = get_logger(__name__)


class AgentActivities:
    def __init__(
        self,
        client: Client,
        retell: RetellClient,
        *,
        task_queue: str,
        webhook_url: str | None = None,
    ) -> None:
        self._client = client
        self._retell = retell
        self._task_queue = task_queue
        # BRIDGE_PUBLIC_URL + /webhooks/retell; None leaves the account-level webhook.
        self._webhook_url = webhook_url

    @activity.defn(name="ensure_agent")
    async def ensure_agent(self, config: AgentConfig) -> str:
        workflow_id = provisioning_workflow_id(config)
        try:
            agent_id: str = await self._client.execute_workflow(
                AGENT_PROVISIONING_WORKFLOW,
                config,
                id=workflow_id,
                task_queue=self._task_queue,
                result_type=str,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                # A failed run may be tried again; a finished one already has the answer.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                static_summary=f"Provision agent {agent_name_for(config)}",
            )
        except WorkflowAlreadyStartedError:
            agent_id = await self._client.get_workflow_handle(workflow_id, result_type=str).result()
        return agent_id

    @activity.defn(name="find_or_create_agent")
    async def find_or_create_agent(self, config: AgentConfig) -> str:
        name = agent_name_for(config)
        async with as_temporal_errors():
            existing = await self._retell.find_agent_by_name(name)
            if existing is not None:
                await self._point_webhook_at_us(existing)
                log.info("agent found", agent_id=existing, agent_name=name)
                return existing
            agent_id = await self._retell.create_agent(create_agent_body(config, self._webhook_url))
        log.info("agent created", agent_id=agent_id, agent_name=name)
        return agent_id

    async def _point_webhook_at_us(self, agent_id: str) -> None:
        """An agent found by name (made before BRIDGE_PUBLIC_URL was set or changed) is
        updated so that its calls' webhooks reach this deployment's bridge."""
        if self._webhook_url is None:
            return
        agent = await self._retell.get_agent(agent_id)
        if agent.get("webhook_url") != self._webhook_url:
            await self._retell.update_agent(agent_id, {"webhook_url": self._webhook_url})
            log.info("agent webhook_url updated", agent_id=agent_id)
