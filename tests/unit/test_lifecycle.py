from __future__ import annotations

import random
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from calls.lifecycle import CallPhase, CallState, apply, observe
from outbound_calls_client.retell_wire import CallAnalysis, CallEvent, CallEventName, RetellCall

CALL_ID = "call_abc"


def _event(name: CallEventName, call_id: str = CALL_ID) -> CallEvent:
    fields: dict[str, object] = {"call_id": call_id, "call_status": "ongoing"}
    if name != "call_started":
        fields.update(call_status="ended", disconnection_reason="user_hangup", end_timestamp=2)
    if name == "call_analyzed":
        fields["call_analysis"] = CallAnalysis(call_successful=True)
    return CallEvent(event=name, call=RetellCall.model_validate(fields))


ALL = [_event("call_started"), _event("call_ended"), _event("call_analyzed")]


def _fold(events: list[CallEvent]) -> CallState:
    return reduce(apply, events, CallState(call_id=CALL_ID))


@given(st.lists(st.sampled_from(ALL), min_size=1, max_size=12), st.randoms())
def test_any_order_and_repetition_ends_in_the_same_state(
    events: list[CallEvent], rnd: random.Random
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    distinct = list({e.event: e for e in events}.values())
    assert _fold(shuffled) == _fold(events) == _fold(distinct)


def test_phase_is_the_furthest_event_seen() -> None:
    assert _fold([ALL[0]]).phase == CallPhase.ONGOING
    # A call that never connects has no call_started: ended alone is enough.
    ended = _fold([ALL[1]])
    assert ended.phase == CallPhase.ENDED
    assert ended.call is not None
    assert ended.call.disconnection_reason == "user_hangup"
    analyzed = _fold([ALL[2], ALL[0]])
    assert analyzed.phase == CallPhase.ANALYZED
    assert analyzed.call is not None
    assert analyzed.call.call_analysis == CallAnalysis(call_successful=True)
    assert analyzed.events == {"call_started", "call_analyzed"}


def test_events_of_another_call_change_nothing() -> None:
    start = CallState(call_id=CALL_ID)
    assert apply(start, _event("call_ended", call_id="call_other")) == start


def test_a_poll_stands_in_for_lost_webhooks() -> None:
    polled = RetellCall(call_id=CALL_ID, call_status="ended", disconnection_reason="dial_busy")
    state = observe(CallState(call_id=CALL_ID), polled)
    assert state.phase == CallPhase.ENDED
    # A late, stale answer never moves the state back.
    stale = RetellCall(call_id=CALL_ID, call_status="ongoing")
    assert observe(state, stale) == state
    assert observe(state, RetellCall(call_id="call_other", call_status="ended")) == state
