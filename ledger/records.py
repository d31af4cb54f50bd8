"""Signed records: a versioned envelope, its canonical bytes, Ed25519 signatures.

Envelope (``Record``), as canonical JSON::

    {"v": 1, "type": "shipment", "id": "...", "actor": "<USCC>", "key_id": "<16 hex>",
     "time": "2026-11-23T08:00:00Z", "body": {...}, "supersedes": null}

A ``SignedRecord`` is ``{"record": <envelope>, "signature": "<128 hex>"}``. The signature is
Ed25519 over ``SIGNING_DOMAIN || canonical(envelope)``, so a signature made for a record can
never be mistaken for one over any other lotproof message. The record digest, which the leaf
carries, is SHA-256 of the signed record's canonical bytes.

A key id is the first 8 bytes of SHA-256(``KEY_ID_DOMAIN`` || public key), as 16 hex digits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nacl.exceptions
import nacl.signing
import orjson

from ledger.canonical import JsonValue, check_json_value, encode_checked
from ledger.errors import MalformedInputError, SignatureError
from ledger.leaf import RECORD_TYPES

RECORD_VERSION = 1
SIGNING_DOMAIN = b"lotproof/record/v1\n"
KEY_ID_DOMAIN = b"lotproof/key-id/v1\n"
ENVELOPE_FIELDS = frozenset({"v", "type", "id", "actor", "key_id", "time", "body", "supersedes"})

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_HEX_SIG_RE = re.compile(r"^[0-9a-f]{128}$")


def key_id_for(public_key: bytes) -> str:
    """The key id of an Ed25519 public key."""
    if len(public_key) != 32:
        raise MalformedInputError(f"Ed25519 public key has {len(public_key)} bytes, want 32")
    return hashlib.sha256(KEY_ID_DOMAIN + public_key).digest()[:8].hex()


def new_record_id() -> str:
    """A fresh random record id (128 bits, hex)."""
    return secrets.token_hex(16)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with seconds, e.g. ``2026-11-23T08:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an envelope time; raises ``MalformedInputError`` on any other form."""
    if not isinstance(text, str) or not _TIME_RE.fullmatch(text):
        raise MalformedInputError(f"time must look like 2026-11-23T08:00:00Z, got {text!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise MalformedInputError(f"time {text!r} is not a valid date and time") from e


@dataclass(frozen=True)
class Record:
    """The envelope a participant signs. ``body`` is type-specific, validated by the rules."""

    type: str
    id: str
    actor: str
    key_id: str
    time: str
    body: dict[str, Any]
    supersedes: str | None = None
    v: int = RECORD_VERSION
    _canonical: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.v) is not int or self.v != RECORD_VERSION:
            raise MalformedInputError(f"record version {self.v!r}, want {RECORD_VERSION}")
        if not isinstance(self.type, str) or self.type not in RECORD_TYPES:
            raise MalformedInputError(f"unknown record type {self.type!r}")
        if not isinstance(self.id, str) or not _ID_RE.fullmatch(self.id):
            raise MalformedInputError(f"record id {self.id!r} is not 1-128 of [A-Za-z0-9._:-]")
        if not isinstance(self.actor, str) or not self.actor:
            raise MalformedInputError("record actor must be a non-empty string")
        if not isinstance(self.key_id, str) or not _KEY_ID_RE.fullmatch(self.key_id):
            raise MalformedInputError(f"key id {self.key_id!r} is not 16 lowercase hex digits")
        parse_time(self.time)
        if not isinstance(self.body, dict):
            raise MalformedInputError("record body must be an object")
        check_json_value(self.body, "$.body")
        if self.supersedes is not None and (
            not isinstance(self.supersedes, str) or not _ID_RE.fullmatch(self.supersedes)
        ):
            raise MalformedInputError(f"supersedes {self.supersedes!r} is not a record id")
        # Every field is checked: encode once, here; signatures and digests reuse the bytes.
        object.__setattr__(self, "_canonical", encode_checked(self.to_dict()))

    @property
    def moment(self) -> datetime:
        return parse_time(self.time)

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "v": self.v,
            "type": self.type,
            "id": self.id,
            "actor": self.actor,
            "key_id": self.key_id,
            "time": self.time,
            "body": self.body,
            "supersedes": self.supersedes,
        }

    @classmethod
    def from_dict(cls, data: JsonValue) -> Record:
        if not isinstance(data, dict):
            raise MalformedInputError("record must be an object")
        missing = ENVELOPE_FIELDS - data.keys() - {"supersedes"}
        if missing:
            raise MalformedInputError(f"record is missing {', '.join(sorted(missing))}")
        extra = data.keys() - ENVELOPE_FIELDS
        if extra:
            raise MalformedInputError(f"record has unknown fields {', '.join(sorted(extra))}")
        return cls(
            type=data["type"],
            id=data["id"],
            actor=data["actor"],
            key_id=data["key_id"],
            time=data["time"],
            body=data["body"],
            supersedes=data.get("supersedes"),
            v=data["v"],
        )

    def canonical_bytes(self) -> bytes:
        return self._canonical

    def signing_payload(self) -> bytes:
        return SIGNING_DOMAIN + self._canonical


