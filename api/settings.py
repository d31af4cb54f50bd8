"""Service settings: one frozen dataclass, built by ``lotproof serve`` or by a test.

Defaults give the embedded set-up: SQLite in ``data_dir/ledger.db``, the persistent
in-process chain in ``data_dir/chain.db``, checkpoint keys in ``data_dir/note.key``, the token
secret in ``data_dir/token.secret``. ``database_url`` selects PostgreSQL, ``rpc_url`` an
external EVM JSON-RPC endpoint, ``chain="none"`` runs without a chain (no anchors, no
escrow).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ledger.errors import MalformedInputError

ChainMode = Literal["embedded", "rpc", "none"]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    admin_keys: Mapping[str, bytes]
    """Consortium admins: USCC (or admin id) -> Ed25519 public key; they sign enrolments."""
    database_url: str | None = None
    chain: ChainMode = "embedded"
    rpc_url: str | None = None
    origin: str = "lotproof.local/log"
    """The log's checkpoint origin line (C2SP tlog-checkpoint)."""
    note_signer: str | None = None
    """``PRIVATE+KEY+...`` checkpoint signing key; default: generated once in the data dir."""
    token_secret: bytes | None = None
    token_ttl: int = 900
    challenge_ttl: int = 120
    sequencer_interval: float = 0.2
    """Seconds between checks for new leaves to checkpoint (the target is <= 1 s)."""
    anchor_interval: float = 5.0
    """Seconds between anchor publications (when a chain is configured)."""
    run_background: bool = True
    """Run the sequencer (and anchor publisher) thread; tests may drive them by hand."""
    max_batch: int = 5000
    max_body_bytes: int = 32 << 20
    chain_deployer: int = 0
    """Index of the embedded chain's dev account that deploys and anchors."""
    contracts: Mapping[str, str] = field(default_factory=dict)
    """Existing contract addresses (``AnchorRegistry``, ``TradeEscrow``) on an RPC chain."""

    def __post_init__(self) -> None:
        if self.chain not in ("embedded", "rpc", "none"):
            raise MalformedInputError(f"chain must be embedded, rpc or none, got {self.chain!r}")
        if self.chain == "rpc" and not self.rpc_url:
            raise MalformedInputError("chain 'rpc' needs rpc_url")
        for uscc, key in self.admin_keys.items():
            if not isinstance(key, bytes) or len(key) != 32:
                raise MalformedInputError(f"admin {uscc} key must be 32 bytes of Ed25519")
        if self.max_batch < 1:
            raise MalformedInputError("max_batch must be at least 1")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"
