"""Contact limits: whether a dial may go out now without calling a person more often than
CONTACT_LIMITS allow, counted in the contact log by a keyed hash of their number."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity

from adapters.contact_log import ContactLog
from adapters.logs import get_logger
from calls.contact_limits import ContactLimit
from calls.returned_call import number_hash
from outbound_calls_client.models import ContactClaimAnswer, ContactClaimInput

log = get_logger(__name__)


class ContactLimitActivities:
    def __init__(
        self, contact_log: ContactLog, limits: Sequence[ContactLimit], number_key: str
    ) -> None:
        self._log = contact_log
        self._limits = tuple(limits)
        # NUMBER_HASH_KEY: the log keeps no number in clear.
        self._number_key = number_key

    @activity.defn(name="claim_contact")
    async def claim_contact(self, claim: ContactClaimInput) -> ContactClaimAnswer:
        """Count this dial as a contact if every limit allows it now; else when one will."""
        if not self._limits:
            return ContactClaimAnswer(allowed=True)
        answer = await self._log.claim(
            claim.idempotency_key,
            number_hash(self._number_key, claim.to_number),
            self._limits,
            claim.at,
        )
        if not answer.allowed:
            log.info("contact limit holds a dial", rule=answer.rule)
        return ContactClaimAnswer(
            allowed=answer.allowed, next_allowed_at=answer.next_allowed_at, rule=answer.rule
        )

    @activity.defn(name="forget_contact")
    async def forget_contact(self, idempotency_key: str) -> None:
        """The attempt placed no call after all (canceled, refused): it is no contact."""
        if self._limits:
            await self._log.forget(idempotency_key)
