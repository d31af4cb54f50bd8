"""The service's side of the chain: contracts, anchors, escrow status, a narrow RPC relay.

- On first start the AnchorRegistry and TradeEscrow are deployed (by the embedded chain's dev
  account, or an RPC node's first unlocked account) and their addresses saved in
  ``data_dir/contracts.json``; later starts reuse them.
- ``publish()`` anchors the latest checkpoint (``anchors.publisher.AnchorPublisher``) and
  remembers where (transaction, block) in the ``api_anchors`` table, so proof bundles can
  name the anchor without a chain scan.
- ``relay(method, params)`` forwards a fixed allow-list of JSON-RPC methods, so participants'
  clients sign escrow transactions locally and send them raw through the API (on the
  embedded chain the API is the only way in). Nothing here ever holds a participant's key.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from web3.types import RPCEndpoint

from anchors.chain import Chain, connect, revert_data
from anchors.check import fetch_latest_anchor
from anchors.errors import ChainError
from anchors.escrow import EscrowClient
from anchors.publisher import AlreadyAnchored, AnchorPublisher, AnchorResult
from api.settings import Settings
from ledger.errors import MalformedInputError, NotFoundError
from ledger.storage.db import Database, Transaction
from ledger.storage.log import MerkleLog

log = logging.getLogger("lotproof.api.chain")
T = TypeVar("T")

RELAY_METHODS = frozenset(
    {
        "eth_chainId",
        "eth_accounts",
        "net_version",
        "eth_blockNumber",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_getBlockByNumber",
        "eth_getTransactionCount",
        "eth_getBalance",
        "eth_getCode",
        "eth_call",
        "eth_estimateGas",
        "eth_sendRawTransaction",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_getLogs",
    }
)

_SCHEMA = [
    "CREATE TABLE api_anchors (tree_size {bigint} PRIMARY KEY, root {blob} NOT NULL,"
    " anchor_index {bigint} NOT NULL, chain_id {bigint} NOT NULL, registry TEXT NOT NULL,"
    " tx_hash {blob} NOT NULL, block_number {bigint} NOT NULL)",
]


@dataclass(frozen=True)
class AnchorRow:
    tree_size: int
    root: bytes
    anchor_index: int
    chain_id: int
    registry: str
    tx_hash: bytes
    block_number: int

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root.hex(),
            "anchor_index": self.anchor_index,
            "chain_id": self.chain_id,
            "registry": self.registry,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
        }


class ChainLink:
    """Every chain call runs on one dedicated thread (the embedded chain's store is bound to
    the thread that opened it, and web3 providers are not meant for concurrent use)."""

    def __init__(self, settings: Settings, db: Database, merkle_log: MerkleLog) -> None:
        self.db = db
        self.log = merkle_log
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lotproof-chain")
        self._embedded: Any = None
        self._run(lambda: self._open(settings))

    def _run(self, fn: Callable[[], T]) -> T:
        if threading.current_thread().name.startswith("lotproof-chain"):
            return fn()
        return self._pool.submit(fn).result()

    def _open(self, settings: Settings) -> None:
        if settings.chain == "embedded":
            from anchors.embedded import open_embedded_chain

            self._embedded = open_embedded_chain(settings.data_dir / "chain.db")
            self.chain: Chain = self._embedded.connect()
        else:
            self.chain = connect(settings.rpc_url)
        self.sender = self.chain.accounts[settings.chain_deployer] if self.chain.accounts else ""
        self.db.ensure_schema("api_anchors", 1, _SCHEMA)
        addresses = dict(settings.contracts) or self._load_or_deploy(settings.data_dir)
        self.registry = self.chain.contract("AnchorRegistry", addresses["AnchorRegistry"])
        self.escrow = EscrowClient(
            self.chain.contract("TradeEscrow", addresses["TradeEscrow"]), self.chain
        )
        self.publisher = AnchorPublisher(self.registry, self.sender, _LogSource(self.log))

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def registry_address(self) -> str:
        return str(self.registry.address)

    def _load_or_deploy(self, data_dir: Path) -> dict[str, str]:
        path = data_dir / "contracts.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("chain_id") != self.chain.chain_id:
                raise ChainError(
                    f"{path} is for chain {saved.get('chain_id')}, the chain is"
                    f" {self.chain.chain_id}"
                )
            return {k: str(v) for k, v in saved.items() if k != "chain_id"}
        if not self.sender:
            raise ChainError("the chain has no unlocked account to deploy the contracts from")
        registry = self.chain.deploy("AnchorRegistry", self.sender, self.sender, sender=self.sender)
        escrow = self.chain.deploy(
            "TradeEscrow", self.sender, self.sender, registry.address, sender=self.sender
        )
        addresses = {"AnchorRegistry": str(registry.address), "TradeEscrow": str(escrow.address)}
        path.write_text(json.dumps({"chain_id": self.chain.chain_id, **addresses}, indent=2))
        return addresses

    # --- anchors -------------------------------------------------------------------------------

    def publish(self) -> AnchorRow | None:
        """Anchor the latest checkpoint if the chain lacks it; return the new anchor row."""
        return self._run(self._publish)

    def _publish(self) -> AnchorRow | None:
        with self._lock:
            outcome = self.publisher.publish_once()
            if isinstance(outcome, AlreadyAnchored) or not isinstance(outcome, AnchorResult):
                return None
            row = AnchorRow(
                outcome.tree_size,
                outcome.root,
                outcome.index,
                self.chain_id,
                self.registry_address,
                outcome.tx_hash,
                outcome.block_number,
            )
            with self.db.write() as tx:
                tx.execute(
                    "INSERT INTO api_anchors (tree_size, root, anchor_index, chain_id, registry,"
                    " tx_hash, block_number) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (tree_size) DO NOTHING",
                    (
                        row.tree_size,
                        row.root,
                        row.anchor_index,
                        row.chain_id,
                        row.registry,
                        row.tx_hash,
                        row.block_number,
                    ),
                )
            if self._embedded is not None:
                self._embedded.save()
            return row

    def anchors(self, limit: int = 100, tx: Transaction | None = None) -> list[AnchorRow]:
        sql = (
            "SELECT tree_size, root, anchor_index, chain_id, registry, tx_hash, block_number"
            " FROM api_anchors ORDER BY tree_size DESC LIMIT ?"
        )
        if tx is not None:
            rows = tx.query(sql, (limit,))
        else:
            with self.db.read() as t:
                rows = t.query(sql, (limit,))
        return [_anchor_row(r) for r in rows]

    def latest_anchor(self) -> AnchorRow | None:
        rows = self.anchors(1)
        return rows[0] if rows else None

    def chain_latest(self) -> tuple[int, bytes] | None:
        """The registry's latest anchor as read from the chain itself."""
        found = self._run(lambda: fetch_latest_anchor(self.registry))
        return None if found is None else (found.tree_size, found.root)

    # --- escrow --------------------------------------------------------------------------------

    def escrow_status(self, buyer: str, order_id: bytes) -> dict[str, Any]:
        status = self._run(lambda: self.escrow.status(buyer, order_id))
        return {
            "buyer": status.buyer,
            "order_id": "0x" + status.order_id.hex(),
            "seller": status.seller,
            "token": status.token,
            "amount": status.amount,
            "deadline": status.deadline,
            "state": status.state.name.lower(),
        }

    def enrol_account(self, address: str) -> None:
        """Admit a participant's EVM account to the escrow (idempotent)."""

        def enrol() -> None:
            if not self.escrow.is_enrolled(address):
                self.escrow.enrol(self.sender, address)
            if self._embedded is not None:
                self._embedded.save()

        self._run(enrol)

    def relay(self, method: str, params: list[Any]) -> dict[str, Any]:
        """Forward one allow-listed call; returns ``{"result": ...}`` or ``{"error": {...}}``
        (a JSON-RPC error object, so clients decode reverts as they would from a node)."""
        if method not in RELAY_METHODS:
            raise MalformedInputError(
                f"JSON-RPC method {method!r} is not relayed;"
                f" allowed: {', '.join(sorted(RELAY_METHODS))}"
            )
        if (
            method in ("eth_call", "eth_estimateGas")
            and params
            and isinstance(params[0], dict)
            and not params[0].get("from")
        ):
            params = [{**params[0], "from": self.sender}, *params[1:]]

        def call() -> dict[str, Any]:
            try:
                if self._embedded is not None:
                    # The in-process provider speaks Python values: go through web3's
                    # middleware, which converts hex in and camelCase fields out.
                    endpoint = RPCEndpoint(method)
                    answer = {"result": self.chain.w3.manager.request_blocking(endpoint, params)}
                else:
                    answer = dict(self.chain.w3.provider.make_request(RPCEndpoint(method), params))
            except Exception as exc:  # the node refused: report it as a JSON-RPC error
                data = getattr(exc, "data", None)
                reverted_with = revert_data(exc)
                if reverted_with is not None:  # every backend's revert shape, as a node sends it
                    data = "0x" + reverted_with.hex()
                reverted = reverted_with is not None or "revert" in str(exc).lower()
                error: dict[str, Any] = {
                    "code": 3 if reverted else -32000,
                    "message": "execution reverted" if reverted else f"{type(exc).__name__}: {exc}",
                }
                if isinstance(data, str | bytes):
                    error["data"] = _plain_json(data)
                return {"error": error}
            if self._embedded is not None and method == "eth_sendRawTransaction":
                self._embedded.save()
            return dict(answer)

        response = self._run(call)
        if "error" in response:
            error = response["error"]
            if not isinstance(error, dict):
                error = {"code": -32000, "message": str(error)}
            return {"error": {k: v if k == "code" else _plain_json(v) for k, v in error.items()}}
        return {"result": _plain_json(response.get("result"))}

    def close(self) -> None:
        if self._embedded is not None:
            self._run(self._embedded.close)
        self._pool.shutdown(wait=True)


def _plain_json(value: Any) -> Any:
    """JSON-RPC wire form: bytes and quantities as 0x hex (in-process providers give ints)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


def _anchor_row(r: tuple[Any, ...]) -> AnchorRow:
    return AnchorRow(
        int(r[0]), bytes(r[1]), int(r[2]), int(r[3]), str(r[4]), bytes(r[5]), int(r[6])
    )


class _LogSource:
    """The publisher's view of the log: the latest stored checkpoint and proofs."""

    def __init__(self, merkle_log: MerkleLog) -> None:
        self.log = merkle_log

    def latest_checkpoint(self) -> Any:
        return self.log.latest_checkpoint()

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.log.consistency_proof(size1, size2)

    def root(self, size: int) -> bytes:
        return self.log.root(size)


def find_anchor_covering(rows: list[AnchorRow], size: int) -> AnchorRow:
    """The largest anchor of at most ``size`` leaves, else the smallest larger one."""
    if not rows:
        raise NotFoundError("nothing is anchored yet")
    below = [r for r in rows if r.tree_size <= size]
    if below:
        return max(below, key=lambda r: r.tree_size)
    return min(rows, key=lambda r: r.tree_size)
