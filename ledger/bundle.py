"""Proof bundles: the records a query returned, with everything needed to verify them offline.

The format (version 2) is specified byte by byte in ``docs/bundle.md``; this module is its
reference builder and verifier. It is pure: JSON bytes or dicts in, a ``Bundle`` or a
``BundleReport`` out. Looking an anchor up on chain is the caller's business (the auditor
CLI does it with ``anchors``); here the anchor is only checked for consistency with the
checkpoint.

Every entry is proven included in the checkpoint's tree by one shared proof (a multiproof):
the hashes of the maximal subtrees that hold no entry, in the order a left-to-right walk of
the RFC 9162 tree meets them (``proof_ranges``, ``root_from_multiproof``). Paths of entries
that are close in the log share most of their nodes, so the proof is far smaller than one
inclusion path per entry, and checking it hashes each shared node once. A full entry's leaf
is sent only when it is not the plain leaf of its record (``plain_leaf``), that is when it
carries escrow fields.

``check_bundle`` runs every check and returns a report listing each one (a malformed bundle
raises ``MalformedInputError`` before any check); ``verify_bundle`` raises
``BundleVerificationError`` (carrying the report) unless every check passed.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from ledger.canonical import INT_MAX, JsonValue, canonical_bytes, parse_json
from ledger.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, parse_note
from ledger.errors import (
    HashLengthError,
    IndexRangeError,
    LedgerError,
    MalformedInputError,
    ProofSizeError,
    RootMismatchError,
    VerificationError,
)
from ledger.gcpause import gc_paused
from ledger.leaf import LEAF_SIZE, RECORD_TYPES, LeafHeader, LeafKind, decode_leaf, encode_leaf
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    NodeReader,
    fold_right,
    hash_leaf,
    range_nodes,
    verify_consistency,
)
from ledger.records import SignedRecord, key_id_for, parse_time, verify_record
from ledger.trade import bodies, codes
from ledger.trade.rules import ADMIN, CHINA_STANDARD_TIME, SELF, WRITERS

BUNDLE_FORMAT = "lotproof-bundle"
BUNDLE_VERSION = 2
MAX_BUNDLE_BYTES = 512 << 20
MAX_ENTRIES = 2_000_000
MAX_PATH = 64
MAX_PROOF = MAX_ENTRIES * MAX_PATH
TRACE_DIRECTIONS = frozenset({"forward", "reverse"})

PUBLIC_REDACTED_TYPES = frozenset(
    {"order", "invoice", "acceptance", "dispute", "dispute_resolution", "return", "correction"}
)
"""Record types the public view replaces by their leaf hash: they carry prices, amounts
(an acceptance leaf carries the amount due), or commercial terms."""

_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
_sha256 = hashlib.sha256

# The first 256 bytes of the plain leaf of each record type: version 1, the type's kind, and
# zero chain fields; the record digest follows.
_PLAIN_PREFIX = {
    t: encode_leaf(LeafHeader(LeafKind.for_record_type(t)), bytes(32))[: LEAF_SIZE - 32]
    for t in RECORD_TYPES
}


def plain_leaf(record: SignedRecord) -> bytes:
    """The leaf of a record without escrow fields: version 1, the kind of its type, zero
    chain fields, its record digest (docs/bundle.md §4.1)."""
    return _PLAIN_PREFIX[record.record.type] + record.digest()


def is_plain_leaf(leaf: bytes, record_type: str, record_digest: bytes) -> bool:
    """Whether ``leaf`` is the plain leaf of a record of this type and digest."""
    prefix = _PLAIN_PREFIX.get(record_type)
    return prefix is not None and leaf == prefix + record_digest


class BundleVerificationError(VerificationError):
    """A bundle that failed at least one check; ``report`` lists them all."""

    def __init__(self, report: BundleReport) -> None:
        failures = report.failures
        first = failures[0] if failures else None
        summary = f"{len(failures)} check(s) failed" + (
            f"; first: {first.check} {first.subject}: {first.detail}" if first else ""
        )
        super().__init__(summary)
        self.report = report


# --- the shared inclusion proof -----------------------------------------------------------------


def proof_ranges(indices: Sequence[int], size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[lo, hi)`` whose subtree hashes prove ``indices`` (sorted, unique,
    each below ``size``) in the RFC 9162 tree of ``size`` leaves, in proof order.

    Walk the tree from the root, left subtree before right; a subtree that holds none of
    the indices is not entered: its range is the next proof element. Every range is a node of
    the tree: a perfect aligned subtree, or a right-edge range ``[lo, size)``.
    """
    out: list[tuple[int, int]] = []
    n = len(indices)
    if not n:
        return out
    if indices[-1] >= size or indices[0] < 0:
        raise IndexRangeError(f"leaf indices must be in 0..{size - 1}")
    if any(a >= b for a, b in itertools.pairwise(indices)):
        raise MalformedInputError("leaf indices must be sorted and unique")
    append = out.append

    def walk(lo: int, hi: int, p: int) -> int:
        # p: position in indices of the first index >= lo; returns the first index >= hi.
        if p == n or indices[p] >= hi:
            append((lo, hi))
            return p
        if hi - lo == 1:
            return p + 1
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        return walk(mid, hi, walk(lo, mid, p))

    walk(0, size, 0)
    return out


def inclusion_multiproof(reader: NodeReader, indices: Sequence[int], size: int) -> list[bytes]:
    """The shared inclusion proof of ``indices`` (sorted, unique) in the tree of ``size``
    leaves, reading every perfect subtree it needs with one ``read_nodes`` call."""
    ranges = proof_ranges(indices, size)
    plans = [_range_plan(lo, hi) for lo, hi in ranges]
    nodes = reader.read_nodes({n for plan in plans for n in plan})
    return [
        nodes[plan[0]] if len(plan) == 1 else fold_right([nodes[n] for n in plan]) for plan in plans
    ]


