"""Payload encryption keys: read from settings, checked, never shown.

Keys are named: every encrypted payload records the id of the key that encrypted it, so
keys can be rotated. New payloads use the *current* key; every listed key still decrypts
what it once encrypted. Two ways to give them (not both):

- ``PAYLOAD_KEYS=id1:base64key,id2:base64key`` (and ``PAYLOAD_KEY_ID=id2``), or
- ``PAYLOAD_KEY_FILE=path`` to JSON ``{"current": "id2", "keys": {"id1": "...", "id2": "..."}}``
  (or just ``{"id1": "...", "id2": "..."}`` with ``PAYLOAD_KEY_ID``).

Each key is 32 random bytes (AES-256), base64. ``python -m adapters.codec_keys <id>`` prints
a new one. Error messages name settings and key ids, never key material.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.settings import PayloadCodecSettings

KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class PayloadKeyError(ValueError):
    """The key settings are unusable; the message says which setting and key id, not the key."""


@dataclass(frozen=True, repr=False)
class PayloadKeys:
    """Named AES-256 keys and the id of the one that encrypts new payloads."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise PayloadKeyError(
                f"the current key {self.current_id!r} is not among the keys "
                f"({', '.join(sorted(self.keys))})"
            )
        for key_id, key in self.keys.items():
            _check_key_id(key_id, "key id")
            if len(key) != KEY_BYTES:
                raise PayloadKeyError(f"key {key_id!r} is {len(key)} bytes, not {KEY_BYTES}")

    def __repr__(self) -> str:
        return f"PayloadKeys(current={self.current_id!r}, ids={sorted(self.keys)!r})"

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_id]

    def secret_texts(self) -> list[str]:
        """Every text form a key could be written in (for log redaction)."""
        forms: list[str] = []
        for key in self.keys.values():
            standard = base64.b64encode(key).decode()
            urlsafe = base64.urlsafe_b64encode(key).decode()
            forms += [standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("="), key.hex()]
        return forms


def _check_key_id(key_id: str, where: str) -> None:
    if not _KEY_ID.fullmatch(key_id):
        # Not echoed: a key pasted where its id belongs would end up in a log.
        raise PayloadKeyError(
            f"{where}: a key id is 1-64 letters, digits, '.', '_' or '-' "
            f"(got {len(key_id)} characters); is a key where its id should be?"
        )


