"""A client of the Retell simulator's own admin API (``/_sim/...``): what it was asked, what
it sent, and the controls a test or benchmark pulls (do-not-call, failures, idempotency)."""

from __future__ import annotations

from typing import Any

import httpx

from stack.waits import eventually


class SimulatorAdmin:
    """The simulator's record of what it was asked and what it would send."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=5)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def calls(self, to_number: str | None = None) -> list[dict[str, Any]]:
        params = {"to_number": to_number} if to_number else None
        response = await self._http.get("/_sim/calls", params=params)
        response.raise_for_status()
        calls: list[dict[str, Any]] = response.json()
        return calls

    async def requests(self, path_part: str = "") -> list[dict[str, Any]]:
        response = await self._http.get("/_sim/requests")
        response.raise_for_status()
        return [r for r in response.json() if path_part in r["path"]]

    async def mark_do_not_call(self, number: str) -> None:
        """As if the number had been marked do-not-call at Retell (dashboard, SMS STOP)."""
        (await self._http.post("/_sim/dnc", json={"number": number})).raise_for_status()

    async def inbound_call(self, from_number: str, to_number: str) -> dict[str, Any]:
        """A person calling one of the account's numbers: the simulator asks the inbound
        webhook first (SIMULATOR_INBOUND_WEBHOOK_URL), then plays the call. Answers
        ``{"call", "inbound_webhook"}`` (the exchange: attempts, answer, delivered)."""
        body = {"from_number": from_number, "to_number": to_number}
        # Up to 3 tries of the webhook, each waiting up to 10 s (scaled) for the answer.
        response = await self._http.post("/_sim/inbound-call", json=body, timeout=45)
        response.raise_for_status()
        played: dict[str, Any] = response.json()
        return played

    async def mark_spam(self, *numbers: str) -> None:
        """As if carriers labelled these caller ids spam: their calls end ``marked_as_spam``."""
        body = {"numbers": list(numbers)}
        (await self._http.post("/_sim/spam-numbers", json=body)).raise_for_status()

    async def fail_list_calls(self, count: int, status: int = 500) -> None:
        """The next ``count`` list-calls answer ``status`` (the simulator's own control)."""
        body = {"status": status, "count": count}
        (await self._http.post("/_sim/list-calls-failures", json=body)).raise_for_status()

    async def forget_idempotency(self) -> None:
        """As if Retell's one-hour idempotency window had passed."""
        (await self._http.post("/_sim/forget-idempotency")).raise_for_status()

    async def webhook_bodies(self, call_id: str) -> dict[str, str]:
        response = await self._http.get(f"/_sim/calls/{call_id}/webhooks")
        response.raise_for_status()
        return {hook["event"]: hook["body"] for hook in response.json()}

    async def finished_events(self, call_id: str) -> dict[str, str]:
        """The call's webhook bodies, once the simulated call has been analysed."""

        async def probe() -> dict[str, str] | None:
            bodies = await self.webhook_bodies(call_id)
            return bodies if "call_analyzed" in bodies else None

        return await eventually(probe, what=f"simulated call {call_id} to finish")
