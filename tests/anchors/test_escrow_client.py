"""The escrow client against the real contracts, on the embedded chain and on anvil."""

from __future__ import annotations

import hashlib

import pytest
from anchor_support import (  # noqa: F401 - fixtures `any_chain`, `deployed`
    Deployed,
    MemorySource,
    any_chain_fixture,
    deployed_fixture,
)

from anchors.errors import ContractRevert
from anchors.escrow import EscrowClient, EscrowState, EscrowTx
from anchors.publisher import AnchorPublisher, AnchorResult
from ledger.errors import MalformedInputError
from ledger.leaf import LeafHeader, LeafKind, encode_leaf
from ledger.merkle import MemoryTree

ETHER = 10**18


def order(n: int) -> bytes:
    return hashlib.sha256(f"order {n}".encode()).digest()


def addr(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def test_native_deposit_partial_release_and_events(deployed: Deployed) -> None:
    d = deployed
    client = EscrowClient(d.escrow, d.chain)
    deadline = d.chain.timestamp() + 3600
    seller_before = d.chain.balance(d.seller)

    # Addresses in any case: the client checksums them (web3 refuses lower-case ones).
    funded = client.deposit(d.buyer, order(1), d.seller.lower(), 3 * ETHER, deadline)
    assert isinstance(funded, EscrowTx) and funded.gas_used > 0
    status = client.status(d.buyer.lower(), order(1))
    assert status.state is EscrowState.FUNDED and status.exists
    assert (status.seller, status.token, status.amount, status.deadline) == (
        d.seller,
        None,
        3 * ETHER,
        deadline,
    )

    released = client.release(d.buyer, order(1), 2 * ETHER)
    assert client.status(d.buyer, order(1)).state is EscrowState.RELEASED
    assert d.chain.balance(d.seller) - seller_before == 2 * ETHER
    # One settlement per escrow.
    with pytest.raises(ContractRevert) as info:
        client.release(d.buyer, order(1), 1)
    assert info.value.error_name.startswith("TradeEscrow")

    events = [e for e in client.read_events() if e.name not in {"Enrolled"}]
    assert [e.name for e in events] == ["Deposited", "Released"]
    deposited, released_event = events
    assert deposited.args == {
        "buyer": d.buyer,
        "orderId": order(1),
        "seller": d.seller,
        "token": "0x0000000000000000000000000000000000000000",
        "amount": 3 * ETHER,
        "deadline": deadline,
    }
    assert (deposited.block_number, deposited.tx_hash) == (funded.block_number, funded.tx_hash)
    assert released_event.args["toSeller"] == 2 * ETHER
    assert released_event.args["toBuyer"] == ETHER
    assert released_event.args["byProof"] is False
    assert released_event.tx_hash == released.tx_hash
    # from_block filters.
    assert [e.name for e in client.read_events(from_block=released.block_number)] == ["Released"]
    enrolled = [e.args["account"] for e in client.read_events() if e.name == "Enrolled"]
    assert enrolled == [d.buyer, d.seller]


def test_release_by_anchored_acceptance_proof(deployed: Deployed) -> None:
    d = deployed
    client = EscrowClient(d.escrow, d.chain)
    client.deposit(d.buyer, order(2), d.seller, 1000, d.chain.timestamp() + 3600)

    digest = hashlib.sha256(b"signed acceptance record").digest()
    header = LeafHeader(
        kind=LeafKind.ACCEPTANCE,
        chain_id=d.chain.chain_id,
        escrow=addr(d.escrow.address),
        order_id=order(2),
        buyer=addr(d.buyer),
        seller=addr(d.seller),
        amount=700,
    )
    tree = MemoryTree()
    for i in range(5):
        tree.append(f"earlier record {i}".encode())
    index = tree.append(encode_leaf(header, digest))
    for i in range(6):
        tree.append(f"later record {i}".encode())

    source = MemorySource(tree)
    source.checkpoint()

    # Not anchored yet: refused.
    proof = tree.inclusion_proof(index, tree.size)
    with pytest.raises(ContractRevert) as info:
        client.release_with_proof(d.other, d.buyer, order(2), 700, digest, index, tree.size, proof)
    assert info.value.error_name == "TradeEscrowRootNotAnchored"

    assert isinstance(AnchorPublisher(d.registry, d.anchorer, source).publish_once(), AnchorResult)
    # A different amount than the acceptance record says: the leaf differs, the proof fails.
    with pytest.raises(ContractRevert) as info:
        client.release_with_proof(d.other, d.buyer, order(2), 701, digest, index, tree.size, proof)
    assert info.value.error_name == "TradeEscrowInvalidProof"
    assert client.status(d.buyer, order(2)).state is EscrowState.FUNDED

    done = client.release_with_proof(
        d.other, d.buyer, order(2), 700, digest, index, tree.size, proof
    )
    assert client.status(d.buyer, order(2)).state is EscrowState.RELEASED
    (event,) = [e for e in client.read_events(from_block=done.block_number) if e.name == "Released"]
    assert (event.args["toSeller"], event.args["toBuyer"], event.args["byProof"]) == (
        700,
        300,
        True,
    )


def test_token_deposit_refund_after_deadline(deployed: Deployed) -> None:
    d = deployed
    chain = d.chain
    token = chain.deploy("TestToken", "Test Yuan", "TCNY")
    chain.transact(token.functions.mint(d.buyer, 50_000), d.admin)
    client = EscrowClient(d.escrow, chain)
    deadline = chain.timestamp() + 600

    client.deposit(d.buyer, order(3), d.seller, 12_345, deadline, token=token.address)
    status = client.status(d.buyer, order(3))
    assert (status.token, status.amount, status.state) == (
        token.address,
        12_345,
        EscrowState.FUNDED,
    )
    assert token.functions.balanceOf(d.buyer).call() == 50_000 - 12_345

    with pytest.raises(ContractRevert) as info:
        client.refund(d.other, d.buyer, order(3))
    assert info.value.error_name == "TradeEscrowDeadlineNotReached"

    chain.increase_time(601)
    refunded = client.refund(d.other, d.buyer, order(3))
    assert client.status(d.buyer, order(3)).state is EscrowState.REFUNDED
    assert token.functions.balanceOf(d.buyer).call() == 50_000
    (event,) = [e for e in client.read_events(refunded.block_number) if e.name == "Refunded"]
    assert event.args == {"buyer": d.buyer, "orderId": order(3), "amount": 12_345}


def test_dispute_freezes_then_arbiter_splits(deployed: Deployed) -> None:
    d = deployed
    client = EscrowClient(d.escrow, d.chain)
    client.deposit(d.buyer, order(4), d.seller, 10_000, d.chain.timestamp() + 3600)
    client.open_dispute(d.seller, d.buyer, order(4))
    assert client.status(d.buyer, order(4)).state is EscrowState.DISPUTED
    with pytest.raises(ContractRevert) as info:
        client.release(d.buyer, order(4), 10_000)
    assert info.value.error_name.startswith("TradeEscrow")
    with pytest.raises(ContractRevert) as info:
        client.resolve(d.buyer, d.buyer, order(4), 0)
    assert info.value.error_name == "AccessControlUnauthorizedAccount"
    resolved = client.resolve(d.arbiter, d.buyer, order(4), 6_000)
    assert client.status(d.buyer, order(4)).state is EscrowState.RESOLVED
    names = [e.name for e in client.read_events() if e.args.get("orderId") == order(4)]
    assert names == ["Deposited", "DisputeOpened", "DisputeResolved"]
    (event,) = [e for e in client.read_events(resolved.block_number) if e.name == "DisputeResolved"]
    assert (event.args["toSeller"], event.args["toBuyer"]) == (6_000, 4_000)


def test_refused_payment_becomes_a_credit_then_withdrawn(deployed: Deployed) -> None:
    d = deployed
    chain = d.chain
    receiver = chain.deploy("RejectingReceiver")
    client = EscrowClient(d.escrow, chain)
    client.enrol(d.admin, receiver.address)
    assert client.is_enrolled(receiver.address)
    client.deposit(d.buyer, order(5), receiver.address, 5_000, chain.timestamp() + 3600)
    client.release(d.buyer, order(5), 5_000)
    assert client.status(d.buyer, order(5)).state is EscrowState.RELEASED
    assert client.credit_of(receiver.address) == 5_000

    chain.transact(receiver.functions.setRejecting(False), d.admin)
    call = d.escrow.functions.withdraw("0x" + "00" * 20)._encode_transaction_data()
    chain.transact(receiver.functions.execute(d.escrow.address, call), d.admin)
    assert client.credit_of(receiver.address) == 0
    assert chain.balance(receiver.address) == 5_000
    names = [e.name for e in client.read_events() if e.name in {"Credited", "Withdrawn"}]
    assert names == ["Credited", "Withdrawn"]

    with pytest.raises(ContractRevert) as info:
        client.withdraw(d.buyer)
    assert info.value.error_name == "TradeEscrowNothingToWithdraw"


def test_malformed_input_sends_nothing(deployed: Deployed) -> None:
    d = deployed
    client = EscrowClient(d.escrow, d.chain)
    block = d.chain.w3.eth.block_number
    with pytest.raises(MalformedInputError, match="order id must be 32 bytes"):
        client.deposit(d.buyer, b"short", d.seller, 1, d.chain.timestamp() + 60)
    with pytest.raises(MalformedInputError, match="integer"):
        client.release(d.buyer, order(6), 1.5)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match="non-negative"):
        client.release(d.buyer, order(6), -1)
    with pytest.raises(MalformedInputError, match="proof hash"):
        client.release_with_proof(d.other, d.buyer, order(6), 1, bytes(32), 0, 1, [b"\x00" * 31])
    with pytest.raises(MalformedInputError, match="not an EVM address: '0x1234'"):
        client.deposit(d.buyer, order(6), "0x1234", 1, d.chain.timestamp() + 60)
    with pytest.raises(MalformedInputError, match="not an EVM address"):
        client.status("seller", order(6))
    assert d.chain.w3.eth.block_number == block
    status = client.status(d.buyer, order(6))
    assert status.state is EscrowState.NONE and not status.exists and status.seller is None


def test_a_buyer_signing_with_its_own_key(deployed: Deployed) -> None:
    from eth_account import Account

    d = deployed
    chain = d.chain
    buyer = Account.from_key(hashlib.sha256(b"hospital key, test only").digest())
    tx = chain.w3.eth.send_transaction({"from": d.admin, "to": buyer.address, "value": ETHER})
    chain.wait(tx)
    client = EscrowClient(d.escrow, chain)
    with pytest.raises(ContractRevert) as info:
        client.deposit(buyer, order(7), d.seller, 1_000, chain.timestamp() + 3600)
    assert info.value.error_name == "TradeEscrowNotEnrolled"
    client.enrol(d.admin, buyer)
    client.deposit(buyer, order(7), d.seller, 1_000, chain.timestamp() + 3600)
    client.release(buyer, order(7), 400)
    status = client.status(buyer, order(7))
    assert (status.buyer, status.state, status.amount) == (
        buyer.address,
        EscrowState.RELEASED,
        1_000,
    )
    (event,) = [e for e in client.read_events() if e.name == "Released"]
    assert event.args["buyer"] == buyer.address and event.args["toBuyer"] == 600