@functools.lru_cache(maxsize=4096)
def _range_plan(lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    return tuple(range_nodes(lo, hi))


def root_from_multiproof(
    size: int, leaves: Sequence[tuple[int, bytes]], proof: Sequence[bytes]
) -> bytes:
    """The root that ``leaves`` ((index, leaf hash), sorted by index, unique, at least one)
    and the shared ``proof`` give for the tree of ``size`` leaves (docs/bundle.md §4.3).

    Raises ``IndexRangeError`` for an index outside the tree and ``ProofSizeError`` unless the
    proof has exactly the number of hashes the indices and size imply.
    """
    n = len(leaves)
    if not n:
        raise IndexRangeError("a shared inclusion proof needs at least one leaf")
    indices = [i for i, _ in leaves]
    for i in (indices[0], indices[-1]):
        if not 0 <= i < size:
            raise IndexRangeError(f"leaf index {i} is outside the tree of size {size}")
    for a, b in itertools.pairwise(indices):
        if a >= b:
            raise MalformedInputError(f"leaf indices must be sorted and unique ({a}, {b})")
    hashes = [h for _, h in leaves]
    for what, values in (("leaf hash", hashes), ("proof hash", proof)):
        bad = next((h for h in values if len(h) != HASH_SIZE), None)
        if bad is not None:
            raise HashLengthError(what, len(bad))
    nproof = len(proof)
    used = 0
    filler = bytes(32)
    node_prefix = b"\x01"

    def walk(lo: int, hi: int, p: int) -> tuple[bytes, int]:
        nonlocal used
        if p == n or indices[p] >= hi:
            used += 1
            return (proof[used - 1] if used <= nproof else filler), p
        if hi - lo == 1:
            return hashes[p], p + 1
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        left, p = walk(lo, mid, p)
        right, p = walk(mid, hi, p)
        return _sha256(node_prefix + left + right).digest(), p

    root, _ = walk(0, size, 0)
    if used != nproof:
        raise ProofSizeError(nproof, used)
    return root


def verify_multiproof(
    size: int, leaves: Sequence[tuple[int, bytes]], proof: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``proof`` proves every (index, leaf hash) in the tree of ``size`` and
    ``root`` (``RootMismatchError`` when the hashes do not reproduce the root)."""
    calculated = root_from_multiproof(size, leaves, proof)
    if calculated != root:
        raise RootMismatchError(root, calculated)


# --- model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One log entry: full (signed record, and its leaf bytes) or redacted (leaf hash only).

    A full entry built without ``leaf`` gets the plain leaf of its record (``plain_leaf``);
    ``leaf_derived`` says so (it is set here only, never by a caller: the leaf check trusts it).
    """

    leaf_index: int
    leaf: bytes | None = None
    record: SignedRecord | None = None
    redacted_leaf_hash: bytes | None = None
    redacted_type: str | None = None
    leaf_derived: bool = field(default=False, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.record is not None and self.redacted_leaf_hash is None:
            if self.leaf is None:
                object.__setattr__(self, "leaf", plain_leaf(self.record))
                object.__setattr__(self, "leaf_derived", True)
            return
        if self.record is None and self.leaf is None and self.redacted_leaf_hash is not None:
            return
        raise MalformedInputError(
            f"entry {self.leaf_index} must have a record (and maybe its leaf), or leaf_hash only"
        )

    @property
    def redacted(self) -> bool:
        return self.redacted_leaf_hash is not None

    @functools.cached_property
    def leaf_hash(self) -> bytes:
        if self.redacted_leaf_hash is not None:
            return self.redacted_leaf_hash
        assert self.leaf is not None
        return hash_leaf(self.leaf)

    @property
    def type(self) -> str | None:
        """The record type (for a redacted entry: the builder's unverified hint)."""
        return self.record.record.type if self.record is not None else self.redacted_type

    def redact(self) -> Entry:
        """The leaf-hash-only form of this entry."""
        if self.redacted:
            return self
        return Entry(self.leaf_index, redacted_leaf_hash=self.leaf_hash, redacted_type=self.type)

    def to_dict(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"leaf_index": self.leaf_index}
        if self.redacted:
            assert self.redacted_leaf_hash is not None
            out["leaf_hash"] = self.redacted_leaf_hash.hex()
            out["redacted"] = self.redacted_type or True
            return out
        assert self.leaf is not None and self.record is not None
        if not self.leaf_derived and self.leaf != plain_leaf(self.record):
            out["leaf"] = self.leaf.hex()
        out["record"] = self.record.to_dict()
        return out


@dataclass(frozen=True)
class Link:
    """A trace edge: entry ``source`` leads to entry ``target`` (leaf indices)."""

    source: int
    target: int


@dataclass(frozen=True)
class Trace:
    direction: str
    start: int
    links: tuple[Link, ...]

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "direction": self.direction,
            "start": self.start,
            "links": [{"from": link.source, "to": link.target} for link in self.links],
        }


@dataclass(frozen=True)
class AnchorRef:
    """Where a checkpoint of the log is anchored on chain."""

    chain_id: int
    registry: bytes
    tx_hash: bytes
    block_number: int
    tree_size: int
    root_hash: bytes
    consistency_path: tuple[bytes, ...] = ()

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "chain_id": self.chain_id,
            "registry": "0x" + self.registry.hex(),
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "consistency_path": [h.hex() for h in self.consistency_path],
        }


@dataclass(frozen=True)
class AdminKey:
    """A consortium admin key (the ledger's trust root for enrolments), keyed by key id."""

    uscc: str
    public_key: bytes


@dataclass(frozen=True)
class Bundle:
    checkpoint: str
    entries: tuple[Entry, ...]
    signers: Mapping[str, int]
    inclusion_proof: tuple[bytes, ...] = ()
    trace: Trace | None = None
    anchor: AnchorRef | None = None
    query: Mapping[str, JsonValue] = field(default_factory=dict)
    admins: Mapping[str, AdminKey] = field(default_factory=dict)

    def entry(self, leaf_index: int) -> Entry | None:
        return self._by_index.get(leaf_index)

    @property
    def _by_index(self) -> dict[int, Entry]:
        cached: dict[int, Entry] | None = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {e.leaf_index: e for e in self.entries}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "query": dict(self.query),
            "checkpoint": self.checkpoint,
            "entries": [e.to_dict() for e in self.entries],
            "inclusion_proof": [h.hex() for h in self.inclusion_proof],
            "signers": dict(sorted(self.signers.items())),
            "admins": {
                k: {"uscc": a.uscc, "public_key": a.public_key.hex()}
                for k, a in sorted(self.admins.items())
            },
            "trace": self.trace.to_dict() if self.trace is not None else None,
            "anchor": self.anchor.to_dict() if self.anchor is not None else None,
        }

    def to_json(self) -> bytes:
        """Canonical JSON bytes of the bundle."""
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> Bundle:
        try:
            size = len(data.encode("utf-8") if isinstance(data, str) else data)
        except UnicodeEncodeError as exc:  # a lone surrogate: no JSON text carries one
            raise MalformedInputError(f"bundle text is not valid UTF-8: {exc.reason}") from None
        if size > MAX_BUNDLE_BYTES:
            raise MalformedInputError(f"bundle has {size} bytes, at most {MAX_BUNDLE_BYTES}")
        with gc_paused():
            return _parse_bundle(parse_json(data, "bundle"))

    @classmethod
    def from_dict(cls, data: JsonValue) -> Bundle:
        with gc_paused():
            return _parse_bundle(data)


