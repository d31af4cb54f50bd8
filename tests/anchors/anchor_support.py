"""Helpers and fixtures shared by the chain-client tests: the persistent embedded chain, anvil
nodes, the project's contracts deployed on either, a checkpoint source over a MemoryTree.

Test modules import the fixtures they use by name (no conftest.py here: several test folders
without ``__init__.py`` would each add a module named ``conftest``, and those shadow one
another for any test that imports from ``conftest``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anchors.chain import Chain, connect
from anchors.embedded import EmbeddedChain, open_embedded_chain
from anchors.node import AnvilNode
from ledger.merkle import MemoryTree


@dataclass
class Deployed:
    """AnchorRegistry and TradeEscrow on one chain, with named accounts."""

    chain: Chain
    registry: Any
    escrow: Any
    admin: str
    anchorer: str
    arbiter: str
    buyer: str
    seller: str
    other: str


def deploy_contracts(chain: Chain) -> Deployed:
    admin, anchorer, arbiter, buyer, seller, other = chain.accounts[:6]
    registry = chain.deploy("AnchorRegistry", admin, anchorer)
    escrow = chain.deploy("TradeEscrow", admin, arbiter, registry.address)
    for account in (buyer, seller):
        chain.transact(escrow.functions.enrol(account), admin)
    return Deployed(chain, registry, escrow, admin, anchorer, arbiter, buyer, seller, other)


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: bytes


class MemorySource:
    """A CheckpointSource over ledger.merkle.MemoryTree; checkpoints are taken explicitly."""

    def __init__(self, tree: MemoryTree | None = None) -> None:
        self.tree = tree or MemoryTree()
        self.checkpoints: list[Checkpoint] = []
        self.lock = threading.Lock()

    def grow(self, n: int, salt: bytes = b"") -> Checkpoint:
        """Append ``n`` leaves and take a checkpoint."""
        with self.lock:
            for _ in range(n):
                self.tree.append(salt + self.tree.size.to_bytes(8, "big"))
        return self.checkpoint()

    def checkpoint(self) -> Checkpoint:
        with self.lock:
            checkpoint = Checkpoint(self.tree.size, self.tree.root())
            self.checkpoints.append(checkpoint)
            return checkpoint

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.lock:
            return self.checkpoints[-1] if self.checkpoints else None

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self.lock:
            return self.tree.consistency_proof(size1, size2)

    def root(self, size: int) -> bytes:
        with self.lock:
            return self.tree.root(size)


@pytest.fixture(name="embedded")
def embedded_fixture(tmp_path: Path) -> Iterator[EmbeddedChain]:
    chain = open_embedded_chain(tmp_path / "chain.sqlite")
    try:
        yield chain
    finally:
        chain.close()


@pytest.fixture(
    name="any_chain", params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)]
)
def any_chain_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """The persistent embedded chain, then a real anvil node."""
    if request.param == "embedded":
        embedded = open_embedded_chain(tmp_path / "chain.sqlite")
        try:
            yield embedded.connect()
        finally:
            embedded.close()
    else:
        with AnvilNode.start() as node:
            yield connect(node.url)


@pytest.fixture(name="deployed")
def deployed_fixture(any_chain: Chain) -> Deployed:
    return deploy_contracts(any_chain)
