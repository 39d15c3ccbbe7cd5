"""One Retell call's lifecycle as a pure state machine: ``apply(state, observation)``.

Webhooks are retried (duplicates) and not blocking (reordered), a call that never connects
has no ``call_started``, and a ``get-call`` poll can stand in for any lost webhook. So the
state only ever moves forward, to the furthest phase observed, and keeps the call object
seen at that phase: any order and any repetition of the same observations ends in the same
state. The workflow feeds webhooks and poll results in and reads the phase out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from outbound_calls_client.retell_wire import CallEvent, CallEventName, RetellCall


class CallPhase(IntEnum):
    REGISTERED = 0
    ONGOING = 1
    ENDED = 2
    ANALYZED = 3


_EVENT_PHASE: dict[CallEventName, CallPhase] = {
    "call_started": CallPhase.ONGOING,
    "call_ended": CallPhase.ENDED,
    "call_analyzed": CallPhase.ANALYZED,
}

_FINAL_STATUSES = frozenset({"ended", "not_connected", "error"})


def phase_of_call(call: RetellCall) -> CallPhase:
    """The phase a call object shows by itself (a create answer or a get-call poll)."""
    if call.call_status in _FINAL_STATUSES:
        return CallPhase.ANALYZED if call.call_analysis is not None else CallPhase.ENDED
    if call.call_status == "ongoing":
        return CallPhase.ONGOING
    return CallPhase.REGISTERED


@dataclass(frozen=True)
class CallState:
    call_id: str
    phase: CallPhase = CallPhase.REGISTERED
    call: RetellCall | None = None
    events: frozenset[CallEventName] = frozenset()

    @property
    def is_ended(self) -> bool:
        return self.phase >= CallPhase.ENDED


def _advance(state: CallState, phase: CallPhase, call: RetellCall) -> CallState:
    if state.call is None or phase > state.phase:
        return replace(state, phase=max(phase, state.phase), call=call)
    return state


def apply(state: CallState, event: CallEvent) -> CallState:
    """Fold one webhook event in. Events of another call leave the state as it is."""
    if event.call.call_id != state.call_id:
        return state
    advanced = _advance(state, _EVENT_PHASE[event.event], event.call)
    if event.event in advanced.events:
        return advanced
    return replace(advanced, events=advanced.events | {event.event})


def observe(state: CallState, call: RetellCall) -> CallState:
    """Fold in a call object read from Retell (create answer or get-call poll)."""
    if call.call_id != state.call_id:
        return state
    return _advance(state, phase_of_call(call), call)
