"""The service's batched inclusion proofs equal ledger.merkle's, leaf by leaf."""

from __future__ import annotations

import random

from api.service import inclusion_paths
from ledger.merkle import MemoryTree


def _tree(size: int) -> MemoryTree:
    tree = MemoryTree()
    for i in range(size):
        tree.append(i.to_bytes(8, "big"))
    return tree


def test_every_leaf_of_every_small_tree() -> None:
    tree = MemoryTree()
    for size in range(1, 100):
        tree.append(size.to_bytes(8, "big"))
        got = inclusion_paths(list(range(size)), size, tree.read_nodes)
        for index in range(size):
            assert got[index] == tree.inclusion_proof(index, size), (index, size)


def test_random_leaves_of_larger_trees_and_historic_sizes() -> None:
    rng = random.Random(7)
    tree = _tree(5000)
    for size in (1024, 1025, 3333, 4095, 4096, 5000):
        indices = sorted({rng.randrange(size) for _ in range(200)} | {0, size - 1})
        got = inclusion_paths(indices, size, tree.read_nodes)
        for index in indices:
            assert got[index] == tree.inclusion_proof(index, size), (index, size)
