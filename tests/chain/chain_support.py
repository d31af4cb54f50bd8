"""Shared helpers of the contract tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anchors.chain import Chain


@dataclass
class Parties:
    """Named accounts: roles are fixed by index on both backends."""

    admin: str
    anchorer: str
    arbiter: str
    buyer: str
    seller: str
    other: str
    buyer2: str


@dataclass
class Deployment:
    """The contracts deployed once per backend and session."""

    chain: Chain
    parties: Parties
    registry: Any
    escrow: Any
    token: Any


def events(contract: Any, name: str, receipt: Any) -> list[dict[str, Any]]:
    """The decoded ``name`` events ``contract`` emitted in ``receipt`` (their args)."""
    from web3.logs import DISCARD

    found = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == contract.address]
