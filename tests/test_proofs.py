"""JSON proof files: round trips, verification, and every malformed file named."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import (
    HashLengthError,
    IndexRangeError,
    LedgerError,
    MalformedInputError,
    ProofSizeError,
    RootMismatchError,
)
from ledger.merkle import EMPTY_ROOT, MemoryTree
from ledger.proofs import (
    MAX_FILE_BYTES,
    MAX_PATH,
    ConsistencyProof,
    InclusionProof,
    load_json,
    load_proof,
)


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    t = MemoryTree()
    for i in range(21):
        t.append(f"record {i}".encode())
    return t


def inclusion_dict(tree: MemoryTree, index: int = 5, size: int = 13) -> dict[str, Any]:
    return {
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": tree.leaf_hash(index).hex(),
        "root_hash": tree.root(size).hex(),
        "path": [h.hex() for h in tree.inclusion_proof(index, size)],
    }


def consistency_dict(tree: MemoryTree, size1: int = 7, size2: int = 19) -> dict[str, Any]:
    return {
        "size1": size1,
        "size2": size2,
        "root1": tree.root(size1).hex(),
        "root2": tree.root(size2).hex(),
        "path": [h.hex() for h in tree.consistency_proof(size1, size2)],
    }


# --- round trips and verification -----------------------------------------------------------


def test_inclusion_round_trip_and_verify(tree: MemoryTree) -> None:
    data = inclusion_dict(tree)
    proof = InclusionProof.from_dict(data)
    assert proof.to_dict() == data
    assert InclusionProof.from_json(proof.to_json()) == proof
    assert json.loads(proof.to_json()) == data
    proof.verify()
    assert proof == InclusionProof.build(tree, 5, 13)


def test_consistency_round_trip_and_verify(tree: MemoryTree) -> None:
    data = consistency_dict(tree)
    proof = ConsistencyProof.from_dict(data)
    assert proof.to_dict() == data
    assert ConsistencyProof.from_json(proof.to_json()) == proof
    proof.verify()
    assert proof == ConsistencyProof.build(tree, 7, 19)


def test_every_proof_of_a_small_tree_builds_serializes_and_verifies(tree: MemoryTree) -> None:
    for size in range(1, tree.size + 1):
        for index in range(size):
            InclusionProof.from_json(InclusionProof.build(tree, index, size).to_json()).verify()
        for size1 in range(size + 1):
            ConsistencyProof.from_json(ConsistencyProof.build(tree, size1, size).to_json()).verify()


def test_uppercase_hex_is_accepted_and_written_lowercase(tree: MemoryTree) -> None:
    data = inclusion_dict(tree)
    upper = {
        **data,
        "leaf_hash": data["leaf_hash"].upper(),
        "path": [p.upper() for p in data["path"]],
    }
    proof = InclusionProof.from_dict(upper)
    proof.verify()
    assert proof.to_dict() == data
    assert proof.to_json() == proof.to_json().lower()


def test_load_proof_tells_the_kinds_apart(tree: MemoryTree) -> None:
    assert isinstance(load_proof(json.dumps(inclusion_dict(tree))), InclusionProof)
    assert isinstance(load_proof(json.dumps(consistency_dict(tree))), ConsistencyProof)
    with pytest.raises(MalformedInputError, match="neither an inclusion proof"):
        load_proof("{}")


def test_a_byte_order_mark_and_whitespace_are_tolerated(tree: MemoryTree) -> None:
    text = "\ufeff  " + json.dumps(inclusion_dict(tree), indent=4) + "\n\n"
    InclusionProof.from_json(text.encode()).verify()


def test_verification_failures_are_verification_errors(tree: MemoryTree) -> None:
    data = inclusion_dict(tree)
    with pytest.raises(RootMismatchError):
        InclusionProof.from_dict({**data, "leaf_hash": tree.leaf_hash(6).hex()}).verify()
    with pytest.raises(ProofSizeError, match="wrong proof size"):
        InclusionProof.from_dict({**data, "path": data["path"][:-1]}).verify()
    with pytest.raises(IndexRangeError):
        InclusionProof.from_dict({**data, "leaf_index": 13}).verify()
    cons = consistency_dict(tree)
    with pytest.raises(RootMismatchError, match="root2 mismatch"):
        ConsistencyProof.from_dict({**cons, "root2": tree.root(18).hex()}).verify()
    with pytest.raises(IndexRangeError):
        ConsistencyProof.from_dict({**cons, "size1": 20}).verify()


# --- malformed files ------------------------------------------------------------------------

H = "ab" * 32


def _inc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "leaf_index": 0,
        "tree_size": 2,
        "leaf_hash": H,
        "root_hash": H,
        "path": [H],
    }
    base.update(changes)
    return base


MALFORMED_INCLUSION: dict[str, tuple[str | bytes, type[Exception], str]] = {
    "not json": ("hello", MalformedInputError, "not valid JSON"),
    "empty file": ("", MalformedInputError, "not valid JSON"),
    "trailing garbage": (json.dumps(_inc()) + " x", MalformedInputError, "not valid JSON"),
    "two objects": (json.dumps(_inc()) * 2, MalformedInputError, "not valid JSON"),
    "not an object": ("[1, 2]", MalformedInputError, "must be a JSON object, got list"),
    "a string": ('"proof"', MalformedInputError, "must be a JSON object, got str"),
    "null": ("null", MalformedInputError, "must be a JSON object, got NoneType"),
    "missing field": (
        json.dumps({k: v for k, v in _inc().items() if k != "root_hash"}),
        MalformedInputError,
        "missing root_hash",
    ),
    "extra field": (
        json.dumps(_inc(comment="hi")),
        MalformedInputError,
        "unknown fields 'comment'",
    ),
    "duplicate field": (
        f'{{"leaf_index": 0, "leaf_index": 1, "tree_size": 2, "leaf_hash": "{H}", '
        f'"root_hash": "{H}", "path": []}}',
        MalformedInputError,
        "'leaf_index' appears twice",
    ),
    "bool as int": (
        json.dumps(_inc(leaf_index=True)),
        MalformedInputError,
        "must be an integer, got bool",
    ),
    "string as int": (
        json.dumps(_inc(tree_size="2")),
        MalformedInputError,
        "must be an integer, got str",
    ),
    "negative": (json.dumps(_inc(leaf_index=-1)), MalformedInputError, "must not be negative"),
    "float": ('{"leaf_index": 0.0}', MalformedInputError, "must be integers, got 0.0"),
    "exponent": ('{"leaf_index": 1e2}', MalformedInputError, "must be integers"),
    "NaN": ('{"leaf_index": NaN}', MalformedInputError, "NaN is not allowed"),
    "beyond uint64": (json.dumps(_inc(tree_size=2**64)), MalformedInputError, "beyond 2\\^64-1"),
    "huge integer": ('{"leaf_index": ' + "9" * 5000 + "}", MalformedInputError, "not valid JSON"),
    "bad hex": (json.dumps(_inc(leaf_hash="zz" * 32)), MalformedInputError, "leaf_hash is not hex"),
    "odd hex": (json.dumps(_inc(root_hash=H + "a")), MalformedInputError, "root_hash is not hex"),
    "0x prefix": (
        json.dumps(_inc(root_hash="0x" + H)),
        MalformedInputError,
        "root_hash is not hex",
    ),
    "hash with spaces": (
        json.dumps(_inc(root_hash=H[:10] + " " + H[11:])),
        MalformedInputError,
        "not hex",
    ),
    "short hash": (
        json.dumps(_inc(leaf_hash=H[:62])),
        HashLengthError,
        "leaf_hash has 31 bytes, want 32",
    ),
    "long hash": (json.dumps(_inc(root_hash=H + "00")), HashLengthError, "root_hash has 33 bytes"),
    "empty hash in path": (
        json.dumps(_inc(path=[H, ""])),
        HashLengthError,
        "path\\[1\\] has 0 bytes",
    ),
    "hash as number": (
        json.dumps(_inc(leaf_hash=12)),
        MalformedInputError,
        "must be a hex string, got int",
    ),
    "path not a list": (
        json.dumps(_inc(path=H)),
        MalformedInputError,
        "path must be a list, got str",
    ),
    "path of numbers": (
        json.dumps(_inc(path=[1])),
        MalformedInputError,
        "path\\[0\\] must be a hex string",
    ),
    "path too long": (
        json.dumps(_inc(path=[H] * (MAX_PATH + 1))),
        MalformedInputError,
        "at most 128",
    ),
    "not UTF-8": (b'{"leaf_index": "\xff"}', MalformedInputError, "not UTF-8"),
    "too large": (b" " * (MAX_FILE_BYTES + 1), MalformedInputError, "at most"),
    "deep nesting": (
        "[" * 100000 + "]" * 100000,
        MalformedInputError,
        "nested too deeply|not valid JSON",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED_INCLUSION))
def test_malformed_inclusion_files_are_named(name: str) -> None:
    text, error, reason = MALFORMED_INCLUSION[name]
    with pytest.raises(error, match=reason) as info:
        InclusionProof.from_json(text)
    assert isinstance(info.value, MalformedInputError)


def test_a_consistency_file_given_as_inclusion_says_so(tree: MemoryTree) -> None:
    with pytest.raises(MalformedInputError, match="looks like a consistency proof"):
        InclusionProof.from_json(json.dumps(consistency_dict(tree)))
    with pytest.raises(MalformedInputError, match=r"looks like an? inclusion proof"):
        ConsistencyProof.from_json(json.dumps(inclusion_dict(tree)))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size1": False}, "size1 must be an integer, got bool"),
        ({"size2": -3}, "size2 must not be negative"),
        ({"root1": H[:-2]}, "root1 has 31 bytes"),
        ({"root2": None}, "root2 must be a hex string, got NoneType"),
        ({"path": None}, "path must be a list"),
        ({"extra": 1}, "unknown fields 'extra'"),
    ],
)
def test_malformed_consistency_files_are_named(
    tree: MemoryTree, change: dict[str, Any], reason: str
) -> None:
    data = {**consistency_dict(tree), **change}
    with pytest.raises(MalformedInputError, match=reason):
        ConsistencyProof.from_dict(data)


def test_dataclass_construction_is_checked_too() -> None:
    h = bytes(32)
    with pytest.raises(HashLengthError, match="leaf_hash has 31 bytes"):
        InclusionProof(0, 1, bytes(31), h, ())
    with pytest.raises(MalformedInputError, match="must be an integer"):
        InclusionProof(0, True, h, h, ())  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="path\\[0\\] must be bytes, got str"):
        ConsistencyProof(1, 2, h, h, ("00" * 32,))  # type: ignore[arg-type]
    assert InclusionProof(0, 1, h, h, [h]).path == (h,)  # type: ignore[arg-type]


def test_load_json_refuses_non_text() -> None:
    with pytest.raises(MalformedInputError, match="must be bytes or text"):
        load_json(12)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_named_errors(data: bytes) -> None:
    for parse in (InclusionProof.from_json, ConsistencyProof.from_json, load_proof):
        with contextlib.suppress(LedgerError):
            parse(data).verify()


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "leaf_index": _JSONISH,
            "tree_size": _JSONISH,
            "leaf_hash": _JSONISH | st.just(H),
            "root_hash": _JSONISH | st.just(H),
            "path": _JSONISH | st.lists(st.just(H), max_size=3),
        },
    )
)
def test_random_json_objects_raise_only_named_errors(data: dict[str, Any]) -> None:
    with contextlib.suppress(LedgerError):
        InclusionProof.from_dict(data).verify()


def test_check_against_checkpoint(tree: MemoryTree) -> None:
    from ledger.checkpoint import Checkpoint
    from ledger.proofs import CheckpointMismatchError, check_against_checkpoint

    inc = InclusionProof.build(tree, 2, 13)
    con = ConsistencyProof.build(tree, 7, 13)
    cp13 = Checkpoint("log", 13, tree.root(13))
    cp7 = Checkpoint("log", 7, tree.root(7))
    check_against_checkpoint(inc, cp13)
    check_against_checkpoint(con, cp13)
    check_against_checkpoint(con, cp7)
    with pytest.raises(CheckpointMismatchError, match="proof is about size 13 root"):
        check_against_checkpoint(inc, cp7)
    with pytest.raises(CheckpointMismatchError, match=r"size 7 root .* or size 13 root"):
        check_against_checkpoint(con, Checkpoint("log", 13, tree.root(12)))
    with pytest.raises(CheckpointMismatchError):
        check_against_checkpoint(con, Checkpoint("log", 12, tree.root(13)))


def test_a_consistency_proof_from_the_empty_tree_claims_the_empty_root() -> None:
    """size1 0 proves nothing about the later tree, but the file claims root1: it must be
    the empty tree's hash, as the bundle verifier requires (docs/bundle.md section 7)."""
    tree = MemoryTree()
    for i in range(8):
        tree.append(bytes([i]))
    ConsistencyProof(0, 8, EMPTY_ROOT, tree.root(), ()).verify()
    with pytest.raises(RootMismatchError, match="root1"):
        ConsistencyProof(0, 8, b"\xab" * 32, tree.root(), ()).verify()
