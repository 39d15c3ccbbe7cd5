"""``outbound-calls doctor``: is this deployment wired up? One result per thing to check.

Each check talks to the real thing (Retell or the simulator, the bridge, Temporal) and
answers :class:`CheckResult`: its name, whether it passed, and when not, what is wrong and
what to change. Secrets never appear in a result: only setting names do.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.codec_keys import PayloadKeyError, payload_keys_from
from adapters.dnc_store import database_url, open_do_not_call_list
from adapters.payload_codec import converter_for
from adapters.retell_client import (
    RetellAccountProblem,
    RetellClient,
    RetellError,
    RetellRequestRejected,
)
from adapters.settings import DoctorSettings, TemporalSettings
from adapters.temporal_client import temporal_connect_options
from calls.registry_numbers import MAX_SOURCE_AGE, age_days, is_stale
from calls.signatures import SIGNATURE_HEADER, sign_retell_body
from outbound_calls_client.names import WEBHOOK_PATH
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES

TIMEOUT_S = 10.0
# An event the bridge can verify but that no workflow follows: acknowledged, routed nowhere.
TEST_EVENT = "doctor_check"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    # ok: what was seen; not ok: what is wrong.
    detail: str
    # What to change, when not ok.
    fix: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}: {self.detail}"
        return f"FAIL  {self.name}: {self.detail}. Change: {self.fix}"


@dataclass(frozen=True)
class Deployment:
    """What the checks look at: the settings, plus the agents and bridge URL to check."""

    settings: DoctorSettings
    # Besides RETELL_AGENT_IDS (the CLI's --agent-id adds more).
    agent_ids: tuple[str, ...] = ()
    bridge_url: str | None = None

    @property
    def all_agent_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.settings.agent_ids(), *self.agent_ids)))

    def webhook_url(self) -> str | None:
        """Where the bridge takes webhooks: --bridge-url, else BRIDGE_PUBLIC_URL's."""
        if self.bridge_url is not None:
            return self.bridge_url.rstrip("/") + WEBHOOK_PATH
        return self.settings.agent_webhook_url()


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, False, detail, fix)


Check = Callable[[Deployment], Awaitable[list[CheckResult]]]


def _retell(deployment: Deployment) -> RetellClient:
    settings = deployment.settings
    return RetellClient(
        settings.retell_base_url,
        settings.api_key(),
        connect_timeout_s=settings.retell_connect_timeout_s,
        read_timeout_s=min(settings.retell_read_timeout_s, TIMEOUT_S),
    )


def _retell_failure(name: str, exc: RetellError, base_url: str) -> CheckResult:
    if isinstance(exc, RetellAccountProblem):
        return failed(
            name,
            f"Retell refused RETELL_API_KEY (HTTP {exc.status_code})",
            "set RETELL_API_KEY to a valid API key from Retell's dashboard (Settings, API Keys)",
        )
    return failed(
        name,
        f"no usable answer from Retell at {base_url}: {exc}",
        "check RETELL_BASE_URL and that this host can reach it",
    )


async def check_retell_key(deployment: Deployment) -> list[CheckResult]:
    name = "Retell API key"
    settings = deployment.settings
    if settings.retell_api_key is None:
        return [failed(name, "RETELL_API_KEY is not set", "set RETELL_API_KEY")]
    try:
        async with _retell(deployment) as retell:
            concurrency = await retell.get_concurrency()
    except RetellError as exc:
        return [_retell_failure(name, exc, settings.retell_base_url)]
    live, limit = concurrency.get("current_concurrency"), concurrency.get("concurrency_limit")
    return [
        CheckResult(
            name, True, f"accepted by {settings.retell_base_url} ({live} of {limit} calls live)"
        )
    ]


