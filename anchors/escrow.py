"""The escrow client: TradeEscrow calls from Python, its status, and its events decoded.

Accounts are given by address (a node account it signs for) or as an ``eth_account``
``LocalAccount`` whose key signs here (a participant's own key, never sent anywhere).

Every transaction goes through ``anchors.chain.Chain.transact``, so a revert arrives as one
``ContractRevert`` carrying the contract's custom error name, and an unreachable chain as a
``ChainError``. Amounts are integers in the token's smallest unit (wei for the native coin;
the ledger's fen when the token has two decimals); order ids are 32 bytes.

``read_events`` returns every escrow event (Deposited, Released, Refunded, DisputeOpened,
DisputeResolved, Credited, Withdrawn, Enrolled, Unenrolled) with its block number,
transaction hash and log index, in chain order, for reconciliation against the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from anchors.chain import Chain, Sender
from anchors.check import call_view
from anchors.errors import ChainConnectionError, ChainError
from ledger.errors import MalformedInputError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

#: The ERC-20 functions the client needs to approve a token deposit.
ERC20_APPROVE_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"},
        ],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "allowance",
        "stateMutability": "view",
        "inputs": [
            {"name": "owner", "type": "address"},
            {"name": "spender", "type": "address"},
        ],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]

EVENT_NAMES = (
    "Deposited",
    "Released",
    "Refunded",
    "DisputeOpened",
    "DisputeResolved",
    "Credited",
    "Withdrawn",
    "Enrolled",
    "Unenrolled",
)


class EscrowState(IntEnum):
    """``escrowOf``'s status byte."""

    NONE = 0
    FUNDED = 1
    DISPUTED = 2
    RELEASED = 3
    REFUNDED = 4
    RESOLVED = 5


@dataclass(frozen=True)
class EscrowStatus:
    """One escrow as the chain holds it. ``token`` is None for the native coin."""

    buyer: str
    order_id: bytes
    seller: str | None
    token: str | None
    amount: int
    deadline: int
    state: EscrowState

    @property
    def exists(self) -> bool:
        return self.state is not EscrowState.NONE


@dataclass(frozen=True)
class EscrowTx:
    """A mined escrow transaction."""

    tx_hash: bytes
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class EscrowEvent:
    """One decoded escrow event. ``args`` maps the event's parameter names to values:
    addresses as checksummed hex strings, ``bytes32`` as bytes, integers as int."""

    name: str
    args: Mapping[str, Any]
    block_number: int
    tx_hash: bytes
    log_index: int


def _order_id(order_id: bytes) -> bytes:
    if not isinstance(order_id, bytes) or len(order_id) != 32:
        raise MalformedInputError(
            f"order id must be 32 bytes, got {type(order_id).__name__}"
            f" of length {len(order_id) if isinstance(order_id, bytes) else '-'}"
        )
    return order_id


def _amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(f"{what} must be an integer, got {type(value).__name__}")
    if not 0 <= value < 2**256:
        raise MalformedInputError(f"{what} must be a non-negative 256-bit integer, got {value}")
    return value


def _address(who: Sender) -> str:
    """The checksummed address of an account given by local key or by address (any case)."""
    if isinstance(who, LocalAccount):
        return str(who.address)
    try:
        return str(to_checksum_address(str(who)))
    except (TypeError, ValueError) as exc:
        raise MalformedInputError(f"not an EVM address: {who!r}") from exc


def _plain(value: Any) -> Any:
    if isinstance(value, HexBytes | bytearray):
        return bytes(value)
    return value


