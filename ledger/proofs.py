"""JSON proof files: what a log serves and what the auditor's CLI reads.

Inclusion::

    {"leaf_index": 5, "tree_size": 8, "leaf_hash": "<64 hex>", "root_hash": "<64 hex>",
     "path": ["<64 hex>", ...]}

Consistency::

    {"size1": 6, "size2": 8, "root1": "<64 hex>", "root2": "<64 hex>", "path": [...]}

Hashes are hex; we write lowercase and, being liberal in what we read, accept uppercase
too (the bytes are the same). Exactly these fields, no others. Integers must be JSON
integers (not floats, not booleans, not strings), 0..2^64-1. A path has at most
``MAX_PATH`` hashes (no RFC 9162 proof for a tree below 2^64 leaves is longer). Duplicate
keys, NaN, and anything else JSON-ish but ambiguous are refused; a UTF-8 byte order
mark and surrounding whitespace are tolerated; files are at most ``MAX_FILE_BYTES``.
Every malformed file raises ``MalformedInputError`` (``HashLengthError`` for a hash that
is not 32 bytes); ``verify()`` raises the ``VerificationError`` of ledger.merkle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ledger.checkpoint import Checkpoint
from ledger.errors import (
    HashLengthError,
    MalformedInputError,
    RootMismatchError,
    VerificationError,
)
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    NodeReader,
    consistency_proof,
    inclusion_proof,
    root_at,
    verify_consistency,
    verify_inclusion,
)

MAX_UINT64 = 2**64 - 1
MAX_PATH = 128
MAX_FILE_BYTES = 1 << 20
INCLUSION_FIELDS = ("leaf_index", "tree_size", "leaf_hash", "root_hash", "path")
CONSISTENCY_FIELDS = ("size1", "size2", "root1", "root2", "path")

_HEX_RE = re.compile(r"[0-9a-fA-F]*")


# --- strict JSON ----------------------------------------------------------------------------


def _refuse_float(text: str) -> Any:
    raise MalformedInputError(f"numbers must be integers, got {text[:40]}")


def _refuse_constant(text: str) -> Any:
    raise MalformedInputError(f"{text} is not allowed in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedInputError(f"field {key!r} appears twice")
        out[key] = value
    return out


def load_json(data: bytes | str, what: str = "proof file") -> Any:
    """Parse strict JSON: no floats, NaN, duplicate keys or trailing data; UTF-8 only."""
    if isinstance(data, bytes | bytearray):
        if len(data) > MAX_FILE_BYTES:
            raise MalformedInputError(f"{what} has {len(data)} bytes, at most {MAX_FILE_BYTES}")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedInputError(f"{what} is not UTF-8 (byte {e.start})") from e
    elif isinstance(data, str):
        text = data
    else:
        raise MalformedInputError(f"{what} must be bytes or text, got {type(data).__name__}")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        # orjson refuses nesting deeper than 1,024 levels in bounded C stack; the standard
        # parser below (strict about floats and duplicates) could exhaust a small thread stack.
        orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e):
            raise MalformedInputError(f"{what} is nested too deeply") from e
        # Anything else: the strict parser below names the problem.
    try:
        return json.loads(
            text,
            parse_float=_refuse_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_no_duplicates,
        )
    except MalformedInputError as e:
        raise MalformedInputError(f"{what}: {e}") from e
    except RecursionError as e:
        raise MalformedInputError(f"{what} is nested too deeply") from e
    except ValueError as e:  # JSONDecodeError, and int strings over Python's digit limit
        raise MalformedInputError(f"{what} is not valid JSON: {e}") from e


# --- field checks ---------------------------------------------------------------------------


def _check_uint(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(
            f"{what} must be an integer, got {type(value).__name__} {_short(value)}"
        )
    if value < 0:
        raise MalformedInputError(f"{what} must not be negative, got {value}")
    if value > MAX_UINT64:
        raise MalformedInputError(f"{what} {value} is beyond 2^64-1")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _hash_from_hex(value: object, what: str) -> bytes:
    if type(value) is str and len(value) == 2 * HASH_SIZE and _HEX_RE.fullmatch(value):
        return bytes.fromhex(value)  # the common case, checked once
    if not isinstance(value, str):
        raise MalformedInputError(
            f"{what} must be a hex string, got {type(value).__name__} {_short(value)}"
        )
    if len(value) % 2 or not _HEX_RE.fullmatch(value):
        raise MalformedInputError(f"{what} is not hex: {_short(value)}")
    raw = bytes.fromhex(value)
    if len(raw) != HASH_SIZE:
        raise HashLengthError(what, len(raw))
    return raw


def _check_hash(value: object, what: str) -> bytes:
    if type(value) is bytes and len(value) == HASH_SIZE:
        return value
    if not isinstance(value, bytes | bytearray):
        raise MalformedInputError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise HashLengthError(what, len(value))
    return bytes(value)


def _check_path(path: object) -> tuple[bytes, ...]:
    if not isinstance(path, list | tuple):
        raise MalformedInputError(f"path must be a list, got {type(path).__name__}")
    if len(path) > MAX_PATH:
        raise MalformedInputError(f"path has {len(path)} hashes, at most {MAX_PATH}")
    if all(type(node) is bytes and len(node) == HASH_SIZE for node in path):
        return tuple(path)
    return tuple(_check_hash(node, f"path[{i}]") for i, node in enumerate(path))


def _check_fields(data: object, fields: Sequence[str], kind: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedInputError(f"{kind} proof must be a JSON object, got {type(data).__name__}")
    missing = [f for f in fields if f not in data]
    if missing:
        hint = ""
        other = CONSISTENCY_FIELDS if kind == "inclusion" else INCLUSION_FIELDS
        if all(f in data for f in other):
            other_kind = "consistency" if kind == "inclusion" else "inclusion"
            hint = f" (this looks like a {other_kind} proof)"
        raise MalformedInputError(f"{kind} proof is missing {', '.join(missing)}{hint}")
    extra = sorted(set(data) - set(fields))
    if extra:
        raise MalformedInputError(
            f"{kind} proof has unknown fields {', '.join(repr(e)[:40] for e in extra)}"
        )
    return data


def _path_from_json(value: object) -> list[bytes]:
    if not isinstance(value, list):
        raise MalformedInputError(f"path must be a list, got {type(value).__name__}")
    if len(value) > MAX_PATH:
        raise MalformedInputError(f"path has {len(value)} hashes, at most {MAX_PATH}")
    if all(type(node) is str and len(node) == 2 * HASH_SIZE for node in value):
        joined = "".join(value)
        if _HEX_RE.fullmatch(joined):  # one check for the whole path
            raw = bytes.fromhex(joined)
            return [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
    return [_hash_from_hex(node, f"path[{i}]") for i, node in enumerate(value)]


def _dumps(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode("ascii")


# --- proofs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    """A claim that ``leaf_hash`` is leaf ``leaf_index`` of the tree ``(tree_size, root_hash)``."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_uint(self.leaf_index, "leaf_index")
        _check_uint(self.tree_size, "tree_size")
        object.__setattr__(self, "leaf_hash", _check_hash(self.leaf_hash, "leaf_hash"))
        object.__setattr__(self, "root_hash", _check_hash(self.root_hash, "root_hash"))
        object.__setattr__(self, "path", _check_path(self.path))

    @classmethod
    def from_dict(cls, data: object) -> InclusionProof:
        d = _check_fields(data, INCLUSION_FIELDS, "inclusion")
        return cls(
            leaf_index=_check_uint(d["leaf_index"], "leaf_index"),
            tree_size=_check_uint(d["tree_size"], "tree_size"),
            leaf_hash=_hash_from_hex(d["leaf_hash"], "leaf_hash"),
            root_hash=_hash_from_hex(d["root_hash"], "root_hash"),
            path=tuple(_path_from_json(d["path"])),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> InclusionProof:
        return cls.from_dict(load_json(data, "inclusion proof file"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "root_hash": self.root_hash.hex(),
            "path": [node.hex() for node in self.path],
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    def verify(self) -> None:
        """Raise a ``VerificationError`` unless the path proves the leaf in the tree."""
        verify_inclusion(self.leaf_index, self.tree_size, self.leaf_hash, self.path, self.root_hash)

    @classmethod
    def build(cls, reader: NodeReader, leaf_index: int, tree_size: int) -> InclusionProof:
        """The proof of leaf ``leaf_index`` in the first ``tree_size`` leaves of a tree."""
        path = inclusion_proof(reader, leaf_index, tree_size)
        leaf_hash = reader.read_nodes([(0, leaf_index)])[(0, leaf_index)]
        return cls(leaf_index, tree_size, leaf_hash, root_at(reader, tree_size), tuple(path))


@dataclass(frozen=True)
class ConsistencyProof:
    """A claim that the tree ``(size2, root2)`` extends the tree ``(size1, root1)``."""

    size1: int
    size2: int
    root1: bytes
    root2: bytes
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_uint(self.size1, "size1")
        _check_uint(self.size2, "size2")
        object.__setattr__(self, "root1", _check_hash(self.root1, "root1"))
        object.__setattr__(self, "root2", _check_hash(self.root2, "root2"))
        object.__setattr__(self, "path", _check_path(self.path))

    @classmethod
    def from_dict(cls, data: object) -> ConsistencyProof:
        d = _check_fields(data, CONSISTENCY_FIELDS, "consistency")
        return cls(
            size1=_check_uint(d["size1"], "size1"),
            size2=_check_uint(d["size2"], "size2"),
            root1=_hash_from_hex(d["root1"], "root1"),
            root2=_hash_from_hex(d["root2"], "root2"),
            path=tuple(_path_from_json(d["path"])),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> ConsistencyProof:
        return cls.from_dict(load_json(data, "consistency proof file"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "size1": self.size1,
            "size2": self.size2,
            "root1": self.root1.hex(),
            "root2": self.root2.hex(),
            "path": [node.hex() for node in self.path],
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    def verify(self) -> None:
        """Raise a ``VerificationError`` unless the path proves tree 2 extends tree 1. A proof
        file from the empty tree claims its root, so that root must be the empty tree's hash
        (RFC 9162 §2.1.1), as the bundle verifier requires of an anchor (docs/bundle.md §7)."""
        verify_consistency(self.size1, self.size2, self.path, self.root1, self.root2)
        if self.size1 == 0 and self.root1 != EMPTY_ROOT:
            raise RootMismatchError(EMPTY_ROOT, self.root1, "root1")

    @classmethod
    def build(cls, reader: NodeReader, size1: int, size2: int) -> ConsistencyProof:
        """The proof that the first ``size2`` leaves extend the first ``size1``."""
        path = consistency_proof(reader, size1, size2)
        return cls(size1, size2, root_at(reader, size1), root_at(reader, size2), tuple(path))


Proof = InclusionProof | ConsistencyProof


class CheckpointMismatchError(VerificationError):
    """A proof about another tree than the (signed) checkpoint it is checked against."""


def check_against_checkpoint(proof: Proof, checkpoint: Checkpoint) -> None:
    """Raise ``CheckpointMismatchError`` unless the proof is about the checkpoint's tree.

    An inclusion proof must be for the checkpoint's (size, root). A consistency proof must
    start or end at it. Call ``proof.verify()`` as well: this only compares the trees.
    """
    if isinstance(proof, InclusionProof):
        ends = [(proof.tree_size, proof.root_hash)]
    else:
        ends = [(proof.size1, proof.root1), (proof.size2, proof.root2)]
    if (checkpoint.size, checkpoint.root) in ends:
        return
    claimed = " or ".join(f"size {size} root {root.hex()}" for size, root in ends)
    raise CheckpointMismatchError(
        f"proof is about {claimed}, but the checkpoint of {checkpoint.origin} is "
        f"size {checkpoint.size} root {checkpoint.root.hex()}"
    )


def load_proof(data: bytes | str) -> Proof:
    """Parse either kind of proof file, telling them apart by their fields."""
    value = load_json(data)
    if isinstance(value, dict) and "leaf_index" in value:
        return InclusionProof.from_dict(value)
    if isinstance(value, dict) and "size1" in value:
        return ConsistencyProof.from_dict(value)
    raise MalformedInputError(
        "proof file is neither an inclusion proof (leaf_index, tree_size, leaf_hash, "
        "root_hash, path) nor a consistency proof (size1, size2, root1, root2, path)"
    )
