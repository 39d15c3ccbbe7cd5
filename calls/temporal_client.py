"""One way to connect to Temporal, shared by worker, bridge, CLI and dev stack."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from calls.settings import TemporalSettings


async def connect_temporal(settings: TemporalSettings) -> Client:
    """A client that carries our pydantic models as JSON payloads."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
