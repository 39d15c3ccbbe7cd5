"""The webhook bridge: Retell's signed webhooks become ``call_event`` signals.

Retell delivers call events over HTTP with a signature and retries when it gets no 2xx;
Temporal wants signals. This small ASGI service sits between them: it verifies each
delivery over its raw bytes, routes it to the workflow named in the call's metadata, and
answers 2xx only when the event is safely in Temporal (or can never be), so that Retell's
retries, not our memory, carry an event across a Temporal outage.

Run it with ``python -m bridge``; build it in-process with :func:`bridge.app.create_app`.
"""

from bridge.app import create_app
from outbound_calls_client.names import WEBHOOK_PATH

__all__ = ["WEBHOOK_PATH", "create_app"]