def checkpoint_size(note: str) -> int:
    """The tree size a signed checkpoint note states (its signatures are not checked)."""
    text, _ = parse_note(note)
    return Checkpoint.from_body(text).size


def build_bundle(
    *,
    checkpoint: str,
    entries: Iterable[Entry],
    signers: Mapping[str, int],
    tree: NodeReader,
    trace: Trace | None = None,
    anchor: AnchorRef | None = None,
    query: Mapping[str, JsonValue] | None = None,
    redact_types: Iterable[str] = (),
    admins: Mapping[str, bytes] | None = None,
    recheck: bool = True,
) -> Bundle:
    """Assemble a bundle: entries sorted by leaf index (duplicates merged), redacting
    entries whose record type is in ``redact_types``, with their shared inclusion proof in the
    checkpoint's tree read from ``tree``. ``admins`` maps each consortium admin's USCC to its
    Ed25519 public key (only those that signed an entry are kept)."""
    hidden = frozenset(redact_types)
    unique: dict[int, Entry] = {}
    for given in entries:
        entry = given.redact() if given.type in hidden else given
        unique.setdefault(entry.leaf_index, entry)
    ordered = tuple(unique[i] for i in sorted(unique))
    size = checkpoint_size(checkpoint)
    proof = inclusion_multiproof(tree, [e.leaf_index for e in ordered], size)
    bundle = Bundle(
        checkpoint=checkpoint,
        entries=ordered,
        signers=dict(signers),
        inclusion_proof=tuple(proof),
        trace=trace,
        anchor=anchor,
        query=dict(query or {}),
        admins=_used_admins(ordered, admins or {}),
    )
    if not recheck:
        return bundle
    # Round-trip through the parser so a builder bug cannot emit a malformed bundle.
    return Bundle.from_dict(bundle.to_dict())


def _used_admins(entries: Sequence[Entry], admins: Mapping[str, bytes]) -> dict[str, AdminKey]:
    by_key = {key_id_for(k): AdminKey(uscc, k) for uscc, k in admins.items()}
    used = {e.record.record.key_id for e in entries if e.record is not None}
    return {k: v for k, v in by_key.items() if k in used}


# --- parsing ------------------------------------------------------------------------------------


