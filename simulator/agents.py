"""Retell's agents, as far as the product uses them: create-agent and list-agents."""

from __future__ import annotations

import time
import uuid
from typing import Any

from simulator.errors import ApiError


class AgentStore:
    def __init__(self) -> None:
        self._agents: list[dict[str, Any]] = []

    def create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        voice_id = body.get("voice_id")
        engine = body.get("response_engine")
        if not isinstance(voice_id, str) or not voice_id:
            raise ApiError(400, "voice_id: required")
        if not isinstance(engine, dict) or not isinstance(engine.get("type"), str):
            raise ApiError(400, "response_engine.type: required")
        agent = {
            **body,
            "agent_id": f"agent_{uuid.uuid4().hex[:24]}",
            "version": 0,
            "is_published": False,
            "last_modification_timestamp": int(time.time() * 1000),
        }
        self._agents.append(agent)
        return agent

    def get(self, agent_id: str) -> dict[str, Any]:
        for agent in self._agents:
            if agent["agent_id"] == agent_id:
                return agent
        raise ApiError(404, "agent_id: agent not found")

    def update(self, agent_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        agent = self.get(agent_id)
        agent.update({k: v for k, v in body.items() if k not in ("agent_id", "version")})
        agent["last_modification_timestamp"] = int(time.time() * 1000)
        return agent

    def webhook_url(self, agent_id: str) -> str | None:
        """The agent's own webhook URL, when it is one of ours and has one."""
        for agent in self._agents:
            if agent["agent_id"] == agent_id:
                url = agent.get("webhook_url")
                return url if isinstance(url, str) and url else None
        return None

    @staticmethod
    def _list_item(agent: dict[str, Any]) -> dict[str, Any]:
        """An agent as list-agents shows it: a summary (retell-sdk's ``AgentListResponse``
        item, which its strict client requires whole), not the full agent."""
        return {
            "agent_id": agent["agent_id"],
            "agent_name": agent.get("agent_name") or "",
            "channel": "voice",
            "is_suspended": False,
            # Version tags; the simulator's agents have none.
            "tags": {},
            "user_modified_timestamp": agent["last_modification_timestamp"],
            "is_transfer_agent": False,
        }

    def page(self, body: Any, limit: int, pagination_key: str | None) -> dict[str, Any]:
        criteria = body.get("filter_criteria") if isinstance(body, dict) else None
        query = (criteria or {}).get("query") if isinstance(criteria, dict) else None
        found = [
            a
            for a in self._agents
            if not isinstance(query, str)
            or query.lower() in str(a.get("agent_name", "")).lower()
            or query in a["agent_id"]
        ]
        start = 0
        if pagination_key is not None:
            ids = [a["agent_id"] for a in found]
            start = ids.index(pagination_key) + 1 if pagination_key in ids else len(found)
        page = found[start : start + limit]
        has_more = start + limit < len(found)
        return {
            "items": [self._list_item(a) for a in page],
            "has_more": has_more,
            "pagination_key": page[-1]["agent_id"] if has_more and page else None,
        }

    def all(self) -> list[dict[str, Any]]:
        return list(self._agents)

    def clear(self) -> None:
        self._agents.clear()
