"""Helpers shared by the chain-client tests: the project's contracts deployed on a chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anchors.chain import Chain


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
