"""AnchorRegistry: anchoring a growing log, its views, and every revert path."""

from __future__ import annotations

import random
from typing import Any

import pytest
from chain_support import Deployment, events
from web3 import Web3

from anchors.check import AnchorNotFoundError, fetch_anchor, fetch_anchor_at
from anchors.errors import ContractRevert
from ledger.errors import IndexRangeError
from ledger.merkle import MemoryTree

ANCHORER_ROLE = Web3.keccak(text="ANCHORER_ROLE")
ADMIN_ROLE = bytes(32)


def grow(tree: MemoryTree, n: int, rng: random.Random) -> None:
    for _ in range(n):
        tree.append(rng.randbytes(48))


def anchor(d: Deployment, tree: MemoryTree, size: int, last: int, sender: str | None = None) -> Any:
    proof = tree.consistency_proof(last, size) if last else []
    fn = d.registry.functions.anchor(size, tree.root(size), proof)
    return d.chain.transact(fn, sender or d.parties.anchorer)


def reverts(d: Deployment, fn: Any, sender: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        d.chain.transact(fn, sender)
    return info.value


def call_reverts(d: Deployment, fn: Any) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        d.chain.call(fn)
    return info.value


def test_growing_log_and_views(deployment: Deployment) -> None:
    d, reg, call = deployment, deployment.registry.functions, deployment.chain.call
    rng = random.Random(11)
    tree = MemoryTree()
    sizes: list[int] = []
    last = 0
    for step in range(11):
        grow(tree, rng.randrange(1, 40), rng)
        receipt = anchor(d, tree, tree.size, last)
        assert events(d.registry, "Anchored", receipt) == [
            {"index": step, "treeSize": tree.size, "root": tree.root()}
        ]
        sizes.append(tree.size)
        last = tree.size
        assert call(reg.anchorCount()) == step + 1
        assert call(reg.latestAnchor()) == [step, tree.size, tree.root()]
    # By size from storage, by index from the Anchored event's topic (checked against storage).
    for index, size in enumerate(sizes):
        assert call(reg.rootForSize(size)) == tree.root(size)
        by_index = fetch_anchor_at(d.registry, index)
        assert (by_index.index, by_index.tree_size, by_index.root) == (index, size, tree.root(size))
        assert fetch_anchor(d.registry, size) == by_index
    never = next(s for s in range(1, last) if s not in sizes)
    assert call(reg.rootForSize(never)) == bytes(32)
    with pytest.raises(AnchorNotFoundError):
        fetch_anchor(d.registry, never)
    with pytest.raises(IndexRangeError):
        fetch_anchor_at(d.registry, len(sizes))


def test_empty_registry_views(deployment: Deployment) -> None:
    reg, call = deployment.registry.functions, deployment.chain.call
    assert call(reg.anchorCount()) == 0
    assert call_reverts(deployment, reg.latestAnchor()).error_name == "AnchorRegistryNoAnchor"
    assert call(reg.rootForSize(1)) == bytes(32)
    with pytest.raises(IndexRangeError):
        fetch_anchor_at(deployment.registry, 0)


def test_only_the_anchorer_anchors(deployment: Deployment) -> None:
    d = deployment
    tree = MemoryTree()
    grow(tree, 5, random.Random(1))
    for sender in (d.parties.admin, d.parties.other, d.parties.buyer):
        err = reverts(d, d.registry.functions.anchor(5, tree.root(), []), sender)
        assert err.error_name == "AccessControlUnauthorizedAccount"
        assert err.args == (sender.lower(), ANCHORER_ROLE)
    assert d.chain.call(d.registry.functions.anchorCount()) == 0


def test_rotate_anchorer(deployment: Deployment) -> None:
    d, reg = deployment, deployment.registry.functions
    tree = MemoryTree()
    grow(tree, 8, random.Random(2))
    err = reverts(d, reg.rotateAnchorer(d.parties.other), d.parties.anchorer)
    assert (err.error_name, err.args) == (
        "AccessControlUnauthorizedAccount",
        (d.parties.anchorer.lower(), ADMIN_ROLE),
    )
    err = reverts(d, reg.rotateAnchorer("0x" + "00" * 20), d.parties.admin)
    assert err.error_name == "AnchorRegistryZeroAddress"
    receipt = d.chain.transact(reg.rotateAnchorer(d.parties.other), d.parties.admin)
    assert events(d.registry, "AnchorerRotated", receipt) == [
        {"previous": d.parties.anchorer, "current": d.parties.other}
    ]
    assert d.chain.call(reg.anchorer()) == d.parties.other
    assert d.chain.call(reg.hasRole(ANCHORER_ROLE, d.parties.anchorer)) is False
    err = reverts(d, reg.anchor(4, tree.root(4), []), d.parties.anchorer)
    assert err.error_name == "AccessControlUnauthorizedAccount"
    anchor(d, tree, 4, 0, sender=d.parties.other)
    anchor(d, tree, 8, 4, sender=d.parties.other)
    assert d.chain.call(reg.latestAnchor()) == [1, 8, tree.root(8)]


def test_stale_tree_sizes(deployment: Deployment) -> None:
    d, reg = deployment, deployment.registry.functions
    tree = MemoryTree()
    grow(tree, 20, random.Random(3))
    err = reverts(d, reg.anchor(0, tree.root(0), []), d.parties.anchorer)
    assert (err.error_name, err.args) == ("AnchorRegistryStaleTreeSize", (0, 0))
    anchor(d, tree, 10, 0)
    for size in (10, 9, 1):
        err = reverts(d, reg.anchor(size, tree.root(size), []), d.parties.anchorer)
        assert (err.error_name, err.args) == ("AnchorRegistryStaleTreeSize", (10, size))


def test_first_anchor_takes_no_proof_and_no_zero_root(deployment: Deployment) -> None:
    d, reg = deployment, deployment.registry.functions
    tree = MemoryTree()
    grow(tree, 6, random.Random(4))
    err = reverts(d, reg.anchor(6, tree.root(), [tree.root(3)]), d.parties.anchorer)
    assert (err.error_name, err.args) == ("RFC9162ProofSizeMismatch", (1, 0))
    err = reverts(d, reg.anchor(6, bytes(32), []), d.parties.anchorer)
    assert err.error_name == "AnchorRegistryZeroRoot"


def test_inconsistent_history_is_refused(deployment: Deployment) -> None:
    d, reg = deployment, deployment.registry.functions
    rng = random.Random(5)
    honest, forked = MemoryTree(), MemoryTree()
    for i in range(40):
        data = rng.randbytes(32)
        honest.append(data)
        forked.append(data if i != 7 else b"rewritten record")
    anchor(d, honest, 16, 0)
    anchor(d, honest, 23, 16)
    # The forked log rewrote leaf 7: its own consistency proof cannot link to the anchors.
    proof = forked.consistency_proof(23, 40)
    err = reverts(d, reg.anchor(40, forked.root(40), proof), d.parties.anchorer)
    assert err.error_name == "AnchorRegistryInconsistentHistory"
    # A flipped bit in an honest proof, or the honest proof with a forged new root.
    proof = honest.consistency_proof(23, 40)
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    err = reverts(d, reg.anchor(40, honest.root(40), bad), d.parties.anchorer)
    assert err.error_name == "AnchorRegistryInconsistentHistory"
    err = reverts(d, reg.anchor(40, forked.root(40), proof), d.parties.anchorer)
    assert err.error_name == "AnchorRegistryInconsistentHistory"
    # A proof from another old size has the wrong length for (23, 40).
    wrong = honest.consistency_proof(16, 40)
    if len(wrong) != len(proof):
        err = reverts(d, reg.anchor(40, honest.root(40), wrong), d.parties.anchorer)
        assert err.error_name == "RFC9162ProofSizeMismatch"
        assert err.args == (len(wrong), len(proof))
    err = reverts(d, reg.anchor(40, honest.root(40), []), d.parties.anchorer)
    assert (err.error_name, err.args) == ("RFC9162ProofSizeMismatch", (0, len(proof)))
    anchor(d, honest, 40, 23)
    assert d.chain.call(reg.latestAnchor()) == [2, 40, honest.root(40)]


def test_constructor_refuses_zero_addresses(deployment: Deployment) -> None:
    d = deployment
    zero = "0x" + "00" * 20
    for args in ((zero, d.parties.anchorer), (d.parties.admin, zero)):
        with pytest.raises(ContractRevert) as info:
            d.chain.deploy("AnchorRegistry", *args)
        assert info.value.error_name == "AnchorRegistryZeroAddress"


def test_granting_the_anchorer_role_moves_it_and_the_history(deployment: Deployment) -> None:
    """One holder: grantRole(ANCHORER_ROLE) is a rotation, and the views follow."""
    d, reg, call = deployment, deployment.registry.functions, deployment.chain.call
    rng = random.Random(6)
    tree = MemoryTree()
    sizes: list[int] = []
    last = 0
    for _ in range(6):
        grow(tree, rng.randrange(1, 20), rng)
        anchor(d, tree, tree.size, last)
        sizes.append(last := tree.size)
    receipt = d.chain.transact(reg.grantRole(ANCHORER_ROLE, d.parties.other), d.parties.admin)
    assert events(d.registry, "AnchorerRotated", receipt) == [
        {"previous": d.parties.anchorer, "current": d.parties.other}
    ]
    assert [e["account"] for e in events(d.registry, "RoleRevoked", receipt)] == [
        d.parties.anchorer
    ]
    assert call(reg.hasRole(ANCHORER_ROLE, d.parties.anchorer)) is False
    assert call(reg.hasRole(ANCHORER_ROLE, d.parties.other)) is True
    assert call(reg.anchorer()) == d.parties.other
    err = reverts(d, reg.anchor(tree.size + 1, tree.root(), []), d.parties.anchorer)
    assert err.error_name == "AccessControlUnauthorizedAccount"
    # The new holder continues the same history: the proof must start at the latest anchor.
    grow(tree, 9, rng)
    err = reverts(d, reg.anchor(tree.size, tree.root(), []), d.parties.other)
    assert err.error_name == "RFC9162ProofSizeMismatch"
    for _ in range(5):
        anchor(d, tree, tree.size, last, sender=d.parties.other)
        sizes.append(last := tree.size)
        grow(tree, rng.randrange(1, 20), rng)
    assert call(reg.anchorCount()) == len(sizes)
    for index, size in enumerate(sizes):
        assert fetch_anchor_at(d.registry, index).tree_size == size
        assert fetch_anchor(d.registry, size).index == index
    # Granting to the holder again changes nothing and emits nothing.
    receipt = d.chain.transact(reg.grantRole(ANCHORER_ROLE, d.parties.other), d.parties.admin)
    assert events(d.registry, "AnchorerRotated", receipt) == []
    err = reverts(d, reg.grantRole(ANCHORER_ROLE, "0x" + "00" * 20), d.parties.admin)
    assert err.error_name == "AnchorRegistryZeroAddress"


def test_revoked_anchorer_role_suspends_anchoring(deployment: Deployment) -> None:
    d, reg, call = deployment, deployment.registry.functions, deployment.chain.call
    rng = random.Random(7)
    tree = MemoryTree()
    grow(tree, 12, rng)
    anchor(d, tree, 5, 0)
    anchor(d, tree, 12, 5)
    receipt = d.chain.transact(
        reg.renounceRole(ANCHORER_ROLE, d.parties.anchorer), d.parties.anchorer
    )
    assert events(d.registry, "AnchorerRotated", receipt) == [
        {"previous": d.parties.anchorer, "current": "0x" + "00" * 20}
    ]
    assert call(reg.anchorer()) == "0x" + "00" * 20
    assert call(reg.hasRole(ANCHORER_ROLE, "0x" + "00" * 20)) is False
    for sender in (d.parties.anchorer, d.parties.admin, d.parties.other):
        err = reverts(d, reg.anchor(13, tree.root(), []), sender)
        assert err.error_name == "AccessControlUnauthorizedAccount"
    # The views still answer while nobody holds the role.
    assert call(reg.anchorCount()) == 2
    assert call(reg.latestAnchor()) == [1, 12, tree.root(12)]
    assert fetch_anchor_at(d.registry, 0).root == tree.root(5)
    # Revoking from an account that does not hold the role is a no-op.
    receipt = d.chain.transact(reg.revokeRole(ANCHORER_ROLE, d.parties.other), d.parties.admin)
    assert events(d.registry, "AnchorerRotated", receipt) == []
    d.chain.transact(reg.rotateAnchorer(d.parties.other), d.parties.admin)
    grow(tree, 4, rng)
    anchor(d, tree, 16, 12, sender=d.parties.other)
    assert call(reg.latestAnchor()) == [2, 16, tree.root(16)]
    # DEFAULT_ADMIN_ROLE is plain AccessControl, untouched by the anchorer moves.
    assert call(reg.hasRole(ADMIN_ROLE, d.parties.admin)) is True
    assert call(reg.hasRole(ADMIN_ROLE, d.parties.other)) is False


def test_anchor_gas_one_new_slot_each(deployment: Deployment) -> None:
    """Every anchor writes exactly one new slot (its root): none pays a second 22,100."""
    d = deployment
    rng = random.Random(8)
    tree = MemoryTree()
    grow(tree, 1000, rng)
    anchor(d, tree, 1000, 0)
    gas: list[int] = []
    last = 1000
    for _ in range(8):
        grow(tree, 64, rng)
        gas.append(int(anchor(d, tree, tree.size, last)["gasUsed"]))
        last = tree.size
    # 6-9-hash proofs (measured 60.2k-63.5k): they differ by their proofs' calldata and
    # hashing, far less than the 22,100 of a second new slot.
    assert max(gas) < 65_000
    assert max(gas) - min(gas) < 10_000
