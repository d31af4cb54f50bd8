"""Helpers shared by the chain-client tests: the project's contracts deployed on a chain."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from anchors.chain import Chain
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
