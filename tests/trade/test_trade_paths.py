"""Supply paths: the two-invoice check (两票制), the reverse trace and the single-unit trace
follow only the goods that can have moved: receipts before the onward shipment, the units an
acceptance took in, and every distinct chain of holders however many deliveries repeat it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from trade_support import World

from ledger.records import SignedRecord
from ledger.trade import codes
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


def test_licences_on_the_day_leave_out_withdrawn_and_later_ones(world: World) -> None:
    """The reverse trace's licences "on the day" follow the rules: a licence withdrawn before
    the trade was not valid that day, and one recorded on the next China Standard Time day
    (though the same UTC date) was not known yet."""
    w = world
    batch = w.scn.batch(w.mah, AMOXICILLIN, LOT, 100)
    withdrawn = w.scn.licence(w.dist1, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL])
    w.ok(batch, withdrawn, w.scn.correction(w.reviewer, withdrawn))
    w.scn.clock = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 18:00 in Beijing
    deliver(w, w.dist1, w.mah, 10)
    w.scn.clock = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 04:00 the next day in Beijing
    later = w.scn.licence(
        w.dist1, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL], valid_from=date(2026, 3, 1)
    )
    w.ok(later)
    reverse = w.led.trace_reverse(w.dist1.uscc, batch.record.id)
    (dist1,) = [p for p in reverse.parties if p.uscc == w.dist1.uscc]
    assert dist1.day == "2026-03-02"
    shown = {lic.record_id: lic for lic in dist1.licences}
    assert later.record.id not in shown
    assert shown[withdrawn.record.id].valid_that_day is False
    assert any(lic.valid_that_day for lic in dist1.licences)  # its own licence still counts
