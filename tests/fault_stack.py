"""The whole stack as real processes that a test (or a benchmark) can kill and start again.

``ProcessStack`` runs what ``devstack.py`` runs, each as its own OS process with the settings
``devstack.py`` gives it: the Temporal dev server (the ``temporal`` binary next to
``sys.executable``, state in a SQLite file, our search attributes registered by flags), the
Retell simulator (``python -m simulator``, webhooks to the bridge), the bridge
(``python -m bridge``) and the worker (``python worker.py``). Every port is a free one on
127.0.0.1; every wait is bounded. Each component can be stopped (SIGTERM), killed
(SIGKILL) and started again on the same port (and, for the server, the same database file),
which is what the fault tests do.

Children run in the stack's data directory (no ``.env`` of the checkout is read, no stray
do-not-call file is written) with the checkout on ``PYTHONPATH``; their output goes to
``<data_dir>/<name>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from calls.search_attributes import dev_server_flags
from tests.call_harness import SIM_KEY, SimulatorAdmin
from tests.temporal_servers import server_binary

ROOT = Path(__file__).resolve().parent.parent

Component = Literal["temporal", "simulator", "bridge", "worker"]
COMPONENTS: tuple[Component, ...] = ("temporal", "simulator", "bridge", "worker")

# Settings of ours a developer's shell may carry; children get only what the stack sets.
_OWN_PREFIXES = (
    "RETELL_",
    "TEMPORAL_",
    "BRIDGE_",
    "SIMULATOR_",
    "MAX_CONCURRENT_",
    "DO_NOT_CALL_",
    "OUTCOME_",
)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
_POLL_S = 0.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class StackPorts:
    temporal: int
    bridge: int
    simulator: int

    @classmethod
    def pick(cls) -> StackPorts:
        return cls(temporal=free_port(), bridge=free_port(), simulator=free_port())


@dataclass
class StackOptions:
    """What differs between stacks: the simulator's pace and extra settings per process."""

    time_scale: float = 0.3
    task_queue: str = field(default_factory=lambda: f"calls-{uuid.uuid4().hex[:8]}")
    namespace: str = "default"
    # Extra environment for every child (MAX_CONCURRENT_CALLS, RETELL_READ_TIMEOUT_S, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"


class ComponentFailed(RuntimeError):
    pass


