"""A local Retell AI: the call API we use, its call lifecycle and its signed webhooks.

Run it with ``python -m simulator`` (settings: ``SimulatorSettings``), or inside a test's
event loop with :func:`simulator.server.running_simulator`.

API (as Retell; ``Authorization: Bearer <RETELL_API_KEY>``, errors as
``{"status": "error", "message": ...}``): ``POST /v2/create-phone-call`` (201 with the call
object), ``GET /v2/get-call/{call_id}`` (422 for an unknown id), ``POST
/v2/stop-call/{call_id}`` (204; a no-op on an ended call; 404 for an unknown id), ``POST
/v3/list-calls`` (``{"items", "has_more", "pagination_key"}``), ``GET /get-concurrency``,
``POST /create-agent``, ``GET /get-agent/{agent_id}``, ``PATCH /update-agent/{agent_id}``,
``POST /v2/list-agents`` (summaries: ``agent_id``, ``agent_name``, ``channel``,
``is_suspended``, ``tags``, ``user_modified_timestamp``), ``POST /create-sms-chat`` (200 with
the chat object; nothing is texted, ``GET /_sim/sms-chats`` shows what was asked;
``honor_internal_dnc`` refuses listed numbers with 400), ``POST /v3/list-chats`` (the texts
sent, as list-calls pages them, without their transcript fields; filters ``user_number``,
``agent_number``, ``agent``, ``chat_id``, ``chat_status``, ``chat_type`` and the timestamps,
any other 400). ``GET /get-concurrency`` reports
``SIMULATOR_RESERVED_INBOUND_CONCURRENCY`` as ``reserved_inbound_concurrency``. An
``idempotency_key`` returns the same call for an hour (``POST /_sim/forget-idempotency``
makes that hour pass). ``honor_internal_dnc`` rejects numbers on
the simulator's do-not-call list (400), which a call ending in ``user_requested_dnc`` adds
its number to, as does ``POST /_sim/dnc``. A call whose agent has a ``webhook_url`` sends
its webhooks there instead of ``SIMULATOR_WEBHOOK_URL``, as at Retell. A finished call
carries word-level ``transcript_object``, ``transcript_with_tool_calls`` and
``scrubbed_transcript_with_tool_calls`` covering its talk time, or
``metadata["simulator_duration_s"]`` seconds (``"3600"``: about 2 MiB per event).

A call lives on a clock: ``registered`` → ring (1 s) → ``ongoing`` (``call_started``) → talk
(2 s) → ``ended`` (``call_ended``) → analysis (0.5 s) → ``call_analyzed``. Every delay is
multiplied by ``SIMULATOR_TIME_SCALE``. A call that never connects gets no ``call_started``
and ends with ``call_status`` ``"ended"`` (never ``"not_connected"``) and a
``dial_*``/``invalid_destination``/``marked_as_spam`` reason; it has no ``start_timestamp``
and a ``duration_ms`` of 0. Webhooks go to ``SIMULATOR_WEBHOOK_URL`` (none: only recorded)
as ``{"event", "call"}`` signed with ``x-retell-signature``; a delivery waits up to 10 s
(scaled, at least 0.5 s) for a 2xx and is retried up to 3 times, 1 s apart (scaled). One
call's webhooks are sent in order; different calls' are independent.

Scenarios, picked by the call's ``metadata["simulator_scenario"]`` (none: ``answered``;
an unknown name answers 400 naming ``metadata.simulator_scenario``):

==================== =====================================================================
answered             started, ended ``user_hangup``, analysed with ``call_successful`` true
no_answer            ended ``dial_no_answer``; no ``call_started``
busy                 ended ``dial_busy``; no ``call_started``
dial_failed          ended ``dial_failed``; no ``call_started``
invalid_destination  ended ``invalid_destination``; no ``call_started``
account_problem      ended ``credit_exhausted``; no ``call_started``
voicemail            started, ended ``voicemail_reached``, analysis ``in_voicemail`` true
dnc_requested        started, ended ``user_requested_dnc``; the number goes on the DNC list
callback_requested   started, ended ``user_requested_callback``
webhooks_lost        plays as answered (get-call shows it) but no webhook is delivered;
                     each is still recorded, marked suppressed
duplicate_webhooks   as answered, every webhook delivered 3 times
out_of_order         as answered, but the three webhooks are delivered only after the
                     analysis, newest first: call_analyzed, call_ended, call_started
rate_limited         the first create request answers 429 with ``Retry-After: 1`` and
                     creates nothing; the next one succeeds (then as answered)
server_errors        the first two create requests answer 500, then 503, and create
                     nothing; the third succeeds (then as answered)
conflicts            the first two create requests answer 409, then 408; then as answered
trial_ended          every create answers 402 "Trial has ended, please add payment method"
forbidden            every create answers 403
lost_response        the first create request dials (the call plays as answered) but its
                     answer is held ``metadata["simulator_hold_s"]`` seconds (default 30,
                     not scaled) so the client times out; a retry with the same
                     idempotency key gets the same call
hangs_ongoing        started, then stays ongoing until stop-call (``manual_stopped``)
==================== =====================================================================

"The same request" for rate_limited, server_errors and lost_response is one
``idempotency_key`` (without a key: an identical body). Metadata ``simulator_ring_ms`` and
``simulator_talk_ms`` (integers as strings, not scaled) override one call's phases.
A comma-separated list (``"no_answer,busy,answered"``) plays one scenario per dial of a
redialing workflow, picked by the ``temporal_attempt`` metadata key (1-based; the last
one repeats).
``POST /v2/stop-call`` ends any unfinished call with ``manual_stopped``.

Records for tests, without a key: ``GET /_sim/calls[?to_number=]``,
``GET /_sim/calls/{call_id}/webhooks``, ``GET /_sim/requests``, ``GET|POST /_sim/dnc``,
``GET|POST /_sim/spam-numbers`` (``{"numbers": [...]}`` replaces the list: every call from
one of them ends ``marked_as_spam`` without connecting, whatever its scenario),
``POST /_sim/list-calls-failures`` (``{"status": 500, "count": N}``: the next N list-calls,
or all until reset, fail),
``POST /_sim/reset``, ``POST /_sim/forget-idempotency[?idempotency_key=]``,
``GET /_sim/healthz``.

Inbound calls: ``POST /_sim/inbound-call`` with ``{"from_number", "to_number"}`` (optional
``scenario``, and ``agent_id``: the number's inbound agent) is a person calling one of the
account's numbers. As at Retell, the inbound webhook (``SIMULATOR_INBOUND_WEBHOOK_URL``) is
first sent ``{"event": "call_inbound", "call_inbound": {"agent_id", "from_number",
"to_number", "call_id"}}``, signed like the call webhooks, 10 s a try (scaled), retried up to
3 times; its 2xx answer's ``{"call_inbound": {"override_agent_id", "override_agent_version",
"dynamic_variables", "metadata"}}`` (each optional) shapes the call. Then the call plays
like an outbound one, with ``direction`` ``"inbound"`` and the same call webhooks. With no
URL, no 2xx or a malformed answer (Retell does not document what it does then) the call
goes ahead with the number's agent and no variables. The answer (201) is ``{"call",
"inbound_webhook"}`` (the exchange: body, attempts, answer, ``answer_error``); ``GET
/_sim/inbound-calls`` lists every exchange.

A ``callback_requested`` call given metadata ``simulator_callback_at`` carries that string,
verbatim, in ``call_analysis.custom_analysis_data`` under the name in metadata
``simulator_callback_field`` (default ``callback_at``).
"""

from simulator.scenarios import SCENARIOS

__all__ = ["SCENARIOS"]