def decode_key(text: str, key_id: str, where: str) -> bytes:
    """A base64 (standard or URL-safe) AES-256 key; the error names ``key_id``, not the text."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    altchars = b"-_" if ("-" in cleaned or "_" in cleaned) else None
    try:
        key = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadKeyError(f"{where}: key {key_id!r} is not base64") from None
    if len(key) != KEY_BYTES:
        raise PayloadKeyError(
            f"{where}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
        )
    return key


def parse_key_list(text: str, where: str = "PAYLOAD_KEYS") -> dict[str, bytes]:
    """``id1:base64,id2:base64`` into ``{id: key}``."""
    keys: dict[str, bytes] = {}
    for position, item in enumerate(text.split(","), start=1):
        if not item.strip():
            continue
        key_id, sep, encoded = item.strip().partition(":")
        if not sep:
            raise PayloadKeyError(f"{where}: entry {position} is not 'id:base64key'")
        key_id = key_id.strip()
        _check_key_id(key_id, f"{where}, entry {position}")
        if key_id in keys:
            raise PayloadKeyError(f"{where}: key id {key_id!r} is listed twice")
        keys[key_id] = decode_key(encoded, key_id, where)
    return keys


def _check_private(path: Path, where: str) -> None:
    """Refuse a key file that other users may read or change.

    Refused, not warned about: a warning scrolls by, while a key readable by every account
    on the host (or every container sharing the volume) decrypts every stored history.
    """
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise PayloadKeyError(f"{where}: cannot read it ({err.strerror})") from None
    if mode & 0o077:
        raise PayloadKeyError(
            f"{where}: group or other users have access (mode {mode & 0o777:03o}); "
            f"make it readable by the service's user only: chmod 600 {path}"
        )


def _read_key_file(path: Path) -> tuple[dict[str, bytes], str | None]:
    where = f"PAYLOAD_KEY_FILE {path}"
    _check_private(path, where)
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PayloadKeyError(f"{where}: cannot read it ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        # The parser's message may quote the file's text, that is a key: say where only.
        raise PayloadKeyError(f"{where}: not a JSON document") from None
    current: Any = None
    entries: Any = document
    if isinstance(document, dict) and isinstance(document.get("keys"), dict):
        unknown = sorted(set(document) - {"keys", "current", "comment"})
        if unknown:
            raise PayloadKeyError(f"{where}: unknown fields {unknown}")
        entries, current = document["keys"], document.get("current")
        if current is not None and not isinstance(current, str):
            raise PayloadKeyError(f"{where}: 'current' must be a key id")
    if not isinstance(entries, dict):
        raise PayloadKeyError(f"{where}: expected an object of key id -> base64 key")
    keys: dict[str, bytes] = {}
    for key_id, encoded in entries.items():
        _check_key_id(key_id, where)
        if not isinstance(encoded, str):
            raise PayloadKeyError(f"{where}: key {key_id!r} must be a base64 string")
        keys[key_id] = decode_key(encoded, key_id, where)
    return keys, current


def payload_keys_from(settings: PayloadCodecSettings) -> PayloadKeys | None:
    """The keys the settings give, or None when encryption is off (no keys configured)."""
    listed = settings.payload_keys.get_secret_value() if settings.payload_keys else None
    if listed and settings.payload_key_file is not None:
        raise PayloadKeyError("set PAYLOAD_KEYS or PAYLOAD_KEY_FILE, not both")
    file_current: str | None = None
    if settings.payload_key_file is not None:
        keys, file_current = _read_key_file(settings.payload_key_file)
        where = f"PAYLOAD_KEY_FILE {settings.payload_key_file}"
    elif listed:
        keys, where = parse_key_list(listed), "PAYLOAD_KEYS"
    else:
        if settings.payload_key_id:
            raise PayloadKeyError("PAYLOAD_KEY_ID is set, but no PAYLOAD_KEYS or PAYLOAD_KEY_FILE")
        return None
    if not keys:
        raise PayloadKeyError(f"{where}: no keys")
    current = settings.payload_key_id or file_current
    if current is None:
        if len(keys) > 1:
            raise PayloadKeyError(
                f"{where}: several keys ({', '.join(sorted(keys))}); "
                "PAYLOAD_KEY_ID must name the current one"
            )
        (current,) = keys
    if current not in keys:
        raise PayloadKeyError(
            f"PAYLOAD_KEY_ID {current!r} is not among the keys of {where} "
            f"({', '.join(sorted(keys))})"
        )
    return PayloadKeys(current_id=current, keys=keys)


def new_key_text() -> str:
    """A fresh random AES-256 key, base64."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def create_key_file(path: Path, key_id: str) -> None:
    """Write a key file with one new key as the current one, readable by this user only.

    Fails if the file exists: an existing key file is never overwritten (payloads written
    with its keys would become unreadable).
    """
    _check_key_id(key_id, "key id")
    document = {
        "comment": "Payload encryption keys (AES-256, base64). Secret: never commit or share.",
        "current": key_id,
        "keys": {key_id: new_key_text()},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.codec_keys",
        description="Print a new payload key as 'id:base64key', for PAYLOAD_KEYS.",
    )
    parser.add_argument("key_id", help="a name for the key, e.g. 2025-06")
    args = parser.parse_args(argv)
    try:
        _check_key_id(args.key_id, "key id")
    except PayloadKeyError as err:
        raise SystemExit(str(err)) from None
    print(f"{args.key_id}:{new_key_text()}")


if __name__ == "__main__":
    main()
