"""Encrypted payloads: what Temporal stores of a call is ciphertext, unless you hold the key.

Temporal keeps every workflow input, result, signal, query answer, activity argument and
failure in its history. For a call that is the callee's number, the caller's dynamic
variables and the transcript. :class:`EncryptionCodec` encrypts each payload with
AES-256-GCM (authenticated: a changed byte fails to decrypt, it never decrypts to something
else) under a random 12-byte nonce, and records the key's id in the payload's metadata
(``encoding: binary/encrypted``, ``encryption-key-id: <id>``), so keys rotate: new payloads
use the current key, older ones decrypt with the key they name.

Payloads that are not encrypted pass through decoding unchanged: turning encryption on
does not strand histories written before. Search attributes are never encoded (Temporal
indexes them), which is why ours hold masked numbers only.

Every client and worker gets this through :func:`data_converter`; with no keys configured it
is plain :data:`temporalio.contrib.pydantic.pydantic_data_converter`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from adapters.codec_keys import PayloadKeys, payload_keys_from
from adapters.settings import PayloadCodecSettings, TemporalSettings

ENCODING_METADATA_KEY = "encoding"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA_KEY = "encryption-key-id"
NONCE_BYTES = 12


_MAX_KEY_ID_CHARS = 64


class PayloadDecryptionError(ValueError):
    """An encrypted payload could not be decrypted; the message names the key id, not a key."""

    def __init__(self, message: str, *, key_id: str | None) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnknownPayloadKey(PayloadDecryptionError):
    """The payload names a key this process does not have (removed, or not yet rolled out)."""


def _associated_data(key_id: str) -> bytes:
    # Binds the ciphertext to the key id in its metadata: relabelling a payload fails.
    return b"temporal-payload/v1:" + key_id.encode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialised payload (its metadata included)."""

    def __init__(self, keys: PayloadKeys) -> None:
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    def __repr__(self) -> str:
        return f"EncryptionCodec({self._keys!r})"

    @property
    def current_key_id(self) -> str:
        return self._keys.current_id

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keys.current_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), _associated_data(key_id)
        )
        return Payload(
            metadata={
                ENCODING_METADATA_KEY: ENCRYPTED_ENCODING,
                KEY_ID_METADATA_KEY: key_id.encode(),
            },
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; one that is not encrypted comes back as it is."""
        if payload.metadata.get(ENCODING_METADATA_KEY) != ENCRYPTED_ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA_KEY)
        if raw_id is None:
            raise PayloadDecryptionError(
                f"encrypted payload without the {KEY_ID_METADATA_KEY!r} metadata", key_id=None
            )
        # Ids are at most 64 characters; a longer one is cut before it reaches any message.
        key_id = raw_id[:_MAX_KEY_ID_CHARS].decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownPayloadKey(
                f"payload encrypted with key id {key_id!r}, which is not configured here "
                f"(known: {', '.join(self.key_ids)}); list that key again in PAYLOAD_KEYS "
                "or PAYLOAD_KEY_FILE to read it",
                key_id=key_id,
            )
        data = payload.data
        if len(data) <= NONCE_BYTES:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} is truncated", key_id=key_id
            )
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _associated_data(key_id))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} does not decrypt: the key configured "
                "under that id is not the one it was encrypted with, or the payload was altered",
                key_id=key_id,
            ) from None
        return Payload.FromString(plain)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]


def converter_for(keys: PayloadKeys | None) -> DataConverter:
    """Our pydantic converter, encrypting with ``keys`` (None: no encryption).

    With keys, failure messages and stack traces also travel encrypted (as the failure's
    encoded attributes): an error text may quote what it failed on.
    """
    if keys is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(
    settings: TemporalSettings | PayloadCodecSettings | None = None,
) -> DataConverter:
    """The data converter of every client and worker of the project.

    Keys come from ``settings`` when it carries them (``WorkerSettings``, ``BridgeSettings``,
    ``ClientSettings``), else from the environment (``PAYLOAD_KEYS``, ``PAYLOAD_KEY_FILE``,
    ``PAYLOAD_KEY_ID``). Raises :class:`adapters.codec_keys.PayloadKeyError` when they are
    unusable.
    """
    codec_settings = settings if isinstance(settings, PayloadCodecSettings) else None
    return converter_for(payload_keys_from(codec_settings or PayloadCodecSettings()))


def with_data_converter(client: Client, converter: DataConverter) -> Client:
    """The same connection and namespace as ``client``, with another data converter."""
    config = client.config()
    config["data_converter"] = converter
    return Client(**config)


def describe_encryption(converter: DataConverter) -> str:
    """What a log line or the dev stack says about a converter: never a key."""
    codec = converter.payload_codec
    if isinstance(codec, EncryptionCodec):
        return f"AES-256-GCM, current key {codec.current_key_id!r} of {len(codec.key_ids)}"
    return "off"
