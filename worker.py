"""The Temporal worker process: call workflows and their activities on one task queue.

Run with ``python worker.py`` (settings from the environment; see ``.env.example``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.agents import AgentActivities
from activities.call_lookup import CallLookupActivities
from activities.call_slots import CallSlotActivities
from activities.caller_ids import CallerIdActivities
from activities.campaign_calls import CampaignCallActivities
from activities.contact_limits import ContactLimitActivities
from activities.contacts import ContactActivities
from activities.do_not_call import DoNotCallActivities
from activities.nexus_calls import OutboundCallsHandler
from activities.outcome_delivery import OutcomeDeliveryActivities
from activities.retell import RetellActivities
from activities.texts import TextActivities
from activities.validation import RequestValidationActivities
from adapters.bytecode import cache_bytecode
from adapters.caller_id_store import open_caller_id_store
from adapters.caller_ids import CallerIdStore, SqliteCallerIdStore
from adapters.codec_keys import PayloadKeyError
from adapters.contact_log import ContactLog, SqliteContactLog
from adapters.contact_log_store import open_contact_log
from adapters.contacts_locations import ContactsLocationPolicy
from adapters.dnc_store import open_do_not_call_list, warn_of_stale_sources
from adapters.do_not_call import DoNotCallList, SqliteDoNotCallList
from adapters.inbound_reserve import NoOutboundCapacity, OutboundCapacity
from adapters.logs import configure_logging, get_logger, secret_values
from adapters.outcome_urls import OutcomeUrlPolicy
from adapters.payload_codec import describe_encryption
from adapters.process_exit import run_then_exit
from adapters.retell_client import RetellClient
from adapters.settings import WorkerSettings
from adapters.temporal_client import connect_temporal
from adapters.tracing import configure_tracing
from calls.contact_limits import parse_limits
from calls.contacts_file import ReadLimits
from workflows.agent_provisioning import AgentProvisioningWorkflow
from workflows.call_slots import CallSlotsWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.outbound_call import OutboundCallWorkflow
from workflows.outcome_relay import CallOutcomeRelayWorkflow

log = get_logger("worker")

# Every worker reports its build to Temporal (WORKER_BUILD_ID, by default the product's
# version) under this deployment name, without Worker Versioning's routing: a deploy rolls by
# patches (docs/changing-workflows.md), and the build shows which code ran each task.
DEPLOYMENT_NAME = "outbound-calls"
PRODUCT_VERSION = version("durable-outbound-calls")


def deployment_of(build_id: str) -> WorkerDeploymentConfig:
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=DEPLOYMENT_NAME, build_id=build_id),
        use_worker_versioning=False,
    )


WORKFLOWS: Sequence[type] = (
    OutboundCallWorkflow,
    CampaignWorkflow,
    CallSlotsWorkflow,
    AgentProvisioningWorkflow,
    CallOutcomeRelayWorkflow,
)

# The sandbox imports these afresh for every workflow run: their bytecode is written at start.
WORKFLOWS_DIR = Path(workflows.__file__).parent
# Shared, deterministic-to-use modules are loaded once instead of per workflow run (memory
# and speed); phonenumbers also loads region data lazily, which the sandbox would refuse.
SANDBOX_PASSTHROUGH = (
    "outbound_calls_client",
    "calls",
    "phonenumbers",
    "pydantic",
    "pydantic_core",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker and replayer of this project runs workflows in."""
    cache_bytecode(WORKFLOWS_DIR)
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )


def retell_client_for(settings: WorkerSettings) -> RetellClient:
    return RetellClient(
        settings.retell_base_url,
        settings.api_key(),
        connect_timeout_s=settings.retell_connect_timeout_s,
        read_timeout_s=settings.retell_read_timeout_s,
        create_timeout_s=settings.retell_create_timeout_s,
        list_calls_timeout_s=settings.retell_list_calls_timeout_s,
        max_connections=settings.max_concurrent_activities,
    )


def create_task_queue_for(task_queue: str) -> str:
    """The queue of Retell creates, rate-limited across all workers of ``task_queue``."""
    return f"{task_queue}-retell-creates"


def slots_task_queue_for(task_queue: str) -> str:
    """The queue the slot pools of ``task_queue`` run on."""
    return f"{task_queue}-slots"


def _build_id_of(settings: WorkerSettings) -> str:
    return settings.worker_build_id or PRODUCT_VERSION


def _graceful_shutdown_of(settings: WorkerSettings) -> timedelta:
    return timedelta(seconds=settings.worker_graceful_shutdown_s)


