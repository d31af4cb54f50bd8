"""The on-chain RFC 9162 verifier (through RFC9162Harness) against ledger.merkle.

Hundreds of random trees, leaves and size pairs: every proof the Python implementation
produces verifies on chain with the same root, and every mutation (wrong length, flipped
bit, index out of range, sizes out of order) fails on chain exactly as it fails in Python:
a wrong length reverts with the same (got, want), a wrong hash returns false.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from chain_support import Deployment

from anchors.errors import ContractRevert
from ledger.errors import IndexRangeError, ProofSizeError, RootMismatchError
from ledger.merkle import (
    MemoryTree,
    consistency_proof_size,
    hash_children,
    hash_leaf,
    inclusion_proof_size,
    verify_consistency,
    verify_inclusion,
)

TREE_SIZE = 300
CASES = 120


@pytest.fixture
def harness(deployment: Deployment) -> Any:
    return deployment.chain.deploy("RFC9162Harness")


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    rng = random.Random(9162)
    t = MemoryTree()
    for _ in range(TREE_SIZE):
        t.append(rng.randbytes(rng.randrange(0, 80)))
    return t


def flip_bit(value: bytes, rng: random.Random) -> bytes:
    bit = rng.randrange(len(value) * 8)
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def expect_revert(deployment: Deployment, fn: Any) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        deployment.chain.call(fn)
    return info.value


def test_hashes_match_python(deployment: Deployment, harness: Any) -> None:
    rng = random.Random(1)
    for length in (0, 1, 31, 32, 33, 64, 65, 288, 1000):
        data = rng.randbytes(length)
        assert deployment.chain.call(harness.functions.hashLeaf(data)) == hash_leaf(data)
    for _ in range(5):
        left, right = rng.randbytes(32), rng.randbytes(32)
        got = deployment.chain.call(harness.functions.hashChildren(left, right))
        assert got == hash_children(left, right)


def test_proof_sizes_match_python(deployment: Deployment, harness: Any) -> None:
    rng = random.Random(2)
    for _ in range(40):
        size = rng.randrange(1, 1 << rng.randrange(1, 63))
        index = rng.randrange(size)
        got = deployment.chain.call(harness.functions.inclusionProofSize(index, size))
        assert got == inclusion_proof_size(index, size)
        size2 = rng.randrange(2, 1 << rng.randrange(2, 63))
        size1 = rng.randrange(1, size2)
        got = deployment.chain.call(harness.functions.consistencyProofSize(size1, size2))
        assert got == consistency_proof_size(size1, size2)


def test_random_inclusion_proofs(deployment: Deployment, harness: Any, tree: MemoryTree) -> None:
    rng = random.Random(3)
    call = deployment.chain.call
    for _ in range(CASES):
        size = rng.randrange(1, TREE_SIZE + 1)
        index = rng.randrange(size)
        leaf, root = tree.leaf_hash(index), tree.root(size)
        path = tree.inclusion_proof(index, size)
        verify_inclusion(index, size, leaf, path, root)
        if rng.random() < 0.5:
            assert call(harness.functions.rootFromInclusionProof(index, size, leaf, path)) == root
        else:
            assert call(harness.functions.verifyInclusion(index, size, leaf, path, root)) is True

        # A flipped bit in the leaf, a path element or the root (one picked at random per
        # case): a mismatch, not a revert.
        mutations = [(flip_bit(leaf, rng), path, root), (leaf, path, flip_bit(root, rng))]
        if path:
            k = rng.randrange(len(path))
            bad = [*path[:k], flip_bit(path[k], rng), *path[k + 1 :]]
            mutations.append((leaf, bad, root))
        for bad_leaf, bad_path, bad_root in rng.sample(mutations, 1):
            with pytest.raises(RootMismatchError):
                verify_inclusion(index, size, bad_leaf, bad_path, bad_root)
            fn = harness.functions.verifyInclusion(index, size, bad_leaf, bad_path, bad_root)
            assert call(fn) is False


def test_random_consistency_proofs(deployment: Deployment, harness: Any, tree: MemoryTree) -> None:
    rng = random.Random(4)
    call = deployment.chain.call
    for _ in range(CASES):
        size2 = rng.randrange(1, TREE_SIZE + 1)
        size1 = rng.randrange(0, size2 + 1)
        root1, root2 = tree.root(size1), tree.root(size2)
        path = tree.consistency_proof(size1, size2)
        verify_consistency(size1, size2, path, root1, root2)
        fn = harness.functions.verifyConsistency(size1, size2, root1, root2, path)
        assert call(fn) is True
        mutations = []
        if size1:  # any tree extends the empty one: neither root is then constrained
            mutations.append((flip_bit(root1, rng), root2, path))
            mutations.append((root1, flip_bit(root2, rng), path))
        if path:
            k = rng.randrange(len(path))
            mutations.append((root1, root2, [*path[:k], flip_bit(path[k], rng), *path[k + 1 :]]))
        for bad1, bad2, bad_path in rng.sample(mutations, min(1, len(mutations))):
            with pytest.raises(RootMismatchError):
                verify_consistency(size1, size2, bad_path, bad1, bad2)
            fn = harness.functions.verifyConsistency(size1, size2, bad1, bad2, bad_path)
            assert call(fn) is False


def _length_mutations(path: list[bytes], rng: random.Random) -> list[list[bytes]]:
    """A proof one hash short, one hash long, empty, and doubled (where that differs)."""
    out = [[*path, rng.randbytes(32)], path + path]
    if path:
        out += [path[:-1], path[1:], []]
    candidates = [p for p in out if len(p) != len(path)]
    return rng.sample(candidates, min(2, len(candidates)))


def test_wrong_length_reverts_like_python(
    deployment: Deployment, harness: Any, tree: MemoryTree
) -> None:
    rng = random.Random(5)
    for _ in range(40):
        size = rng.randrange(1, TREE_SIZE + 1)
        index = rng.randrange(size)
        leaf, root = tree.leaf_hash(index), tree.root(size)
        for bad in _length_mutations(tree.inclusion_proof(index, size), rng):
            with pytest.raises(ProofSizeError) as py:
                verify_inclusion(index, size, leaf, bad, root)
            err = expect_revert(
                deployment, harness.functions.verifyInclusion(index, size, leaf, bad, root)
            )
            assert err.error_name == "RFC9162ProofSizeMismatch"
            assert err.args == (py.value.got, py.value.want)

        size2 = rng.randrange(1, TREE_SIZE + 1)
        size1 = rng.randrange(0, size2 + 1)
        root1, root2 = tree.root(size1), tree.root(size2)
        for bad in _length_mutations(tree.consistency_proof(size1, size2), rng):
            with pytest.raises(ProofSizeError) as py:
                verify_consistency(size1, size2, bad, root1, root2)
            err = expect_revert(
                deployment, harness.functions.verifyConsistency(size1, size2, root1, root2, bad)
            )
            assert err.error_name == "RFC9162ProofSizeMismatch"
            assert err.args == (py.value.got, py.value.want)


def test_ranges_revert_like_python(deployment: Deployment, harness: Any, tree: MemoryTree) -> None:
    leaf, root = tree.leaf_hash(0), tree.root(10)
    for index, size in ((10, 10), (11, 10), (0, 0)):
        with pytest.raises(IndexRangeError):
            verify_inclusion(index, size, leaf, [], root)
        err = expect_revert(
            deployment, harness.functions.rootFromInclusionProof(index, size, leaf, [])
        )
        assert err.error_name == "RFC9162IndexOutOfRange"
        assert err.args == (index, size)
    with pytest.raises(IndexRangeError):
        verify_consistency(11, 10, [], tree.root(11), root)
    err = expect_revert(
        deployment, harness.functions.verifyConsistency(11, 10, tree.root(11), root, [])
    )
    assert err.error_name == "RFC9162SizesOutOfOrder"
    assert err.args == (11, 10)


def test_equal_and_empty_sizes(deployment: Deployment, harness: Any, tree: MemoryTree) -> None:
    call = deployment.chain.call
    root = tree.root(7)
    assert call(harness.functions.verifyConsistency(7, 7, root, root, [])) is True
    assert call(harness.functions.verifyConsistency(7, 7, root, tree.root(8), [])) is False
    # Every tree extends the empty one, whatever root1 says (as in ledger.merkle).
    empty = tree.root(0)
    for root1 in (empty, root, bytes(32)):
        verify_consistency(0, 7, [], root1, root)
        assert call(harness.functions.verifyConsistency(0, 7, root1, root, [])) is True
    err = expect_revert(deployment, harness.functions.verifyConsistency(7, 7, root, root, [root]))
    assert (err.error_name, err.args) == ("RFC9162ProofSizeMismatch", (1, 0))


def test_truncated_calldata_reverts(deployment: Deployment, harness: Any, tree: MemoryTree) -> None:
    """A proof array whose declared length exceeds the calldata: the ABI decoder refuses it."""
    chain = deployment.chain
    path = tree.inclusion_proof(3, 100)
    fn = harness.functions.verifyInclusion(3, 100, tree.leaf_hash(3), path, tree.root(100))
    data = bytes.fromhex(fn._encode_transaction_data()[2:])
    assert chain.w3.eth.call({"to": harness.address, "data": data}) == (1).to_bytes(32, "big")
    for cut in (1, 31, 32, 64):
        with pytest.raises(Exception) as info:
            chain.w3.eth.call({"to": harness.address, "data": data[:-cut]})
        from anchors.chain import as_contract_revert

        err = as_contract_revert(info.value)
        assert err.error_name is None and err.data == b""
