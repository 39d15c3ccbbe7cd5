"""Which Temporal server a dev stack's payload key file belongs to.

``make run`` writes its own key file and, next to it, ``payload-keys.server.json``: the
address, namespace, namespace id and cluster id of the dev server it started. The ids are
made when the server's database is created and survive restarts, so they tell the dev stack's
server apart from any other one, even one later started on the same port. The CLI reads the
record to decide whether the key file is for the server it is talking to: encrypting for a
server whose workers hold other keys fails every workflow task there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetClusterInfoRequest
from temporalio.client import Client

RECORD_SUFFIX = ".server.json"
# One machine, many spellings: the dev stack listens on 127.0.0.1, users type localhost.
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class DevServerRecordError(ValueError):
    """The record next to a key file cannot be read; the message names the file."""


@dataclass(frozen=True)
class TemporalServer:
    address: str
    namespace: str
    namespace_id: str
    cluster_id: str

    def __str__(self) -> str:
        return (
            f"{self.address} (namespace {self.namespace} id {self.namespace_id}, "
            f"cluster {self.cluster_id})"
        )

    def is_reached_at(self, address: str) -> bool:
        """Whether ``address`` names this server's address (loopback spelt any way)."""
        return _normal(address) == _normal(self.address)

    def is_same_as(self, other: TemporalServer) -> bool:
        return (
            self.is_reached_at(other.address)
            and self.namespace == other.namespace
            and self.namespace_id == other.namespace_id
            and self.cluster_id == other.cluster_id
        )


def _normal(address: str) -> str:
    host, _, port = address.strip().rpartition(":")
    host = host.lower()
    return f"127.0.0.1:{port}" if host in _LOOPBACK_NAMES else f"{host}:{port}"


async def identify(client: Client) -> TemporalServer:
    """The server and namespace ``client`` talks to (two cheap RPCs)."""
    service = client.workflow_service
    namespace = await service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    cluster = await service.get_cluster_info(GetClusterInfoRequest())
    return TemporalServer(
        address=client.service_client.config.target_host,
        namespace=client.namespace,
        namespace_id=namespace.namespace_info.id,
        cluster_id=cluster.cluster_id,
    )


def record_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.stem + RECORD_SUFFIX)


def write_record(key_file: Path, server: TemporalServer) -> None:
    record_path(key_file).write_text(json.dumps(asdict(server), indent=2) + "\n")


async def record_dev_server(client: Client, key_file: Path) -> TemporalServer:
    """What the dev stack does once its server is up: name that server next to its keys."""
    server = await identify(client)
    write_record(key_file, server)
    return server


def read_record(key_file: Path) -> TemporalServer | None:
    """The server a dev stack wrote ``key_file`` for; None when no dev stack wrote it."""
    path = record_path(key_file)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DevServerRecordError(f"cannot read {path}: {err.strerror}") from None
    try:
        data = json.loads(text)
        return TemporalServer(**{f.name: str(data[f.name]) for f in fields(TemporalServer)})
    except (ValueError, TypeError, KeyError):
        raise DevServerRecordError(
            f"{path} does not name a server (address, namespace, namespace_id, cluster_id): "
            "delete it and restart make run"
        ) from None