async def check_agents(deployment: Deployment) -> list[CheckResult]:
    if not deployment.all_agent_ids:
        return [
            CheckResult(
                "agents", True, "none configured (set RETELL_AGENT_IDS or --agent-id to check)"
            )
        ]
    if deployment.settings.retell_api_key is None:
        return [failed("agents", "RETELL_API_KEY is not set", "set RETELL_API_KEY")]
    want = deployment.webhook_url()
    results = []
    async with _retell(deployment) as retell:
        for agent_id in deployment.all_agent_ids:
            results.append(await _check_agent(retell, agent_id, want, deployment))
    return results


async def _check_agent(
    retell: RetellClient, agent_id: str, want: str | None, deployment: Deployment
) -> CheckResult:
    name = f"agent {agent_id}"
    try:
        agent = await retell.get_agent(agent_id)
    except RetellRequestRejected as exc:
        if exc.status_code in (404, 422):
            return failed(
                name,
                "does not exist at Retell",
                "remove it from RETELL_AGENT_IDS, or create it (or fix the id)",
            )
        return _retell_failure(name, exc, deployment.settings.retell_base_url)
    except RetellError as exc:
        return _retell_failure(name, exc, deployment.settings.retell_base_url)
    has = agent.get("webhook_url")
    if want is None:
        return CheckResult(name, True, f"exists; webhook_url {has} (BRIDGE_PUBLIC_URL unset)")
    if has != want:
        seen = f"webhook_url is {has}" if has else "has no webhook_url (the account's applies)"
        return failed(
            name,
            f"{seen}, not {want}",
            f"set the agent's webhook_url to {want} (Retell dashboard or update-agent)",
        )
    return CheckResult(name, True, f"exists; webhook_url {want}")


async def check_bridge(deployment: Deployment) -> list[CheckResult]:
    name = "bridge"
    url = deployment.webhook_url()
    if url is None:
        return [
            failed(
                name,
                "BRIDGE_PUBLIC_URL is not set",
                "set BRIDGE_PUBLIC_URL to the bridge's address as Retell reaches it",
            )
        ]
    settings = deployment.settings
    try:
        key = settings.webhook_key()
    except RuntimeError:
        return [failed(name, "no webhook key", "set RETELL_WEBHOOK_KEY")]
    body = json.dumps(
        {"event": TEST_EVENT, "call": {"call_id": f"doctor-{uuid.uuid4().hex[:12]}"}},
        separators=(",", ":"),
    ).encode()
    headers = {"content-type": "application/json"}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, trust_env=False) as http:
            signed = await http.post(
                url,
                content=body,
                headers={**headers, SIGNATURE_HEADER: sign_retell_body(key, body)},
            )
            unsigned = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return [
            failed(
                name,
                f"cannot reach {url} ({type(exc).__name__})",
                "start the bridge (python -m bridge) or fix BRIDGE_PUBLIC_URL",
            )
        ]
    if signed.status_code == 401:
        return [
            failed(
                name,
                f"{url} refused a test event signed with our webhook key (HTTP 401)",
                "give the bridge and this host the same RETELL_WEBHOOK_KEY (Retell's webhook key)",
            )
        ]
    if not signed.is_success:
        return [
            failed(
                name,
                f"{url} answered HTTP {signed.status_code} to a signed test event",
                "check the bridge's log (and BRIDGE_PUBLIC_URL: it must reach our bridge)",
            )
        ]
    if unsigned.is_success:
        return [
            failed(
                name,
                f"{url} accepted an unsigned event",
                "put our bridge (which verifies x-retell-signature) behind BRIDGE_PUBLIC_URL",
            )
        ]
    return [CheckResult(name, True, f"{url} accepted a signed test event")]


async def _temporal_client(settings: TemporalSettings) -> Client:
    options = temporal_connect_options(settings)
    async with asyncio.timeout(TIMEOUT_S):
        return await Client.connect(
            options.target_host,
            namespace=options.namespace,
            api_key=options.api_key,
            tls=options.tls,
        )


