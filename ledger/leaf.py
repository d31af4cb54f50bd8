"""Leaf bytes: a fixed ABI-encoded header the EVM can read, plus the record digest.

A leaf is nine 32-byte ABI words (288 bytes), exactly ``abi.encode`` of::

    (uint256 version, uint256 kind, uint256 chainId, address escrow, bytes32 orderId,
     address buyer, address seller, uint256 amount, bytes32 recordDigest)

``recordDigest`` is SHA-256 of the signed record's canonical bytes. The chain fields are zero
except on leaves the chain acts on: an acceptance leaf binds the chain id, the escrow
contract, the order id, buyer, seller and the amount due to the seller, so its inclusion
proof releases that escrow and no other. The log hashes the leaf as SHA-256(0x00 || leaf).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ledger.errors import MalformedInputError

LEAF_VERSION = 1
WORD = 32
LEAF_SIZE = 9 * WORD
ZERO_ADDRESS = bytes(20)
ZERO_WORD = bytes(32)


class LeafKind(IntEnum):
    """The record type a leaf carries; the number is part of the leaf bytes."""

    ENROLMENT = 1
    KEY_ROTATION = 2
    KEY_REVOCATION = 3
    QUALIFICATION = 4
    PRODUCT = 5
    BATCH = 6
    ORDER = 7
    INVOICE = 8
    SHIPMENT = 9
    ACCEPTANCE = 10
    RETURN = 11
    RECALL = 12
    DISPUTE = 13
    DISPUTE_RESOLUTION = 14
    CORRECTION = 15

    @property
    def record_type(self) -> str:
        """The envelope's ``type`` for this kind, e.g. ``key_rotation``."""
        return self.name.lower()

    @classmethod
    def for_record_type(cls, record_type: str) -> LeafKind:
        try:
            return cls[record_type.upper()]
        except KeyError:
            raise MalformedInputError(f"unknown record type {record_type!r}") from None


RECORD_TYPES = frozenset(kind.record_type for kind in LeafKind)


@dataclass(frozen=True)
class LeafHeader:
    """The chain-readable fields of a leaf. Addresses are 20 bytes, ``order_id`` 32."""

    kind: LeafKind
    chain_id: int = 0
    escrow: bytes = ZERO_ADDRESS
    order_id: bytes = ZERO_WORD
    buyer: bytes = ZERO_ADDRESS
    seller: bytes = ZERO_ADDRESS
    amount: int = 0

    def __post_init__(self) -> None:
        for name in ("escrow", "buyer", "seller"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 20:
                raise MalformedInputError(f"leaf {name} must be a 20-byte address")
        if not isinstance(self.order_id, bytes) or len(self.order_id) != 32:
            raise MalformedInputError("leaf order_id must be 32 bytes")
        for name in ("chain_id", "amount"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
                raise MalformedInputError(f"leaf {name} must be an unsigned 256-bit integer")


def _uint(value: int) -> bytes:
    return value.to_bytes(WORD, "big")


def _address(value: bytes) -> bytes:
    return bytes(12) + value


def _header_bytes(header: LeafHeader) -> bytes:
    return b"".join(
        (
            _uint(LEAF_VERSION),
            _uint(int(header.kind)),
            _uint(header.chain_id),
            _address(header.escrow),
            header.order_id,
            _address(header.buyer),
            _address(header.seller),
            _uint(header.amount),
        )
    )


PLAIN_HEADERS: dict[LeafKind, LeafHeader] = {kind: LeafHeader(kind) for kind in LeafKind}
"""The header of each kind with every chain field zero (all leaves but escrow acceptances)."""
_PLAIN_BYTES: dict[LeafHeader, bytes] = {h: _header_bytes(h) for h in PLAIN_HEADERS.values()}


def encode_leaf(header: LeafHeader, record_digest: bytes) -> bytes:
    """The 288 leaf bytes for a record with this header and digest."""
    if not isinstance(record_digest, bytes) or len(record_digest) != 32:
        raise MalformedInputError("record digest must be 32 bytes")
    prefix = _PLAIN_BYTES.get(header)
    return (prefix if prefix is not None else _header_bytes(header)) + record_digest


def decode_leaf(leaf: bytes) -> tuple[LeafHeader, bytes]:
    """Parse leaf bytes strictly; returns the header and the record digest."""
    if len(leaf) != LEAF_SIZE:
        raise MalformedInputError(f"leaf has {len(leaf)} bytes, want {LEAF_SIZE}")
    words = [leaf[i : i + WORD] for i in range(0, LEAF_SIZE, WORD)]
    version = int.from_bytes(words[0], "big")
    if version != LEAF_VERSION:
        raise MalformedInputError(f"leaf version {version}, want {LEAF_VERSION}")
    kind_number = int.from_bytes(words[1], "big")
    try:
        kind = LeafKind(kind_number)
    except ValueError:
        raise MalformedInputError(f"unknown leaf kind {kind_number}") from None
    addresses = {}
    for name, word in (("escrow", words[3]), ("buyer", words[5]), ("seller", words[6])):
        if word[:12] != bytes(12):
            raise MalformedInputError(f"leaf {name} word has non-zero padding")
        addresses[name] = word[12:]
    header = LeafHeader(
        kind=kind,
        chain_id=int.from_bytes(words[2], "big"),
        escrow=addresses["escrow"],
        order_id=words[4],
        buyer=addresses["buyer"],
        seller=addresses["seller"],
        amount=int.from_bytes(words[7], "big"),
    )
    return header, words[8]