def build_worker(
    client: Client,
    settings: WorkerSettings,
    *,
    retell: RetellClient,
    do_not_call: DoNotCallList | None = None,
    extra_workflows: Sequence[type] = (),
    workflows: Sequence[type] = WORKFLOWS,
    outbound_slots: Callable[[], int] | None = None,
    caller_ids: CallerIdStore | None = None,
    contact_log: ContactLog | None = None,
) -> Worker:
    """A worker of TEMPORAL_TASK_QUEUE with every workflow and activity of the product.

    Everything configurable is a setting (docs/configuration.md); what is passed beside the
    settings is an object: ``retell``, the client its activities call Retell with (the caller
    opens and closes it: ``retell_client_for``); ``do_not_call``, the store, by default the
    SQLite list at DO_NOT_CALL_DB; ``extra_workflows``, your own workflows (for instance
    parents that start calls) on the same worker; ``workflows``, the product's workflow
    classes replaced (the rolling-deploy test runs a next build's); ``outbound_slots``, what
    answers the slots the pools may grant (``run_worker`` passes an ``OutboundCapacity`` that
    reads Retell's reserve for inbound), by default MAX_CONCURRENT_CALLS less
    RESERVED_INBOUND_CALLS; ``caller_ids``, the caller-ID pools, and ``contact_log``, who
    was called when (CONTACT_LIMITS), by default in the SQLite file at DO_NOT_CALL_DB.
    """
    task_queue = settings.temporal_task_queue
    store = do_not_call or SqliteDoNotCallList(settings.do_not_call_db)
    signing_key = settings.outcome_signing_key
    retell_activities = RetellActivities(retell)
    lookup = CallLookupActivities(client)
    dnc = DoNotCallActivities(store)
    pools = CallerIdActivities(
        caller_ids or SqliteCallerIdStore(settings.do_not_call_db),
        settings.caller_id_health_rules(),
    )
    contacts_made = ContactLimitActivities(
        contact_log or SqliteContactLog(settings.do_not_call_db),
        parse_limits(settings.contact_limits),
        settings.number_hash_secret(),
    )
    texts = TextActivities(retell, store)
    outcome_urls = OutcomeUrlPolicy(settings.outcome_url_hosts)
    validation = RequestValidationActivities(
        outcome_urls,
        callback_time_field=settings.callback_time_field,
        number_hash_key=settings.number_hash_secret(),
    )
    delivery = OutcomeDeliveryActivities(
        signing_key.get_secret_value() if signing_key else None, policy=outcome_urls
    )
    slots = CallSlotActivities(
        client,
        task_queue=task_queue,
        capacity=outbound_slots
        or OutboundCapacity(settings.max_concurrent_calls, settings.reserved_inbound_calls),
        shards=settings.call_slot_shards,
        # Calls send their creates to the rate-limited queue only when it is served.
        create_task_queue=create_task_queue_for(task_queue)
        if settings.retell_max_creates_per_second
        else None,
        pool_task_queue=slots_task_queue_for(task_queue),
    )
    agents = AgentActivities(
        client, retell, task_queue=task_queue, webhook_url=settings.agent_webhook_url()
    )
    campaign_calls = CampaignCallActivities(client)
    contacts = ContactActivities(
        ContactsLocationPolicy(settings.contacts_locations),
        ReadLimits(settings.contacts_max_bytes, settings.contacts_max_line_bytes),
    )
    activities: list[Any] = [
        validation.validate_call_request,
        retell_activities.create_call,
        retell_activities.get_call,
        retell_activities.stop_call,
        retell_activities.find_call,
        lookup.call_outcome_if_done,
        dnc.check_do_not_call,
        dnc.add_to_do_not_call,
        pools.pick_caller_id,
        pools.report_caller_id_result,
        contacts_made.claim_contact,
        contacts_made.forget_contact,
        texts.send_text,
        delivery.deliver_outcome,
        slots.request_call_slot,
        slots.release_call_slot,
        slots.grant_call_slots,
        slots.recover_slot_holders,
        agents.ensure_agent,
        agents.find_or_create_agent,
        campaign_calls.start_campaign_calls,
        campaign_calls.cancel_campaign_calls,
        campaign_calls.closed_campaign_calls,
        contacts.open_contacts,
        contacts.read_contacts_page,
    ]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*workflows, *extra_workflows],
        activities=activities,
        workflow_runner=workflow_runner(),
        max_concurrent_activities=settings.max_concurrent_activities,
        # Other teams' workflows place calls through Nexus (outbound_calls_client.nexus_service).
        nexus_service_handlers=[OutboundCallsHandler(task_queue)],
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=_graceful_shutdown_of(settings),
        deployment_config=deployment_of(_build_id_of(settings)),
    )