def _obj(
    value: JsonValue,
    where: str,
    required: set[str] | frozenset[str],
    optional: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedInputError(f"{where} must be an object, got {type(value).__name__}")
    missing = required - value.keys()
    if missing:
        raise MalformedInputError(f"{where} is missing {', '.join(sorted(missing))}")
    extra = value.keys() - required - optional
    if extra:
        raise MalformedInputError(f"{where} has unknown fields {', '.join(sorted(extra))}")
    return value


def _uint(value: JsonValue, where: str, maximum: int = INT_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise MalformedInputError(f"{where} must be an integer in 0..{maximum}, got {value!r}")
    return value


_HEX_DIGITS = "0123456789abcdef"


def _is_hex(value: str, length: int) -> bool:
    """Exactly ``length`` lowercase hex digits (str.strip is C-fast, unlike a regex)."""
    return len(value) == length and not value.strip(_HEX_DIGITS)


def _hash(value: JsonValue, where: str) -> bytes:
    if not isinstance(value, str) or not _is_hex(value, 64):
        raise MalformedInputError(f"{where} must be 64 lowercase hex digits, got {value!r:.80}")
    return bytes.fromhex(value)


def _hashes(value: JsonValue, where: str, limit: int) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > limit:
        raise MalformedInputError(f"{where} must be a list of at most {limit} hashes")
    if all(type(v) is str and len(v) == 64 for v in value):
        joined = "".join(value)
        if not joined.strip(_HEX_DIGITS):
            raw = bytes.fromhex(joined)
            return tuple(raw[i : i + 32] for i in range(0, len(raw), 32))
    return tuple(_hash(v, f"{where}[{i}]") for i, v in enumerate(value))


def _prefixed_hex(value: JsonValue, where: str, size: int) -> bytes:
    if (
        not isinstance(value, str)
        or not value.startswith("0x")
        or len(value) != 2 + 2 * size
        or not re.fullmatch(r"[0-9a-f]*", value[2:])
    ):
        raise MalformedInputError(
            f"{where} must be 0x and {2 * size} lowercase hex digits, got {value!r:.80}"
        )
    return bytes.fromhex(value[2:])


_FULL_REQUIRED = frozenset({"leaf_index", "record"})
_FULL_OPTIONAL = frozenset({"leaf"})
_REDACTED_REQUIRED = frozenset({"leaf_index", "leaf_hash", "redacted"})


def _parse_entry(value: JsonValue, where: str) -> Entry:
    if isinstance(value, dict) and "leaf_hash" in value:
        d = _obj(value, where, _REDACTED_REQUIRED)
        hint = d["redacted"]
        if hint is not True and (not isinstance(hint, str) or hint not in bodies.BODY_TYPES):
            raise MalformedInputError(f"{where}.redacted must be true or a record type")
        return Entry(
            leaf_index=_uint(d["leaf_index"], f"{where}.leaf_index"),
            redacted_leaf_hash=_hash(d["leaf_hash"], f"{where}.leaf_hash"),
            redacted_type=hint if isinstance(hint, str) else None,
        )
    d = _obj(value, where, _FULL_REQUIRED, _FULL_OPTIONAL)
    leaf = None
    leaf_hex = d.get("leaf")
    if leaf_hex is not None or "leaf" in d:
        if not isinstance(leaf_hex, str) or not _is_hex(leaf_hex, 2 * LEAF_SIZE):
            raise MalformedInputError(f"{where}.leaf must be {2 * LEAF_SIZE} lowercase hex digits")
        leaf = bytes.fromhex(leaf_hex)
    index = _uint(d["leaf_index"], f"{where}.leaf_index")
    try:
        record = SignedRecord.from_dict(d["record"])
    except MalformedInputError as e:
        raise MalformedInputError(f"{where}.record: {e}") from None
    return Entry(leaf_index=index, leaf=leaf, record=record)


def _parse_bundle(data: JsonValue) -> Bundle:
    if isinstance(data, dict) and data.get("version") != BUNDLE_VERSION:
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version < BUNDLE_VERSION:
            raise MalformedInputError(
                f"bundle version {version} is no longer read: this verifier reads version"
                f" {BUNDLE_VERSION}; ask the ledger for the bundle again"
            )
    d = _obj(
        data,
        "bundle",
        {"format", "version", "checkpoint", "entries", "inclusion_proof", "signers"},
        {"query", "trace", "anchor", "admins"},
    )
    if d["format"] != BUNDLE_FORMAT:
        raise MalformedInputError(f"bundle format is {d['format']!r}, want {BUNDLE_FORMAT!r}")
    if d["version"] != BUNDLE_VERSION:
        raise MalformedInputError(f"bundle version is {d['version']!r}, want {BUNDLE_VERSION}")
    note = d["checkpoint"]
    if not isinstance(note, str):
        raise MalformedInputError("bundle.checkpoint must be the signed note text")
    parse_note(note)
    raw_entries = d["entries"]
    if not isinstance(raw_entries, list) or len(raw_entries) > MAX_ENTRIES:
        raise MalformedInputError(f"bundle.entries must be a list of at most {MAX_ENTRIES}")
    entries = tuple(_parse_entry(v, f"entries[{i}]") for i, v in enumerate(raw_entries))
    for i in range(1, len(entries)):
        if entries[i].leaf_index <= entries[i - 1].leaf_index:
            raise MalformedInputError(
                f"entries[{i}].leaf_index {entries[i].leaf_index} is not greater than the one"
                f" before ({entries[i - 1].leaf_index}): entries are sorted and unique"
            )
    proof = _hashes(d["inclusion_proof"], "bundle.inclusion_proof", MAX_PROOF)
    indices = {e.leaf_index for e in entries}
    raw_signers = d["signers"]
    if not isinstance(raw_signers, dict):
        raise MalformedInputError("bundle.signers must be an object {key_id: leaf_index}")
    signers: dict[str, int] = {}
    for key_id, index in raw_signers.items():
        if not re.fullmatch(r"[0-9a-f]{16}", key_id):
            raise MalformedInputError(f"bundle.signers key {key_id!r:.40} is not a key id")
        signers[key_id] = _uint(index, f"bundle.signers.{key_id}")
        if signers[key_id] not in indices:
            raise MalformedInputError(
                f"bundle.signers.{key_id} names entry {index}, which the bundle does not hold"
            )
    admins: dict[str, AdminKey] = {}
    raw_admins = d.get("admins")
    raw_admins = {} if raw_admins is None else raw_admins
    if not isinstance(raw_admins, dict):
        raise MalformedInputError("bundle.admins must be an object {key_id: {uscc, public_key}}")
    for key_id, raw in raw_admins.items():
        where = f"bundle.admins.{key_id[:16]}"
        a = _obj(raw, where, {"uscc", "public_key"})
        if not isinstance(a["uscc"], str) or not a["uscc"]:
            raise MalformedInputError(f"{where}.uscc must be a non-empty string")
        public = _hash(a["public_key"], f"{where}.public_key")
        if key_id_for(public) != key_id:
            raise MalformedInputError(
                f"{where} is the id of key {key_id_for(public)}, not of the key given"
            )
        admins[key_id] = AdminKey(a["uscc"], public)
    trace = None
    if d.get("trace") is not None:
        t = _obj(d["trace"], "bundle.trace", {"direction", "start", "links"})
        if not isinstance(t["direction"], str) or t["direction"] not in TRACE_DIRECTIONS:
            raise MalformedInputError(
                f"bundle.trace.direction must be forward or reverse, got {t['direction']!r:.40}"
            )
        start = _uint(t["start"], "bundle.trace.start")
        if start not in indices:
            raise MalformedInputError(f"bundle.trace.start {start} is not an entry of the bundle")
        if not isinstance(t["links"], list) or len(t["links"]) > 4 * MAX_ENTRIES:
            raise MalformedInputError("bundle.trace.links must be a list")
        links = []
        for i, raw in enumerate(t["links"]):
            where = f"bundle.trace.links[{i}]"
            link = _obj(raw, where, {"from", "to"})
            source, target = _uint(link["from"], f"{where}.from"), _uint(link["to"], f"{where}.to")
            for name, index in (("from", source), ("to", target)):
                if index not in indices:
                    raise MalformedInputError(f"{where}.{name} {index} is not an entry")
            links.append(Link(source, target))
        trace = Trace(t["direction"], start, tuple(links))
    anchor = None
    if d.get("anchor") is not None:
        a = _obj(
            d["anchor"],
            "bundle.anchor",
            {
                "chain_id",
                "registry",
                "tx_hash",
                "block_number",
                "tree_size",
                "root_hash",
                "consistency_path",
            },
        )
        anchor = AnchorRef(
            chain_id=_uint(a["chain_id"], "bundle.anchor.chain_id", 2**256 - 1),
            registry=_prefixed_hex(a["registry"], "bundle.anchor.registry", 20),
            tx_hash=_prefixed_hex(a["tx_hash"], "bundle.anchor.tx_hash", 32),
            block_number=_uint(a["block_number"], "bundle.anchor.block_number"),
            tree_size=_uint(a["tree_size"], "bundle.anchor.tree_size"),
            root_hash=_hash(a["root_hash"], "bundle.anchor.root_hash"),
            consistency_path=_hashes(
                a["consistency_path"], "bundle.anchor.consistency_path", MAX_PATH
            ),
        )
    query = d.get("query")
    query = {} if query is None else query
    if not isinstance(query, dict):
        raise MalformedInputError("bundle.query must be an object")
    return Bundle(
        checkpoint=note,
        entries=entries,
        signers=signers,
        inclusion_proof=proof,
        trace=trace,
        anchor=anchor,
        query=query,
        admins=admins,
    )


# --- checking -----------------------------------------------------------------------------------


class Finding(NamedTuple):
    """One check's outcome. ``check`` is the kind of check, ``subject`` what it was about."""

    check: str
    subject: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, JsonValue]:
        return {"check": self.check, "subject": self.subject, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class BundleReport:
    checkpoint: Checkpoint | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def counts(self) -> dict[str, tuple[int, int]]:
        """For each check kind: (passed, failed)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for f in self.findings:
            out[f.check][0 if f.ok else 1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def to_dict(self) -> dict[str, JsonValue]:
        cp = self.checkpoint
        return {
            "ok": self.ok,
            "checkpoint": (
                {"origin": cp.origin, "size": cp.size, "root_hash": cp.root.hex()}
                if cp is not None
                else None
            ),
            "counts": {
                k: {"passed": p, "failed": f} for k, (p, f) in sorted(self.counts().items())
            },
            "failures": [f.to_dict() for f in self.failures],
            "findings": [f.to_dict() for f in self.findings],
        }


_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


def record_day(time_text: str) -> date:
    """The calendar day a record counts for: its time's date in China Standard Time
    (UTC+8), as the trade's rules judge licences."""
    if _TIME.fullmatch(time_text):
        try:
            moment = datetime.fromisoformat(time_text)  # C-fast; strptime is 20x slower
        except ValueError:
            pass
        else:
            return moment.astimezone(CHINA_STANDARD_TIME).date()
    return parse_time(time_text).astimezone(CHINA_STANDARD_TIME).date()  # the named error


class _Checker:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.findings: list[Finding] = []
        self.subjects: dict[int, str] = {}
        self.bodies: dict[int, Any] = {}
        self.enrolments: dict[str, bodies.Enrolment] = {}
        self.party_index: PartyIndex | None = None
        self.by_record_id: dict[str, Entry] = {}
        for e in bundle.entries:
            if e.record is not None:
                self.by_record_id[e.record.record.id] = e

    def add(self, check: str, subject: str, ok: bool, detail: str = "") -> bool:
        self.findings.append(Finding(check, subject, ok, detail))
        return ok

    def fail(self, check: str, subject: str, error: Exception | str) -> bool:
        return self.add(check, subject, False, str(error))

    def subject(self, e: Entry) -> str:
        found = self.subjects.get(e.leaf_index)
        if found is None:
            found = self.subjects[e.leaf_index] = _subject(e)
        return found

    def body(self, e: Entry) -> Any:
        """The parsed body of a full entry, or None (reported once) if it is malformed."""
        if e.leaf_index not in self.bodies:
            assert e.record is not None
            try:
                self.bodies[e.leaf_index] = bodies.parse_body(
                    e.record.record.type, e.record.record.body
                )
            except MalformedInputError as exc:
                self.fail("body", self.subject(e), exc)
                self.bodies[e.leaf_index] = None
        return self.bodies[e.leaf_index]


def _subject(e: Entry) -> str:
    if e.record is not None:
        r = e.record.record
        return f"#{e.leaf_index} {r.type} {r.id}"
    return f"#{e.leaf_index} redacted {e.redacted_type or ''}".rstrip()


def check_bundle(
    bundle: Bundle,
    verifiers: Sequence[NoteVerifier],
    *,
    origin: str | None = None,
    admin_keys: Mapping[str, bytes] | None = None,
) -> BundleReport:
    """Run every check on ``bundle`` and report each one.

    ``verifiers`` are the log's trusted checkpoint keys. ``admin_keys`` (USCC -> Ed25519 public
    key), if given, pins the consortium admin keys that sign enrolments: every admin key the
    bundle names must be one of them. Without it the bundle's own ``admins`` are used, and the
    report says so (check ``admins``).
    """
    with gc_paused():
        return _check_bundle(bundle, verifiers, origin, admin_keys)


def _check_bundle(
    bundle: Bundle,
    verifiers: Sequence[NoteVerifier],
    origin: str | None,
    admin_keys: Mapping[str, bytes] | None,
) -> BundleReport:
    c = _Checker(bundle)
    checkpoint = _check_checkpoint(c, bundle, verifiers, origin)
    _check_inclusion(c, bundle, checkpoint)
    for e in bundle.entries:
        _check_leaf(c, e)
    _check_admins(c, bundle, admin_keys)
    _check_signers(c, bundle)
    if bundle.trace is not None:
        _check_trace(c, bundle, bundle.trace)
    if bundle.anchor is not None and checkpoint is not None:
        _check_anchor(c, bundle.anchor, checkpoint)
    return BundleReport(checkpoint, tuple(c.findings))


def verify_bundle(
    bundle: Bundle,
    verifiers: Sequence[NoteVerifier],
    *,
    origin: str | None = None,
    admin_keys: Mapping[str, bytes] | None = None,
) -> None:
    """Raise ``BundleVerificationError`` unless every check of ``check_bundle`` passes."""
    report = check_bundle(bundle, verifiers, origin=origin, admin_keys=admin_keys)
    if not report.ok:
        raise BundleVerificationError(report)


def _check_checkpoint(
    c: _Checker, bundle: Bundle, verifiers: Sequence[NoteVerifier], origin: str | None
) -> Checkpoint | None:
    try:
        opened = open_checkpoint(bundle.checkpoint, verifiers, origin)
    except LedgerError as e:
        c.fail("checkpoint", "signed note", e)
        # Keep checking against the (unverified) body so the report is complete.
        try:
            text, _ = parse_note(bundle.checkpoint)
            return Checkpoint.from_body(text)
        except MalformedInputError:
            return None
    cp = opened.checkpoint
    c.add(
        "checkpoint",
        f"{cp.origin} size {cp.size}",
        True,
        f"signed by {', '.join(opened.verified_by)}",
    )
    return cp


def _check_inclusion(c: _Checker, bundle: Bundle, cp: Checkpoint | None) -> None:
    """Every entry against the checkpoint's tree, with the one shared proof (§4.3)."""
    if not bundle.entries:
        if bundle.inclusion_proof:
            c.fail("inclusion", "inclusion_proof", ProofSizeError(len(bundle.inclusion_proof), 0))
        return
    if cp is None:
        c.fail("inclusion", f"all {len(bundle.entries)} entries", "no usable checkpoint")
        return
    inside = [e for e in bundle.entries if e.leaf_index < cp.size]
    for e in bundle.entries:
        if e.leaf_index >= cp.size:
            c.fail("inclusion", c.subject(e), f"leaf index is outside the tree of size {cp.size}")
    if not inside:
        return
    try:
        verify_multiproof(
            cp.size, [(e.leaf_index, e.leaf_hash) for e in inside], bundle.inclusion_proof, cp.root
        )
    except LedgerError as exc:
        # One proof covers every entry: a failure cannot be pinned on one of them.
        c.fail(
            "inclusion",
            f"all {len(inside)} entries",
            f"the shared inclusion proof does not verify: {exc}",
        )
        return
    for e in inside:
        c.add("inclusion", c.subject(e), True)


def _check_leaf(c: _Checker, e: Entry) -> None:
    if e.record is None or e.leaf is None:
        return
    subject = c.subject(e)
    if e.leaf_derived:
        c.add("leaf", subject, True, "the plain leaf of the record")
        return
    try:
        header, digest = decode_leaf(e.leaf)
    except MalformedInputError as exc:
        c.fail("leaf", subject, exc)
        return
    record = e.record.record
    problems = []
    if header.kind != LeafKind.for_record_type(record.type):
        problems.append(f"leaf kind {header.kind.name.lower()}, record type {record.type}")
    if digest != e.record.digest():
        problems.append(f"leaf digest {digest.hex()}, record digest {e.record.digest().hex()}")
    if problems:
        c.fail("leaf", subject, "; ".join(problems))
    else:
        c.add("leaf", subject, True)


def _enrolled_keys(c: _Checker, e: Entry) -> tuple[str, tuple[bytes, ...]] | None:
    """(participant, keys) an enrolment or key rotation entry grants, else None."""
    if e.record is None:
        return None
    body = c.body(e)
    if isinstance(body, bodies.Enrolment):
        return body.uscc, body.keys
    if isinstance(body, bodies.KeyRotation):
        return body.participant, (body.new_key,)
    return None


def _check_admins(c: _Checker, bundle: Bundle, pinned: Mapping[str, bytes] | None) -> None:
    if not bundle.admins:
        return
    if pinned is None:
        names = ", ".join(f"{a.uscc} (key {k})" for k, a in sorted(bundle.admins.items()))
        c.add("admins", "admin keys", True, f"taken from the bundle, not pinned: {names}")
        return
    for key_id, admin in sorted(bundle.admins.items()):
        subject = f"admin {admin.uscc} key {key_id}"
        want = pinned.get(admin.uscc)
        if want is None:
            c.fail("admins", subject, f"{admin.uscc} is not a pinned admin")
        elif want != admin.public_key:
            c.fail(
                "admins",
                subject,
                f"pinned key of {admin.uscc} is {key_id_for(want)}, the bundle says {key_id}",
            )
        else:
            c.add("admins", subject, True, "matches the pinned key")


def _signer_key(
    c: _Checker, bundle: Bundle, e: Entry, revoked: Mapping[str, int]
) -> tuple[bytes, frozenset[str] | None, str] | str:
    """(public key, roles or None for an admin, provenance) of ``e``'s signer, or why not."""
    assert e.record is not None
    record = e.record.record
    admin = bundle.admins.get(record.key_id)
    if admin is not None:
        if admin.uscc != record.actor:
            return f"admin key {record.key_id} belongs to {admin.uscc}, actor is {record.actor}"
        return admin.public_key, None, f"admin key {record.key_id}"
    source_index = bundle.signers.get(record.key_id)
    if source_index is None:
        return f"key {record.key_id} is neither in bundle.signers nor in bundle.admins"
    source = bundle.entry(source_index)
    assert source is not None  # the parser checked that signers name entries
    granted = _enrolled_keys(c, source)
    if granted is None:
        return (
            f"bundle.signers names entry {source_index} for key {record.key_id},"
            " which is not an enrolment or key rotation"
        )
    participant, keys = granted
    public = next((k for k in keys if key_id_for(k) == record.key_id), None)
    if public is None:
        return f"entry {source_index} does not enrol key {record.key_id}"
    if participant != record.actor:
        return f"key {record.key_id} belongs to {participant}, record actor is {record.actor}"
    if source_index >= e.leaf_index:
        return f"key {record.key_id} was enrolled at entry {source_index}, not before its use"
    revoked_at = revoked.get(record.key_id)
    if revoked_at is not None and revoked_at < e.leaf_index:
        return f"key {record.key_id} was revoked at entry {revoked_at}"
    enrolment = c.enrolments.get(participant)
    roles = frozenset(enrolment.roles) if enrolment is not None else frozenset()
    return public, roles, f"key {record.key_id} enrolled at #{source_index}"


def _check_signers(c: _Checker, bundle: Bundle) -> None:
    revoked: dict[str, int] = {}
    for e in bundle.entries:
        if e.record is None:
            continue
        body = c.body(e)
        if isinstance(body, bodies.KeyRevocation):
            revoked.setdefault(body.key_id, e.leaf_index)
        elif isinstance(body, bodies.KeyRotation) and body.retire_key is not None:
            # A rotation that retires a key revokes it from there on, as the ledger does.
            revoked.setdefault(body.retire_key, e.leaf_index)
        elif isinstance(body, bodies.Enrolment):
            c.enrolments.setdefault(body.uscc, body)
    resolved: list[tuple[Entry, tuple[bytes, frozenset[str] | None, str] | str]] = [
        (e, _signer_key(c, bundle, e, revoked)) for e in bundle.entries if e.record is not None
    ]
    jobs = [(e, found[0]) for e, found in resolved if not isinstance(found, str)]
    verdicts = dict(zip([id(e) for e, _ in jobs], _verify_all(jobs), strict=True))
    for e, found in resolved:
        assert e.record is not None
        record = e.record.record
        subject = c.subject(e)
        if isinstance(found, str):
            c.fail("signature", subject, found)
            continue
        _, roles, provenance = found
        error = verdicts[id(e)]
        if error is not None:
            c.fail("signature", subject, error)
            continue
        c.add("signature", subject, True, provenance)
        allowed = WRITERS.get(record.type, frozenset())
        if roles is None:
            ok = ADMIN in allowed
            who = "a consortium admin"
        else:
            ok = bool(roles & allowed) or (SELF in allowed and _own_keys(c, e))
            who = f"{record.actor} with roles {', '.join(sorted(roles)) or 'none'}"
            if SELF in allowed and not ok:
                who += ", for another participant's keys,"
        if ok:
            c.add("role", subject, True)
        else:
            c.fail("role", subject, f"{who} may not sign {record.type} records")


def _own_keys(c: _Checker, e: Entry) -> bool:
    """A participant rotates or revokes only its own keys (the rules' SELF writer)."""
    assert e.record is not None
    body = c.body(e)
    participant = getattr(body, "participant", None)
    return participant is not None and participant == e.record.record.actor


def _verify_all(jobs: Sequence[tuple[Entry, bytes]]) -> list[str | None]:
    """Ed25519-verify every (entry, key); None or the error text, in order. Large bundles use
    two threads: PyNaCl releases the GIL while it verifies."""

    def one(job: tuple[Entry, bytes]) -> str | None:
        entry, public = job
        assert entry.record is not None
        try:
            verify_record(entry.record, public)
        except LedgerError as exc:
            return str(exc)
        return None

    if len(jobs) < 256:
        return [one(job) for job in jobs]
    half = len(jobs) // 2
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(lambda: [one(job) for job in jobs[:half]])
        second = [one(job) for job in jobs[half:]]
        return first.result() + second


# --- trace semantics ----------------------------------------------------------------------------


def _lot_lines(body: bodies.Shipment) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for line in body.lines:
        out[(line.product, line.lot)] += line.quantity
    return out


def _accepted_lots(
    acceptance: bodies.Acceptance, shipment: bodies.Shipment
) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for line in acceptance.lines:
        if 0 <= line.line < len(shipment.lines):
            s = shipment.lines[line.line]
            out[(s.product, s.lot)] += line.accepted
    return out


def _check_trace(c: _Checker, bundle: Bundle, trace: Trace) -> None:
    # Every record the links touch, by leaf index, with its parsed body.
    received: dict[tuple[str, str, str], int] = defaultdict(int)  # (holder, product, lot)
    shipped: dict[tuple[str, str, str], int] = defaultdict(int)
    counted_in: set[int] = set()
    counted_out: set[int] = set()
    sources_of: dict[int, list[Entry]] = defaultdict(list)

    for link in trace.links:
        a = bundle.entry(link.source)
        b = bundle.entry(link.target)
        assert a is not None and b is not None
        subject = f"#{link.source} -> #{link.target}"
        # The order is checkable even for a redacted entry: its leaf index is proven.
        if a.leaf_index >= b.leaf_index:
            c.fail("link", subject, "a trace link must point from an earlier entry to a later one")
            continue
        if a.record is None or b.record is None:
            c.add("link", subject, True, "not checkable: a redacted entry (inclusion only)")
            continue
        ba, bb = c.body(a), c.body(b)
        if ba is None or bb is None:
            c.fail("link", subject, "an end of this link has a malformed body")
            continue
        ok = _check_link(c, subject, a, b)
        if (
            ok
            and isinstance(bb, bodies.Shipment)
            and isinstance(ba, bodies.Batch | bodies.Acceptance)
        ):
            sources_of[b.leaf_index].append(a)

    # Quantity conservation per holder and lot over what the bundle shows.
    for e in bundle.entries:
        if e.record is None:
            continue
        body = c.body(e)
        if isinstance(body, bodies.Batch) and e.leaf_index not in counted_in:
            counted_in.add(e.leaf_index)
            received[(e.record.record.actor, body.product, body.lot)] += body.quantity
        elif isinstance(body, bodies.Acceptance):
            shipment_entry = c.by_record_id.get(body.shipment)
            if shipment_entry is None:
                continue
            sb = c.body(shipment_entry)
            if isinstance(sb, bodies.Shipment) and e.leaf_index not in counted_in:
                counted_in.add(e.leaf_index)
                for (product, lot), qty in _accepted_lots(body, sb).items():
                    received[(e.record.record.actor, product, lot)] += qty
        elif isinstance(body, bodies.Return) and e.leaf_index not in counted_out:
            counted_out.add(e.leaf_index)
            origin = c.by_record_id.get(body.shipment)
            ob = c.body(origin) if origin is not None else None
            if isinstance(ob, bodies.Shipment):
                for line in body.lines:
                    if 0 <= line.line < len(ob.lines):
                        s = ob.lines[line.line]
                        shipped[(e.record.record.actor, s.product, s.lot)] += line.quantity
                        received[(ob.shipper, s.product, s.lot)] += line.quantity
        elif isinstance(body, bodies.Shipment) and e.leaf_index not in counted_out:
            counted_out.add(e.leaf_index)
            for (product, lot), qty in _lot_lines(body).items():
                shipped[(body.shipper, product, lot)] += qty

    # Conservation is checked for the lots the bundle traces (those whose batch registration
    # it carries); other lots that share a shipment with them are outside the answer.
    traced_lots = {
        (body.product, body.lot)
        for e in bundle.entries
        if e.record is not None and isinstance(body := c.body(e), bodies.Batch)
    }
    for key, out_qty in sorted(shipped.items()):
        holder, product, lot = key
        if (product, lot) not in traced_lots:
            continue
        in_qty = received.get(key, 0)
        subject = f"{holder} {product}/{lot}"
        if in_qty == 0 and not _has_redacted(bundle):
            c.fail("conservation", subject, f"ships {out_qty} but the bundle shows no receipt")
        elif in_qty == 0:
            c.add("conservation", subject, True, "not checkable: receipts are redacted")
        elif out_qty > in_qty:
            c.fail(
                "conservation",
                subject,
                f"shipped {out_qty}, more than the {in_qty} received or registered",
            )
        else:
            c.add("conservation", subject, True, f"shipped {out_qty} of {in_qty} received")

    # A shipper ships only what it registered or had accepted before.
    incoming: dict[int, list[int]] = defaultdict(list)
    for link in trace.links:
        incoming[link.target].append(link.source)
    for e in bundle.entries:
        if e.record is None:
            continue
        body = c.body(e)
        if not isinstance(body, bodies.Shipment):
            continue
        subject = c.subject(e)
        sources = sources_of.get(e.leaf_index, [])
        redacted_sources = [
            source
            for source in incoming.get(e.leaf_index, ())
            if source < e.leaf_index and (bundle.entry(source) or e).redacted
        ]
        if not sources and redacted_sources:
            c.add("provenance", subject, True, "not checkable: its sources are redacted")
        elif not sources:
            c.fail(
                "provenance",
                subject,
                f"{body.shipper} ships it, but no batch or acceptance in the trace leads to it",
            )
        else:
            c.add(
                "provenance",
                subject,
                True,
                f"from #{', #'.join(str(s.leaf_index) for s in sources)}",
            )
        _check_licences(c, e, body)


def _has_redacted(bundle: Bundle) -> bool:
    return any(e.redacted for e in bundle.entries)


def _check_link(c: _Checker, subject: str, a: Entry, b: Entry) -> bool:
    assert a.record is not None and b.record is not None
    ba, bb = c.body(a), c.body(b)
    ra, rb = a.record.record, b.record.record
    if isinstance(ba, bodies.Batch) and isinstance(bb, bodies.Shipment):
        if bb.shipper != ra.actor:
            return c.fail("link", subject, f"shipper {bb.shipper} is not the registrant {ra.actor}")
        if (ba.product, ba.lot) not in _lot_lines(bb):
            return c.fail("link", subject, f"shipment carries no {ba.product}/{ba.lot}")
        return c.add("link", subject, True, "batch shipped by its registrant")
    if isinstance(ba, bodies.Shipment) and isinstance(bb, bodies.Acceptance):
        if bb.shipment != ra.id:
            return c.fail("link", subject, f"acceptance is of shipment {bb.shipment}, not {ra.id}")
        if rb.actor != ba.consignee:
            return c.fail(
                "link", subject, f"accepted by {rb.actor}, but the consignee is {ba.consignee}"
            )
        for line in bb.lines:
            if not 0 <= line.line < len(ba.lines):
                return c.fail(
                    "link", subject, f"acceptance line {line.line} is not a shipment line"
                )
            want = ba.lines[line.line].quantity
            if line.accepted + line.rejected != want:
                return c.fail(
                    "link",
                    subject,
                    f"line {line.line}: accepted {line.accepted} + rejected {line.rejected}"
                    f" != shipped {want}",
                )
        return c.add("link", subject, True, "acceptance matches the shipment")
    if isinstance(ba, bodies.Acceptance) and isinstance(bb, bodies.Shipment):
        if bb.shipper != ra.actor:
            return c.fail("link", subject, f"shipper {bb.shipper} is not the acceptor {ra.actor}")
        shipment_entry = c.by_record_id.get(ba.shipment)
        sb = c.body(shipment_entry) if shipment_entry is not None else None
        if not isinstance(sb, bodies.Shipment):
            return c.fail(
                "link", subject, f"the accepted shipment {ba.shipment} is not in the bundle"
            )
        accepted = _accepted_lots(ba, sb)
        shared = [k for k in _lot_lines(bb) if accepted.get(k, 0) > 0]
        if not shared:
            return c.fail("link", subject, "ships no lot that the acceptance took in")
        return c.add("link", subject, True, "ships stock accepted before")
    if isinstance(ba, bodies.Acceptance) and isinstance(bb, bodies.Return):
        if rb.actor != ra.actor:
            return c.fail("link", subject, f"returned by {rb.actor}, accepted by {ra.actor}")
        return c.add("link", subject, True, "return of stock accepted before")
    if isinstance(ba, bodies.Shipment) and isinstance(bb, bodies.Return):
        if bb.shipment != ra.id:
            return c.fail("link", subject, f"return reverses {bb.shipment}, not {ra.id}")
        return c.add("link", subject, True, "return of this shipment")
    if isinstance(ba, bodies.Order) and isinstance(bb, bodies.Shipment):
        if bb.order != ra.id:
            return c.fail("link", subject, f"shipment is for order {bb.order}, not {ra.id}")
        return c.add("link", subject, True, "shipment for this order")
    return c.fail("link", subject, f"no trace relation from {ra.type} to {rb.type}")


_NEVER = 2**64  # a leaf index past every log: not withdrawn

PartyIndex = tuple[
    dict[str, list[tuple[int, bodies.Qualification, int]]],
    dict[str, list[tuple[int, bodies.Enrolment]]],
]


def _party_index(c: _Checker) -> PartyIndex:
    """Approved qualifications (with the leaf index of the correction that withdrew each, or
    ``_NEVER``) and enrolments by participant, in leaf order (built once)."""
    withdrawn: dict[str, int] = {}
    approved: list[tuple[str, int, bodies.Qualification]] = []
    enrolled: dict[str, list[tuple[int, bodies.Enrolment]]] = defaultdict(list)
    for other in c.bundle.entries:
        if other.record is None:
            continue
        record = other.record.record
        body = c.body(other)
        if isinstance(body, bodies.Qualification) and body.verdict == "approved":
            approved.append((record.id, other.leaf_index, body))
        elif isinstance(body, bodies.Enrolment):
            enrolled[body.uscc].append((other.leaf_index, body))
        elif record.type == "correction" and record.supersedes and body is not None:
            # A correction withdraws what it supersedes, only when its body parses.
            withdrawn.setdefault(record.supersedes, other.leaf_index)
    quals: dict[str, list[tuple[int, bodies.Qualification, int]]] = defaultdict(list)
    for record_id, index, body in approved:
        quals[body.holder].append((index, body, withdrawn.get(record_id, _NEVER)))
    return quals, enrolled


def _check_licences(c: _Checker, e: Entry, shipment: bodies.Shipment) -> None:
    assert e.record is not None
    day = record_day(e.record.record.time)
    if c.party_index is None:
        c.party_index = _party_index(c)
    quals, enrolled = c.party_index
    roles = {
        party: frozenset(body.roles)
        for party in (shipment.shipper, shipment.consignee)
        for index, body in enrolled.get(party, [])[:1]
        if index <= e.leaf_index
    }
    for party, side in ((shipment.shipper, "shipper"), (shipment.consignee, "consignee")):
        subject = f"{c.subject(e)} {side} {party}"
        valid = [
            q
            for index, q, withdrawn_at in quals.get(party, [])
            if index <= e.leaf_index < withdrawn_at
            and q.valid_from <= day
            and (q.valid_to is None or day < q.valid_to)
        ]
        kinds = {q.kind for q in valid}
        missing = []
        if codes.BUSINESS_LICENCE not in kinds:
            missing.append(codes.BUSINESS_LICENCE)
        trading = [r for r in roles.get(party, ()) if r in codes.ROLE_LICENCES]
        role_kinds = [codes.ROLE_LICENCES[r] for r in trading]
        if not role_kinds:
            missing.append("an enrolment with a trading role")
        elif not any(
            codes.licence_serves_role(q.kind, q.number, r) for r in trading for q in valid
        ):
            kinds_needed = " or ".join(sorted(set().union(*role_kinds)))
            missing.append(kinds_needed + codes.distribution_types_hint(trading))
        if missing:
            c.fail("licence", subject, f"no approved licence valid on {day}: {', '.join(missing)}")
        else:
            c.add("licence", subject, True, f"valid on {day}")


def _check_anchor(c: _Checker, anchor: AnchorRef, cp: Checkpoint) -> None:
    subject = f"chain {anchor.chain_id} block {anchor.block_number} size {anchor.tree_size}"
    for size, root, what in (
        (anchor.tree_size, anchor.root_hash, "anchored"),
        (cp.size, cp.root, "checkpoint"),
    ):
        # A consistency proof from size 0 holds for any root1 (as in transparency-dev); the
        # empty tree's root is known, so check it here.
        if size == 0 and root != EMPTY_ROOT:
            c.fail(
                "anchor", subject, f"the {what} root of the empty tree must be {EMPTY_ROOT.hex()}"
            )
            return
    try:
        if anchor.tree_size <= cp.size:
            verify_consistency(
                anchor.tree_size, cp.size, anchor.consistency_path, anchor.root_hash, cp.root
            )
        else:
            verify_consistency(
                cp.size, anchor.tree_size, anchor.consistency_path, cp.root, anchor.root_hash
            )
    except LedgerError as exc:
        c.fail("anchor", subject, exc)
        return
    c.add("anchor", subject, True, f"consistent with checkpoint size {cp.size}")