class ProcessStack:
    """Start with :meth:`start` (or ``async with stack.running()``), then use ``client``,
    ``sim``, ``bridge_url``; :meth:`kill`, :meth:`stop` and :meth:`start_component` act on
    one process at a time."""

    def __init__(
        self, data_dir: Path, options: StackOptions | None = None, ports: StackPorts | None = None
    ) -> None:
        self.data_dir = data_dir
        self.options = options or StackOptions()
        self.ports = ports or StackPorts.pick()
        self._procs: dict[Component, asyncio.subprocess.Process] = {}
        self._client: Client | None = None
        self._sim: SimulatorAdmin | None = None

    # ----- addresses and environment -------------------------------------------------------

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    @property
    def bridge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.bridge}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.simulator}"

    @property
    def database(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def task_queue(self) -> str:
        return self.options.task_queue

    def environment(self) -> dict[str, str]:
        """The settings devstack.py gives its children (simulated Retell), plus options."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
        pythonpath = os.pathsep.join(p for p in (str(ROOT), base.get("PYTHONPATH")) if p)
        return {
            **base,
            "PYTHONPATH": pythonpath,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": self.options.namespace,
            "TEMPORAL_TASK_QUEUE": self.task_queue,
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": str(self.ports.bridge),
            "RETELL_API_KEY": SIM_KEY,
            "RETELL_BASE_URL": self.simulator_url,
            "SIMULATOR_HOST": "127.0.0.1",
            "SIMULATOR_PORT": str(self.ports.simulator),
            "SIMULATOR_WEBHOOK_URL": f"{self.bridge_url}/webhooks/retell",
            "SIMULATOR_TIME_SCALE": str(self.options.time_scale),
            "DO_NOT_CALL_DB": str(self.data_dir / "do_not_call.sqlite3"),
            **self.options.env,
        }

    def _argv(self, name: Component) -> list[str]:
        if name == "temporal":
            return [
                server_binary("temporal"),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.ports.temporal),
                "--namespace",
                self.options.namespace,
                "--db-filename",
                str(self.database),
                "--log-level",
                "error",
                *dev_server_flags(),
            ]
        if name == "worker":
            return [sys.executable, str(ROOT / "worker.py"), "--log-level", self.options.log_level]
        if name == "bridge":
            return [sys.executable, "-m", "bridge", "--log-level", self.options.log_level]
        return [sys.executable, "-m", "simulator"]

    # ----- life of the whole stack ---------------------------------------------------------

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in COMPONENTS:
                await self.start_component(name)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for name in reversed(COMPONENTS):
            if name in self._procs:
                await self.stop(name)
        if self._sim is not None:
            await self._sim.aclose()
            self._sim = None
        self._client = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ProcessStack]:
        await self.start()
        try:
            yield self
        finally:
            await self.close()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the stack is not started")
        return self._client

    @property
    def sim(self) -> SimulatorAdmin:
        if self._sim is None:
            self._sim = SimulatorAdmin(self.simulator_url)
        return self._sim

    # ----- one component -------------------------------------------------------------------

    def pid(self, name: Component) -> int:
        return self._procs[name].pid

    def is_running(self, name: Component) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.returncode is None

    async def start_component(self, name: Component) -> None:
        """Start ``name`` (again) and wait until it serves: bounded by START_TIMEOUT_S."""
        if self.is_running(name):
            raise RuntimeError(f"{name} is already running")
        log = (self.data_dir / f"{name}.log").open("ab")
        try:
            self._procs[name] = await asyncio.create_subprocess_exec(
                *self._argv(name),
                cwd=self.data_dir,
                env=self.environment(),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the test run reaches only pytest
            )
        finally:
            log.close()
        async with asyncio.timeout(START_TIMEOUT_S):
            if name == "temporal":
                await self._until_temporal_serves()
            elif name == "simulator":
                await self._until_http_ok(name, f"{self.simulator_url}/_sim/healthz")
            elif name == "bridge":
                await self._until_http_ok(name, f"{self.bridge_url}/readyz")
            else:
                await self._until_worker_polls()

    async def kill(self, name: Component) -> None:
        """SIGKILL: no shutdown, no drain, nothing released."""
        await self._signal_and_wait(name, signal.SIGKILL, STOP_TIMEOUT_S)

    async def stop(self, name: Component) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
        try:
            await self._signal_and_wait(name, signal.SIGTERM, STOP_TIMEOUT_S)
        except TimeoutError:
            await self.kill(name)

    async def _signal_and_wait(self, name: Component, sig: int, timeout_s: float) -> None:
        proc = self._procs[name]
        if proc.returncode is None:
            proc.send_signal(sig)
        async with asyncio.timeout(timeout_s):
            await proc.wait()
        del self._procs[name]

    def _check_alive(self, name: Component) -> None:
        proc = self._procs[name]
        if proc.returncode is not None:
            raise ComponentFailed(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    async def _until_temporal_serves(self) -> None:
        while True:
            self._check_alive("temporal")
            try:
                client = self._client or await Client.connect(
                    self.temporal_address,
                    namespace=self.options.namespace,
                    data_converter=pydantic_data_converter,
                )
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.options.namespace), retry=False
                )
            except Exception:  # still starting: refused, unavailable, namespace not there yet
                await asyncio.sleep(_POLL_S)
                continue
            # One client for the stack's lifetime: it reconnects by itself after a restart.
            self._client = client
            return

    async def _until_http_ok(self, name: Component, url: str) -> None:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
            while True:
                self._check_alive(name)
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        return
                await asyncio.sleep(_POLL_S)

    async def _until_worker_polls(self) -> None:
        """Until Temporal lists this very process (``pid@host``) polling both task types."""
        identity = f"{self.pid('worker')}@"
        while True:
            self._check_alive("worker")
            kinds_polled = 0
            for queue_type in (
                TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ):
                answer = await self.client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=self.options.namespace,
                        task_queue=TaskQueue(name=self.task_queue),
                        task_queue_type=queue_type,
                    )
                )
                if any(p.identity.startswith(identity) for p in answer.pollers):
                    kinds_polled += 1
            if kinds_polled == 2:
                return
            await asyncio.sleep(_POLL_S)

    def log_tail(self, name: Component, lines: int = 30) -> str:
        path = self.data_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logs_summary(self) -> str:
        """The last lines of every log, for an assertion message."""
        return "\n".join(f"--- {name}.log ---\n{self.log_tail(name)}" for name in COMPONENTS)