async def check_temporal(deployment: Deployment) -> list[CheckResult]:
    name = "Temporal"
    settings = deployment.settings
    where = f"{settings.temporal_address} namespace {settings.temporal_namespace}"
    try:
        client = await _temporal_client(settings)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace),
            timeout=timedelta(seconds=TIMEOUT_S),
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:
            return [CheckResult(name, True, f"reachable at {where} (cannot list attributes)")]
        return [_temporal_failure(name, where, f"{exc.status.name}: {exc.message}")]
    except (TimeoutError, RuntimeError, OSError) as exc:
        return [_temporal_failure(name, where, str(exc) or type(exc).__name__)]
    known = set(listed.custom_attributes) | set(listed.system_attributes)
    missing = sorted(key.name for key in ALL_SEARCH_ATTRIBUTES if key.name not in known)
    if missing:
        return [
            failed(
                name,
                f"{where} lacks search attributes {', '.join(missing)}",
                "run `outbound-calls register-search-attributes` (Temporal Cloud: tcld)",
            )
        ]
    return [CheckResult(name, True, f"reachable at {where}; search attributes registered")]


def _temporal_failure(name: str, where: str, why: str) -> CheckResult:
    return failed(
        name,
        f"cannot reach {where}: {why}",
        "check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TEMPORAL_TLS_*/API key settings",
    )


async def check_payload_keys(deployment: Deployment) -> list[CheckResult]:
    name = "payload keys"
    try:
        keys = payload_keys_from(deployment.settings)
        converter = converter_for(keys)
        # A round trip proves the keys encrypt and decrypt, not just that they parse.
        payloads = await converter.encode(["doctor"])
        (back,) = await converter.decode(payloads, [str])
    except PayloadKeyError as exc:
        return [failed(name, str(exc), "fix PAYLOAD_KEYS / PAYLOAD_KEY_FILE / PAYLOAD_KEY_ID")]
    if back != "doctor":  # pragma: no cover - a codec bug, not a setting
        return [failed(name, "a round trip changed the payload", "report a bug")]
    if keys is None:
        return [CheckResult(name, True, "encryption off (no PAYLOAD_KEYS or PAYLOAD_KEY_FILE)")]
    return [
        CheckResult(name, True, f"{len(keys.keys)} key(s) load; new payloads use {keys.current_id}")
    ]


async def check_registry_sources(deployment: Deployment) -> list[CheckResult]:
    """Each do-not-call registry source is at most 31 days old (the registry's rule)."""
    name = "do-not-call registry"
    settings = deployment.settings
    shared = database_url(settings) is not None
    if not shared and not settings.do_not_call_db.exists():
        return [CheckResult(name, True, f"no sources ({settings.do_not_call_db} not created yet)")]
    try:
        async with open_do_not_call_list(settings) as store:
            sources = await store.sources()
    except (RuntimeError, OSError, sqlite3.Error) as exc:
        where = "DNC_DATABASE_URL" if shared else f"DO_NOT_CALL_DB ({settings.do_not_call_db})"
        return [
            failed(name, f"cannot read {where}: {exc}", "check DNC_DATABASE_URL / DO_NOT_CALL_DB")
        ]
    if not sources:
        return [CheckResult(name, True, "no sources imported")]
    now = datetime.now(UTC)
    results = []
    for source in sources:
        check = f"registry source {source.name}"
        days = age_days(source.imported_at, now)
        age = f"imported {days:.0f} days ago ({source.imported_at:%Y-%m-%d})"
        if is_stale(source.imported_at, now):
            results.append(
                failed(
                    check,
                    f"{age}, more than {MAX_SOURCE_AGE.days} days: its numbers are out of date",
                    "download the registry again and re-import it: "
                    f"`outbound-calls dnc import FILE --source {source.name}`",
                )
            )
        else:
            results.append(CheckResult(check, True, f"{source.rows:,} numbers, {age}"))
    return results


CHECKS: Sequence[Check] = (
    check_retell_key,
    check_agents,
    check_bridge,
    check_temporal,
    check_payload_keys,
    check_registry_sources,
)


async def run_checks(deployment: Deployment, checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    results: list[CheckResult] = []
    for check in checks:
        results += await check(deployment)
    return results
