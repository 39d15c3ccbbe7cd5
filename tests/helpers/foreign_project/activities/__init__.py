"""This team's own activities (a package named like ours, on purpose)."""

from __future__ import annotations

from temporalio import activity


@activity.defn
async def greeting_for(name: str) -> str:
    return f"Hello {name}, this is your reminder"
