"""What one stack is: where its processes listen and what differs between stacks. The one
shape ``make run`` (devstack.py), the tests and the benchmarks give :class:`ProcessStack`
(stack/processes.py); it imports nothing of the stack's but the ports, so every module of
stack/ may use it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from stack.ports import LOOPBACK, free_port

# The Retell API key the simulator accepts (and signs its webhooks with) on every stack.
SIM_KEY = "simulator-key"


def _fresh_task_queue() -> str:
    return f"calls-{uuid.uuid4().hex[:8]}"


def _announce_nothing(_line: str) -> None:
    pass


@dataclass(frozen=True)
class StackConfig:
    """The defaults are a test's stack: free ports (no collision with another stack on the
    machine), a fresh task queue, the simulator 0.3 times its pace, headless, children with
    only the stack's settings. ``make run`` gives fixed ports and the checkout's settings."""

    temporal_port: int = field(default_factory=free_port)
    bridge_port: int = field(default_factory=free_port)
    simulator_port: int = field(default_factory=free_port)
    codec_server_port: int = field(default_factory=free_port)
    # The dev server's web UI, when ``ui`` is on.
    ui_port: int = field(default_factory=free_port)
    # The simulator's SIMULATOR_TIME_SCALE; None leaves its own setting (``make run``).
    time_scale: float | None = 0.3
    task_queue: str = field(default_factory=_fresh_task_queue)
    namespace: str = "default"
    # Extra environment for every child (MAX_CONCURRENT_CALLS, RETELL_READ_TIMEOUT_S, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    # The dev server's web UI (else headless); it decrypts through the codec server if one runs.
    ui: bool = False
    codec_server: bool = False
    # Calls go to the real Retell with this key (no simulator is started).
    retell_api_key: str | None = None
    retell_base_url: str | None = None
    # Given to every process as PAYLOAD_KEY_FILE.
    payload_key_file: Path | None = None
    # See stack/processes.py's doc: True runs the children as a user's own, in the checkout.
    checkout_settings: bool = False
    # How the stack's own client reads payloads (the stack's keys, when it has them).
    data_converter: DataConverter = pydantic_data_converter
    # Where "started ..."/"stopped ..." lines go (devstack.py prints them; tests need none).
    announce: Callable[[str], None] = _announce_nothing

    @property
    def simulated(self) -> bool:
        return self.retell_api_key is None

    @property
    def temporal_address(self) -> str:
        return f"{LOOPBACK}:{self.temporal_port}"

    @property
    def bridge_url(self) -> str:
        return f"http://{LOOPBACK}:{self.bridge_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://{LOOPBACK}:{self.simulator_port}"

    @property
    def codec_server_url(self) -> str:
        return f"http://{LOOPBACK}:{self.codec_server_port}"

    @property
    def ui_url(self) -> str:
        """As a browser on this machine opens it (the codec server allows this origin)."""
        return f"http://localhost:{self.ui_port}"