def build_slots_worker(
    client: Client, settings: WorkerSettings, *, pool_workflow: type = CallSlotsWorkflow
) -> Worker:
    """The worker of ``slots_task_queue_for(task_queue)``: the slot pools alone, so a grant
    never waits behind a backlog of call tasks (measured: 13 s at 200 calls started at once
    when pools and calls shared a queue)."""
    task_queue = settings.temporal_task_queue
    slots = CallSlotActivities(
        client,
        task_queue=task_queue,
        capacity=settings.max_concurrent_calls,
        shards=settings.call_slot_shards,
    )
    return Worker(
        client,
        task_queue=slots_task_queue_for(task_queue),
        workflows=[pool_workflow],
        activities=[slots.grant_call_slots, slots.recover_slot_holders],
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=_graceful_shutdown_of(settings),
        deployment_config=deployment_of(_build_id_of(settings)),
    )


def build_create_worker(
    client: Client, settings: WorkerSettings, *, retell: RetellClient
) -> Worker:
    """The worker of ``create_task_queue_for(task_queue)``: Retell creates only, at most
    RETELL_MAX_CREATES_PER_SECOND across every worker of the queue (Temporal's server-side
    task-queue rate limit), so a burst of dials never becomes a wall of 429s."""
    rate = settings.retell_max_creates_per_second
    if rate is None:
        raise ValueError("RETELL_MAX_CREATES_PER_SECOND is not set: calls create on their queue")
    return Worker(
        client,
        task_queue=create_task_queue_for(settings.temporal_task_queue),
        activities=[RetellActivities(retell).create_call],
        max_task_queue_activities_per_second=rate,
        graceful_shutdown_timeout=_graceful_shutdown_of(settings),
        deployment_config=deployment_of(_build_id_of(settings)),
    )


def build_side_workers(
    client: Client,
    settings: WorkerSettings,
    *,
    retell: RetellClient,
    pool_workflow: type = CallSlotsWorkflow,
) -> list[Worker]:
    """The workers a worker process runs beside ``build_worker``'s: the slot pools' and, with
    RETELL_MAX_CREATES_PER_SECOND, the creates'."""
    workers = [build_slots_worker(client, settings, pool_workflow=pool_workflow)]
    if settings.retell_max_creates_per_second:
        workers.append(build_create_worker(client, settings, retell=retell))
    return workers


@contextlib.asynccontextmanager
async def running(workers: Sequence[Worker]) -> AsyncIterator[None]:
    """Every worker polling; on leaving, each drains (WORKER_GRACEFUL_SHUTDOWN_S) and stops,
    in the reverse order of their start."""
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield


async def run_worker(settings: WorkerSettings) -> None:
    client = await connect_temporal(settings, metrics_bind=settings.temporal_metrics_bind)
    async with (
        retell_client_for(settings) as retell,
        open_do_not_call_list(settings) as do_not_call,
        open_caller_id_store(settings) as caller_ids,
        open_contact_log(settings) as contact_log,
    ):
        await warn_of_stale_sources(do_not_call)
        try:
            outbound = OutboundCapacity(
                settings.max_concurrent_calls, settings.reserved_inbound_calls, retell
            )
            await outbound.start()
        except NoOutboundCapacity as err:
            raise SystemExit(f"worker not started: {err}") from None
        calls = build_worker(
            client,
            settings,
            retell=retell,
            do_not_call=do_not_call,
            outbound_slots=outbound,
            caller_ids=caller_ids,
            contact_log=contact_log,
        )
        workers = [calls, *build_side_workers(client, settings, retell=retell)]
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "worker started",
            task_queue=settings.temporal_task_queue,
            build_id=_build_id_of(settings),
            temporal_address=settings.temporal_address,
            retell_base_url=settings.retell_base_url,
            metrics_bind=settings.temporal_metrics_bind,
            payload_encryption=describe_encryption(client.data_converter),
            do_not_call="postgresql" if settings.dnc_database_url else "sqlite",
            outbound_slots=outbound(),
            reserved_inbound=outbound.reserve.calls,
            reserved_from=outbound.reserve.source,
        )
        async with running(workers):
            refresher = asyncio.create_task(outbound.keep_fresh())
            await stop.wait()
            refresher.cancel()
            log.info("worker stopping: finishing in-flight tasks")
    log.info("worker stopped")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="worker.py",
        description="Run the Temporal worker for outbound calls (settings from the environment).",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    settings = WorkerSettings()
    try:
        # Every secret setting, payload keys included (their file is read and checked here).
        secrets = secret_values(settings)
    except PayloadKeyError as err:
        raise SystemExit(f"payload encryption keys: {err}") from None
    configure_logging(level=args.log_level, secrets=secrets)
    configure_tracing("outbound-calls-worker")
    if settings.retell_api_key is None:
        raise SystemExit("RETELL_API_KEY is not set (the simulator accepts 'simulator-key')")
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    run_then_exit(main)
