"""A call's life on a clock: registered → ongoing → ended → analysed.

Runs as one background task per call. A stop request cuts the current phase short and ends
the call with ``manual_stopped``; everything after the end (webhooks, analysis) still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from outbound_calls_client.phone import mask_number
from simulator.call_record import SimulatedCall
from simulator.scenarios import MANUAL_STOPPED, analysis_for, transcript_for
from simulator.transcripts import conversation

log = structlog.get_logger("simulator.calls")


async def _stopped_within(call: SimulatedCall, seconds: float | None) -> bool:
    """Wait ``seconds`` (None: forever); True if a stop request came first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await call.stop_requested.wait()
    return call.stop_requested.is_set()


async def play_call(call: SimulatedCall, on_ended: Callable[[SimulatedCall], None]) -> None:
    scenario = call.scenario
    outbox = call.outbox
    try:
        stopped = await _stopped_within(call, call.timing.ring_s)
        connected = False
        if not stopped and scenario.connects:
            call.connect()
            connected = True
            outbox.emit("call_started", call.to_api())
            log.info("call_started", call_id=call.call_id)
            talk_s = None if scenario.disconnection_reason is None else call.timing.talk_s
            stopped = await _stopped_within(call, talk_s)
        reason = scenario.disconnection_reason
        if stopped or reason is None:
            reason = MANUAL_STOPPED
        talk_s = call.talk_s() if connected else 0.0
        call.end(reason, conversation(transcript_for(reason, connected), talk_s))
        on_ended(call)
        outbox.emit("call_ended", call.to_api())
        log.info(
            "call_ended",
            call_id=call.call_id,
            to_number=mask_number(call.to_number),
            disconnection_reason=reason,
        )
        await asyncio.sleep(call.timing.analysis_s)
        call.call_analysis = analysis_for(scenario, reason, connected, call.custom_analysis_data)
        outbox.emit("call_analyzed", call.to_api())
    finally:
        outbox.close()
