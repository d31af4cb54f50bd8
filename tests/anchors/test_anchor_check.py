"""The pure checkpoint-vs-anchor check: both directions, equal sizes, and every way to fail."""

from __future__ import annotations

import hashlib

import pytest

from anchors.check import AnchorMismatchError, check_checkpoint_against_anchor
from ledger.errors import MalformedInputError, VerificationError
from ledger.merkle import MemoryTree


def tree_of(n: int, salt: bytes = b"") -> MemoryTree:
    tree = MemoryTree()
    for i in range(n):
        tree.append(salt + i.to_bytes(8, "big"))
    return tree


TREE = tree_of(40)


@pytest.mark.parametrize(("size", "anchored"), [(7, 7), (40, 7), (7, 40), (32, 1), (1, 32)])
def test_consistent_pairs_pass(size: int, anchored: int) -> None:
    small, big = sorted((size, anchored))
    path = TREE.consistency_proof(small, big) if small != big else []
    check_checkpoint_against_anchor(size, TREE.root(size), anchored, TREE.root(anchored), path)


def test_same_size_other_root_fails_naming_both_heads() -> None:
    other = tree_of(7, salt=b"x").root()
    with pytest.raises(AnchorMismatchError) as info:
        check_checkpoint_against_anchor(7, other, 7, TREE.root(7), [])
    message = str(info.value)
    assert other.hex() in message and TREE.root(7).hex() in message
    assert isinstance(info.value, VerificationError)


def test_rewritten_history_fails_in_both_directions() -> None:
    forked = tree_of(40)
    # Same first 10 leaves, then a different 11th: a rewrite after size 10.
    forked = MemoryTree()
    for i in range(40):
        forked.append((b"y" if i == 10 else b"") + i.to_bytes(8, "big"))
    # The anchor is size 20 of the real history; the checkpoint a size-40 forked tree whose
    # own consistency proof from 20 is perfectly well-formed.
    with pytest.raises(AnchorMismatchError):
        check_checkpoint_against_anchor(
            40, forked.root(40), 20, TREE.root(20), forked.consistency_proof(20, 40)
        )
    with pytest.raises(AnchorMismatchError):
        check_checkpoint_against_anchor(
            20, forked.root(20), 40, TREE.root(40), forked.consistency_proof(20, 40)
        )
    # The part before the rewrite still checks.
    check_checkpoint_against_anchor(
        10, forked.root(10), 20, TREE.root(20), TREE.consistency_proof(10, 20)
    )


def test_tampered_and_wrong_length_proofs_fail() -> None:
    path = TREE.consistency_proof(13, 40)
    flipped = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
    with pytest.raises(AnchorMismatchError, match="mismatch"):
        check_checkpoint_against_anchor(40, TREE.root(40), 13, TREE.root(13), flipped)
    with pytest.raises(AnchorMismatchError, match="wrong proof size"):
        check_checkpoint_against_anchor(40, TREE.root(40), 13, TREE.root(13), path[:-1])
    with pytest.raises(AnchorMismatchError, match="wrong proof size"):
        check_checkpoint_against_anchor(13, TREE.root(13), 13, TREE.root(13), path)


@pytest.mark.parametrize(
    ("size", "root", "anchored", "anchored_root", "path"),
    [
        pytest.param(7, b"\x00" * 31, 7, TREE.root(7), [], id="short-root"),
        pytest.param(7, TREE.root(7), 7, b"\x00" * 33, [], id="long-anchored-root"),
        pytest.param(True, TREE.root(1), 1, TREE.root(1), [], id="bool-size"),
        pytest.param(-1, TREE.root(1), 1, TREE.root(1), [], id="negative-size"),
        pytest.param(2**64, TREE.root(1), 1, TREE.root(1), [], id="size-beyond-uint64"),
        pytest.param(3, TREE.root(3), 0, hashlib.sha256().digest(), [], id="anchored-size-0"),
        pytest.param(
            40, TREE.root(40), 13, TREE.root(13), [b"\x01" * 32] * 5 + [b"\x02"], id="short-node"
        ),
    ],
)
def test_malformed_input_is_a_named_error(
    size: int, root: bytes, anchored: int, anchored_root: bytes, path: list[bytes]
) -> None:
    with pytest.raises(MalformedInputError):
        check_checkpoint_against_anchor(size, root, anchored, anchored_root, path)
