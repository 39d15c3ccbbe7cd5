"""Word-level transcripts as Retell attaches them to a finished call.

``call_ended`` and ``call_analyzed`` (and get-call) carry ``transcript_object`` (utterances with
a timestamp per word), ``transcript_with_tool_calls`` (the same, woven with tool invocations
and results) and a PII-scrubbed copy of the latter. Their size grows with the call's length:
an hour of conversation is several MiB of JSON, which is what a webhook receiver must take.
Deterministic (no randomness), so a test can rebuild the same payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A brisk two-party conversation; with the pauses below it comes to ~150 words a minute.
WORD_S = 0.3
WORD_GAP_S = 0.06
TURN_GAP_S = 0.7
# One tool invocation (and its result) every this many utterances.
TOOL_EVERY = 12

_ROLES = {"Agent": "agent", "User": "user", "Voicemail": "user"}

# Filler turns for long calls, after the scenario's own lines; non-ASCII on purpose (as in
# simulator.scenarios.transcript_for) so that a receiver must keep the raw bytes.
_FILLER = (
    "User: Could you tell me again what time the appointment is on Thursday afternoon?",
    "Agent: Of course — it is at half past three, at the clinic on Market Street, with "
    "Dr. Müller, and it should take about forty minutes.",
    "User: And do I need to bring anything, like my insurance card or the referral letter?",
    "Agent: Please bring both, and arrive ten minutes early so the front desk can check you "
    "in; if anything changes, call us at 415 555 0100.",
)
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class Conversation:
    transcript: str
    transcript_object: list[dict[str, Any]]
    transcript_with_tool_calls: list[dict[str, Any]]
    scrubbed_transcript_with_tool_calls: list[dict[str, Any]]

    def fields(self) -> dict[str, Any]:
        """The call object's transcript fields (empty lists left out, as for a short call)."""
        found: dict[str, Any] = {"transcript": self.transcript}
        if self.transcript_object:
            found["transcript_object"] = self.transcript_object
            found["transcript_with_tool_calls"] = self.transcript_with_tool_calls
            found["scrubbed_transcript_with_tool_calls"] = self.scrubbed_transcript_with_tool_calls
        return found


def _lines(scripted: str, duration_s: float) -> list[str]:
    """The scenario's lines, then filler turns until about ``duration_s`` is spoken."""
    lines = [line for line in scripted.splitlines() if line.strip()]
    if not lines:
        return []
    spoken = sum(_seconds(line) for line in lines)
    index = 0
    while spoken < duration_s:
        line = _FILLER[index % len(_FILLER)]
        lines.insert(len(lines) - 1, line)  # the scenario's last line still ends the call
        spoken += _seconds(line)
        index += 1
    return lines


def _seconds(line: str) -> float:
    words = len(line.partition(": ")[2].split())
    return words * (WORD_S + WORD_GAP_S) + TURN_GAP_S


def _utterance(line: str, start_s: float) -> tuple[dict[str, Any], float]:
    speaker, _, content = line.partition(": ")
    words = []
    clock = start_s
    for word in content.split():
        # Unrounded, as ASR timestamps arrive (float noise and all).
        words.append({"word": word, "start": clock, "end": clock + WORD_S})
        clock += WORD_S + WORD_GAP_S
    utterance = {"role": _ROLES.get(speaker, "user"), "content": content, "words": words}
    return utterance, clock + TURN_GAP_S


def _scrubbed(item: dict[str, Any]) -> dict[str, Any]:
    """Retell's PII-scrubbed copy; here digits stand in for what it scrubs."""
    copy = dict(item)
    if "content" in copy:
        copy["content"] = _DIGITS.sub("*", copy["content"])
    if "words" in copy:
        copy["words"] = [{**w, "word": _DIGITS.sub("*", w["word"])} for w in copy["words"]]
    return copy


def conversation(scripted: str, duration_s: float) -> Conversation:
    """The transcripts of a call whose scenario says ``scripted`` and that talked for
    ``duration_s`` seconds (at least the scripted lines; none when nothing was said)."""
    lines = _lines(scripted, duration_s)
    utterances: list[dict[str, Any]] = []
    woven: list[dict[str, Any]] = []
    clock = 0.0
    for index, line in enumerate(lines):
        utterance, clock = _utterance(line, clock)
        utterances.append(utterance)
        woven.append(utterance)
        if index and index % TOOL_EVERY == 0:
            tool_call_id = f"tool_call_{index:06d}"
            woven.append(
                {
                    "role": "tool_call_invocation",
                    "tool_call_id": tool_call_id,
                    "name": "check_availability",
                    "type": "custom",
                    "arguments": '{"day":"Thursday","time":"15:30"}',
                }
            )
            woven.append(
                {
                    "role": "tool_call_result",
                    "tool_call_id": tool_call_id,
                    "content": '{"available":true,"room":"B-12"}',
                    "successful": True,
                }
            )
    transcript = "".join(line + "\n" for line in lines)
    return Conversation(transcript, utterances, woven, [_scrubbed(item) for item in woven])
