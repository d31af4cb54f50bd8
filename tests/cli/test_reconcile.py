"""``audit reconcile``'s comparison: every escrow event against the ledger's orders."""

from __future__ import annotations

from types import MappingProxyType

from anchors.escrow import EscrowEvent
from scripts.cli_audit import reconcile

BUYER = "0x" + "aa" * 20
ORDER_KEY = "bb" * 32


def _order(**over):
    base = {
        "order_id": "order-1",
        "escrow": {"buyer_address": BUYER, "order_id": ORDER_KEY, "units_per_fen": 10},
        "amount_due_fen": 900,
        "total_fen": 1000,
        "status": "accepted",
        "accepted": True,
        "dispute_to_seller_fen": None,
    }
    base.update(over)
    return base


def _event(name, block, **args):
    return EscrowEvent(
        name=name,
        args=MappingProxyType({"buyer": BUYER, "orderId": bytes.fromhex(ORDER_KEY), **args}),
        block_number=block,
        tx_hash=bytes(32),
        log_index=0,
    )


def test_agreeing_ledger_and_chain_have_no_differences() -> None:
    events = [
        _event("Deposited", 1, amount=10000, seller=BUYER, token=None, deadline=9),
        _event("Released", 2, toSeller=9000, toBuyer=1000, byProof=False),
    ]
    assert reconcile([_order()], events) == []


def test_each_kind_of_difference_is_listed() -> None:
    events = [
        _event("Deposited", 1, amount=5000, seller=BUYER, token=None, deadline=9),
        _event("Released", 2, toSeller=9500, toBuyer=500, byProof=True),
        _event("Refunded", 3, amount=1),
        _event("DisputeResolved", 4, toSeller=1, toBuyer=2),
    ]
    diffs = reconcile([_order()], events)
    text = "\n".join(diffs)
    assert "the deposit is 5000" in text  # underfunded
    assert "accepted goods come to 900 fen = 9000" in text  # release != accepted x price
    assert "split 9500 + 500 != deposit 5000" in text
    assert "refunded, but order order-1 has accepted goods" in text
    assert "no dispute resolution" in text
    stranger = _event("Released", 5, toSeller=1, toBuyer=0, byProof=False)
    stranger = EscrowEvent(
        "Released",
        MappingProxyType({**stranger.args, "orderId": bytes(32)}),
        5,
        bytes(32),
        0,
    )
    assert any("no order on the ledger" in d for d in reconcile([_order()], [stranger]))
    unaccepted = reconcile(
        [_order(accepted=False, amount_due_fen=0)],
        [_event("Released", 2, toSeller=1, toBuyer=0, byProof=False)],
    )
    assert any("release without any acceptance" in d for d in unaccepted)
