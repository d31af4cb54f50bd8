"""Supply paths: the two-invoice check (两票制), the reverse trace and the single-unit trace
follow only the goods that can have moved: receipts before the onward shipment, the units an
acceptance took in, and every distinct chain of holders however many deliveries repeat it."""

from __future__ import annotations

from trade_support import World

from ledger.records import SignedRecord
from ledger.trade.scenario import AMOXICILLIN, Party

LOT = "L1"


def deliver(
    w: World, buyer: Party, seller: Party, quantity: int, times: int = 1
) -> list[SignedRecord]:
    """``times`` accepted deliveries of ``quantity`` each on one order; the shipments."""
    order = w.scn.order(buyer, seller, [(AMOXICILLIN, quantity * times, 100)])
    records: list[SignedRecord] = [order]
    shipments: list[SignedRecord] = []
    for _ in range(times):
        s = w.scn.ship(order, [(0, LOT, quantity)])
        shipments.append(s)
        records += [s, w.scn.accept(s)]
    w.ok(*records)
    return shipments


def test_a_break_is_found_behind_many_repeated_deliveries(world: World) -> None:
    """40 x 30 deliveries along MAH -> dist1 -> hospital were 1,200 paths, more than the
    search's cap: the one three-invoice chain behind them was never looked at."""
    w = world
    batch = w.scn.batch(w.mah, AMOXICILLIN, LOT, 1000)
    w.ok(batch)
    deliver(w, w.dist1, w.mah, 1, 40)
    deliver(w, w.hospital, w.dist1, 1, 30)
    deliver(w, w.dist2, w.dist1, 1)
    deliver(w, w.hospital, w.dist2, 1)
    check = w.led.two_invoice(w.hospital.uscc, batch.record.id)
    assert not check.truncated and len(check.paths) == 2  # the distinct chains of holders
    assert not check.compliant and check.message.startswith("TWO-INVOICE: 3 invoices")
    alerts = w.led.alerts(w.scn.today()).two_invoice
    assert [(c.holder, c.batch_id) for c in alerts] == [(w.hospital.uscc, batch.record.id)]


def test_a_receipt_after_the_onward_shipment_did_not_supply_it(world: World) -> None:
    """dist1 delivered to the hospital with goods from the MAH only (two invoices); buying
    more of the lot from dist2 later makes no three-invoice chain, and the hospital's reverse
    trace leaves that later delivery out."""
    w = world
    batch = w.scn.batch(w.mah, AMOXICILLIN, LOT, 100)
    w.ok(batch)
    deliver(w, w.dist1, w.mah, 10)
    deliver(w, w.dist2, w.mah, 10)
    deliver(w, w.hospital, w.dist1, 5)
    (late,) = deliver(w, w.dist1, w.dist2, 5)
    check = w.led.two_invoice(w.hospital.uscc, batch.record.id)
    assert check.compliant, check.message
    assert [[h.seller for h in p.hops] for p in check.paths] == [[w.mah.uscc, w.dist1.uscc]]
    reverse = w.led.trace_reverse(w.hospital.uscc, batch.record.id)
    assert late.record.id not in {e.shipment_id for e in reverse.edges}
    assert {(e.from_holder, e.to_holder) for e in reverse.edges} == {
        (w.mah.uscc, w.dist1.uscc),
        (w.dist1.uscc, w.hospital.uscc),
    }
    assert not w.led.alerts(w.scn.today()).two_invoice
    # Once dist1 ships again after that receipt, the chain through dist2 is real.
    deliver(w, w.hospital, w.dist1, 1)
    check = w.led.two_invoice(w.hospital.uscc, batch.record.id)
    assert not check.compliant and check.message.startswith("TWO-INVOICE: 3 invoices")


def test_a_unit_trace_skips_the_delivery_that_rejected_the_unit(world: World) -> None:
    w = world
    batch = w.scn.batch(w.mah, AMOXICILLIN, LOT, 10, with_unit_codes=True)
    w.ok(batch)
    deliver(w, w.dist1, w.mah, 10)
    order = w.scn.order(w.hospital, w.dist1, [(AMOXICILLIN, 3, 100)])
    first = w.scn.ship(order, [(0, LOT, 2)])
    unit = first.record.body["lines"][0]["unit_codes"][1]
    w.ok(order, first, w.scn.accept(first, {0: (1, ["damaged"])}))  # this unit goes back
    again = w.scn.ship(order, [(0, LOT, 1)])
    assert again.record.body["lines"][0]["unit_codes"] == [unit]
    w.ok(again, w.scn.accept(again))
    trace = w.led.trace_unit(unit)
    assert w.led.unit(unit).holder == w.hospital.uscc
    into_hospital = [e.shipment_id for e in trace.edges if e.to_holder == w.hospital.uscc]
    assert into_hospital == [again.record.id]