class EscrowClient:
    """Calls ``escrow_contract`` (a web3 TradeEscrow contract) through ``chain``."""

    def __init__(self, escrow_contract: Any, chain: Chain) -> None:
        self.contract = escrow_contract
        self.chain = chain
        abi_events = {e.get("name") for e in escrow_contract.abi if e.get("type") == "event"}
        self._events = [name for name in EVENT_NAMES if name in abi_events]
        self._topics: dict[bytes, str] = {}
        for name in self._events:
            event = escrow_contract.events[name]
            topic = bytes(HexBytes(event.topic if hasattr(event, "topic") else event().topic))
            self._topics[topic] = name

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def _send(self, fn: Any, sender: Sender, value: int = 0) -> EscrowTx:
        receipt = self.chain.transact(fn, sender, value=value)
        return EscrowTx(
            tx_hash=bytes(receipt["transactionHash"]),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
        )

    # -- administration ----------------------------------------------------------------

    def enrol(self, admin: Sender, account: Sender) -> EscrowTx:
        return self._send(self.contract.functions.enrol(_address(account)), admin)

    def unenrol(self, admin: Sender, account: Sender) -> EscrowTx:
        return self._send(self.contract.functions.unenrol(_address(account)), admin)

    def is_enrolled(self, account: Sender) -> bool:
        fn = self.contract.functions.isEnrolled(_address(account))
        return bool(call_view(fn, "enrolment"))

    # -- escrow life cycle -------------------------------------------------------------

    def deposit(
        self,
        buyer: Sender,
        order_id: bytes,
        seller: Sender,
        amount: int,
        deadline: int,
        *,
        token: str | None = None,
    ) -> EscrowTx:
        """Fund the escrow of ``(buyer, order_id)``: native coin, or an ERC-20 ``token``.

        For a token, the client first approves the escrow for ``amount`` if the current
        allowance is lower (one more transaction, from ``buyer``).
        """
        order_id = _order_id(order_id)
        seller = _address(seller)
        _amount(amount, "amount")
        _amount(deadline, "deadline")
        if token is None:
            return self._send(
                self.contract.functions.deposit(order_id, seller, deadline), buyer, value=amount
            )
        erc20 = self.contract.w3.eth.contract(address=token, abi=ERC20_APPROVE_ABI)
        allowance = int(
            call_view(erc20.functions.allowance(_address(buyer), self.address), "allowance")
        )
        if allowance < amount:
            self._send(erc20.functions.approve(self.address, amount), buyer)
        return self._send(
            self.contract.functions.depositToken(order_id, seller, token, amount, deadline), buyer
        )

    def release(self, buyer: Sender, order_id: bytes, to_seller: int) -> EscrowTx:
        """The buyer releases ``to_seller`` to the seller; the rest returns to the buyer."""
        fn = self.contract.functions.release(_order_id(order_id), _amount(to_seller, "to_seller"))
        return self._send(fn, buyer)

    def release_with_proof(  # noqa: PLR0917 - mirrors the contract function
        self,
        sender: Sender,
        buyer: Sender,
        order_id: bytes,
        to_seller: int,
        record_digest: bytes,
        leaf_index: int,
        tree_size: int,
        proof: Sequence[bytes],
    ) -> EscrowTx:
        """Anyone releases by the acceptance leaf's inclusion proof against an anchored root."""
        if not isinstance(record_digest, bytes) or len(record_digest) != 32:
            raise MalformedInputError("record digest must be 32 bytes")
        path = [bytes(h) for h in proof]
        for i, node in enumerate(path):
            if len(node) != 32:
                raise MalformedInputError(f"proof hash [{i}] has {len(node)} bytes, want 32")
        fn = self.contract.functions.releaseWithProof(
            _address(buyer),
            _order_id(order_id),
            _amount(to_seller, "to_seller"),
            record_digest,
            _amount(leaf_index, "leaf index"),
            _amount(tree_size, "tree size"),
            path,
        )
        return self._send(fn, sender)

    def refund(self, sender: Sender, buyer: Sender, order_id: bytes) -> EscrowTx:
        """After the deadline, with nothing released and no dispute: money back to the buyer."""
        return self._send(
            self.contract.functions.refund(_address(buyer), _order_id(order_id)), sender
        )

    def open_dispute(self, sender: Sender, buyer: Sender, order_id: bytes) -> EscrowTx:
        """The buyer or the seller freezes the escrow."""
        fn = self.contract.functions.openDispute(_address(buyer), _order_id(order_id))
        return self._send(fn, sender)

    def resolve(self, arbiter: Sender, buyer: Sender, order_id: bytes, to_seller: int) -> EscrowTx:
        """The arbiter splits a disputed escrow."""
        fn = self.contract.functions.resolveDispute(
            _address(buyer), _order_id(order_id), _amount(to_seller, "to_seller")
        )
        return self._send(fn, arbiter)

    def withdraw(self, account: Sender, token: str | None = None) -> EscrowTx:
        """Withdraw ``account``'s credit (a payment it once refused) in ``token``."""
        return self._send(self.contract.functions.withdraw(token or ZERO_ADDRESS), account)

    # -- reading -----------------------------------------------------------------------

    def credit_of(self, account: Sender, token: str | None = None) -> int:
        fn = self.contract.functions.creditOf(_address(account), token or ZERO_ADDRESS)
        return int(call_view(fn, "credit"))

    def status(self, buyer: Sender, order_id: bytes) -> EscrowStatus:
        order_id = _order_id(order_id)
        seller, token, amount, deadline, state = call_view(
            self.contract.functions.escrowOf(_address(buyer), order_id), "escrow"
        )
        try:
            parsed = EscrowState(int(state))
        except ValueError:
            raise ChainError(f"escrowOf returned unknown status {state}") from None
        return EscrowStatus(
            buyer=_address(buyer),
            order_id=order_id,
            seller=None if seller == ZERO_ADDRESS else str(seller),
            token=None if token == ZERO_ADDRESS else str(token),
            amount=int(amount),
            deadline=int(deadline),
            state=parsed,
        )

    def read_events(self, from_block: int = 0, to_block: int | str = "latest") -> list[EscrowEvent]:
        """Every escrow event in ``[from_block, to_block]``, in chain order, decoded."""
        _amount(from_block, "from_block")
        params = {"address": self.address, "fromBlock": from_block, "toBlock": to_block}
        try:
            logs = self.contract.w3.eth.get_logs(params)
        except Exception as exc:
            raise ChainConnectionError(f"cannot read escrow events from the chain: {exc}") from exc
        events: list[EscrowEvent] = []
        for entry in logs:
            topics = entry["topics"]
            name = self._topics.get(bytes(topics[0])) if topics else None
            if name is None:
                continue  # an event this client does not know (e.g. role changes)
            decoded = self.contract.events[name]().process_log(entry)
            events.append(
                EscrowEvent(
                    name=name,
                    args=MappingProxyType({k: _plain(v) for k, v in decoded["args"].items()}),
                    block_number=int(entry["blockNumber"]),
                    tx_hash=bytes(entry["transactionHash"]),
                    log_index=int(entry["logIndex"]),
                )
            )
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events
