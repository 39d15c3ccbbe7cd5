"""One Retell agent per distinct agent configuration: its fingerprint and its name."""

from __future__ import annotations

import hashlib
import json

from outbound_calls_client.models import AgentConfig


def agent_fingerprint(config: AgentConfig) -> str:
    """Stable across processes and key order: a hash of the canonical JSON."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def agent_name_for(config: AgentConfig) -> str:
    """The name the agent gets at Retell; it carries the fingerprint, so list-agents finds
    it again after our own records are gone."""
    return f"{config.agent_name}-{agent_fingerprint(config)}"


def provisioning_workflow_id(config: AgentConfig) -> str:
    return f"agent-{agent_fingerprint(config)}"


def create_agent_body(config: AgentConfig, webhook_url: str | None = None) -> dict[str, object]:
    """Create-agent's body; ``webhook_url`` (our bridge) overrides the account's webhook."""
    body: dict[str, object] = {
        **config.settings,
        "voice_id": config.voice_id,
        "response_engine": config.response_engine,
        "agent_name": agent_name_for(config),
    }
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    return body