def signed_canonical(record_canonical: bytes, signature: bytes) -> bytes:
    """Canonical {"record": ..., "signature": ...}: keys sorted, so "record" comes first."""
    return b'{"record":' + record_canonical + b',"signature":"' + signature.hex().encode() + b'"}'


@dataclass(frozen=True)
class SignedRecord:
    """A record and its signer's Ed25519 signature."""

    record: Record
    signature: bytes
    _canonical: bytes = field(default=b"", repr=False, compare=False)
    _digest: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.signature, bytes) or len(self.signature) != 64:
            raise MalformedInputError("signature must be 64 bytes")
        object.__setattr__(
            self, "_canonical", signed_canonical(self.record.canonical_bytes(), self.signature)
        )

    def to_dict(self) -> dict[str, JsonValue]:
        return {"record": self.record.to_dict(), "signature": self.signature.hex()}

    @classmethod
    def from_dict(cls, data: JsonValue) -> SignedRecord:
        if not isinstance(data, dict) or set(data) != {"record", "signature"}:
            raise MalformedInputError("signed record must be {'record': ..., 'signature': ...}")
        sig = data["signature"]
        if not isinstance(sig, str) or not _HEX_SIG_RE.fullmatch(sig):
            raise MalformedInputError("signature must be 128 lowercase hex digits")
        return cls(Record.from_dict(data["record"]), bytes.fromhex(sig))

    @classmethod
    def from_json(cls, data: bytes | str) -> SignedRecord:
        """Parse a signed record; the envelope's checks validate every value once."""
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise MalformedInputError(f"signed record is not valid JSON: {e}") from e
        return cls.from_dict(value)

    def canonical_bytes(self) -> bytes:
        """Canonical bytes of ``{"record": ..., "signature": ...}``."""
        return self._canonical

    def digest(self) -> bytes:
        """SHA-256 of the canonical signed record: what the leaf carries (computed once)."""
        digest = self._digest
        if not digest:
            digest = hashlib.sha256(self._canonical).digest()
            object.__setattr__(self, "_digest", digest)
        return digest

    def set_digest(self, digest: bytes) -> None:
        """Adopt a digest computed elsewhere (``verify_many`` in a worker process); a wrong
        one is refused, so the digest stays what ``digest`` would compute."""
        if self._digest:
            if digest != self._digest:
                raise ValueError("digest differs from the record's")
            return
        object.__setattr__(self, "_digest", digest)


class SigningKey:
    """An Ed25519 signing key (PyNaCl). The 32-byte seed never leaves its owner."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise MalformedInputError(f"Ed25519 seed has {len(seed)} bytes, want 32")
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)
        self.key_id: str = key_id_for(self.public_key)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(secrets.token_bytes(32))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message).signature)


def sign_record(record: Record, key: SigningKey) -> SignedRecord:
    """Sign ``record`` with ``key``; the record's key id must be that key's."""
    if record.key_id != key.key_id:
        raise MalformedInputError(
            f"record names key {record.key_id} but is being signed with key {key.key_id}"
        )
    return SignedRecord(record, key.sign(record.signing_payload()))


def make_record(
    key: SigningKey,
    type: str,
    actor: str,
    body: dict[str, Any],
    *,
    time: str | None = None,
    record_id: str | None = None,
    supersedes: str | None = None,
) -> SignedRecord:
    """Build and sign a record in one step (what a participant's client does)."""
    record = Record(
        type=type,
        id=record_id or new_record_id(),
        actor=actor,
        key_id=key.key_id,
        time=time or format_time(datetime.now(UTC)),
        body=body,
        supersedes=supersedes,
    )
    return sign_record(record, key)


def verify_signature(public_key: bytes, message: bytes, signature: bytes, what: str) -> None:
    """Raise ``SignatureError`` naming ``what`` unless the Ed25519 signature verifies."""
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as e:
        raise SignatureError(f"signature on {what} does not verify") from e


def verify_many(jobs: Sequence[tuple[bytes, bytes, bytes]]) -> list[bytes | None]:
    """Check many (public key, record canonical bytes, signature) triples. For each, the
    signed record's digest (``SignedRecord.digest``) if the signature verifies over
    ``SIGNING_DOMAIN || canonical``, else None. Plain bytes in and out, so a process pool can
    run it (``TradeLedger.preverify``)."""
    out: list[bytes | None] = []
    for public_key, canonical, signature in jobs:
        try:
            nacl.signing.VerifyKey(public_key).verify(SIGNING_DOMAIN + canonical, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            out.append(None)
        else:
            out.append(hashlib.sha256(signed_canonical(canonical, signature)).digest())
    return out


def verify_record(signed: SignedRecord, public_key: bytes) -> None:
    """Raise ``SignatureError`` unless ``signed`` carries a valid signature by ``public_key``."""
    record = signed.record
    if key_id_for(public_key) != record.key_id:
        raise SignatureError(
            f"record {record.id} names key {record.key_id}, "
            f"but the key given is {key_id_for(public_key)}"
        )
    verify_signature(
        public_key,
        record.signing_payload(),
        signed.signature,
        f"{record.type} record {record.id} by {record.actor} (key {record.key_id})",
    )
