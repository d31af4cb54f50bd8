"""One test per rule: the accepted case, then the refused one with its rule id, and that a
refused batch wrote nothing (log size and every trade table unchanged)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest
from trade_support import World, snapshot

from ledger.errors import MalformedInputError
from ledger.records import SignedRecord, SigningKey, make_record
from ledger.trade import codes
from ledger.trade.bodies import parse_body
from ledger.trade.errors import MalformedRecord
from ledger.trade.rules import RULES
from ledger.trade.scenario import AMOXICILLIN, INSULIN

LOT = "A2603"


def stocked(w: World, quantity: int = 100, product: str = AMOXICILLIN, **kw: object) -> str:
    """The MAH registers a lot; returns the batch id."""
    rec = w.scn.batch(w.mah, product, LOT, quantity, **kw)  # type: ignore[arg-type]
    w.ok(rec)
    return rec.record.id


def at_dist1(w: World, quantity: int = 50, product: str = AMOXICILLIN) -> str:
    """A lot sold MAH → dist1 and accepted; returns the batch id."""
    batch = stocked(w, 100, product)
    o = w.scn.order(w.dist1, w.mah, [(product, quantity, 1000)])
    temp = w.scn.temperature() if product == INSULIN else None
    s = w.scn.ship(o, [(0, LOT, quantity)], temperature=temp)
    w.ok(o, s, w.scn.accept(s))
    return batch


def test_every_rule_has_an_id_and_a_description() -> None:
    assert len(RULES) >= 60
    for rule_id, text in RULES.items():
        assert rule_id == rule_id.upper() and "-" in rule_id and text


# -- envelope, keys, signatures --
def test_replay_of_a_record_id(world: World) -> None:
    rec = world.scn.batch(world.mah, AMOXICILLIN, LOT, 10)
    world.ok(rec)
    world.refused("REC-REPLAY", rec)
    other = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 1, 100)])
    err = world.refused("REC-REPLAY", other, other)  # twice in one batch
    assert err.index == 1


def test_freshness_when_the_ledger_has_a_clock(world: World) -> None:
    rec = world.scn.batch(world.mah, AMOXICILLIN, LOT, 10)
    now = rec.record.moment
    world.refused("REC-FUTURE", rec, now=now - timedelta(hours=1))
    world.refused("REC-STALE", rec, now=now + timedelta(days=2))
    before = snapshot(world.led)
    with pytest.raises(MalformedInputError, match="timezone-aware"):
        world.led.submit([rec], now=now.replace(tzinfo=None))  # a naive clock is not guessed
    assert snapshot(world.led) == before
    world.led.submit([rec], now=now + timedelta(minutes=1))


def test_only_corrections_supersede(world: World) -> None:
    first = world.scn.batch(world.mah, AMOXICILLIN, LOT, 10)
    world.ok(first)
    body = world.scn.batch(world.mah, AMOXICILLIN, "B2", 10).record.body
    bad = world.scn.sign(world.mah, "batch", body, supersedes=first.record.id)
    world.refused("REC-SUPERSEDES", bad)


def test_unknown_actor_and_unknown_key(world: World) -> None:
    stranger = world.scn.party("未入网企业", ["distributor"])
    world.refused("ACTOR-UNKNOWN", world.scn.order(stranger, world.mah, [(AMOXICILLIN, 1, 1)]))
    rogue = SigningKey(b"\x07" * 32)
    body = world.scn.batch(world.mah, AMOXICILLIN, LOT, 10).record.body
    world.refused(
        "KEY-UNKNOWN", make_record(rogue, "batch", world.mah.uscc, body, time=world.scn.now())
    )


def test_bad_signature(world: World) -> None:
    rec = world.scn.batch(world.mah, AMOXICILLIN, LOT, 10)
    forged = SignedRecord(rec.record, bytes(64))
    world.refused("SIG-INVALID", forged)
    world.ok(rec)


def test_revoked_key_signs_nothing_rotated_key_does(world: World) -> None:
    new = SigningKey(b"\x11" * 32)
    rotate = world.scn.sign(
        world.mah, "key_rotation", {"participant": world.mah.uscc, "new_key": new.public_key.hex()}
    )
    world.ok(rotate)
    revoke = world.scn.sign(
        None,
        "key_revocation",
        {"participant": world.mah.uscc, "key_id": world.mah.key.key_id, "reason": "lost laptop"},
    )
    world.ok(revoke)
    world.refused("KEY-REVOKED", world.scn.batch(world.mah, AMOXICILLIN, LOT, 10))
    body = world.scn.batch(world.mah, AMOXICILLIN, "N1", 10).record.body
    world.ok(make_record(new, "batch", world.mah.uscc, body, time=world.scn.now()))
    # a participant may not touch another's keys
    other = world.scn.sign(
        world.dist1,
        "key_revocation",
        {"participant": world.mah.uscc, "key_id": new.key_id, "reason": "x"},
    )
    world.refused("ROLE-FORBIDDEN", other)


def test_enrolment_is_the_admins_and_once(world: World) -> None:
    p = world.scn.party("新药房", ["pharmacy"])
    world.refused(
        "ROLE-FORBIDDEN", world.scn.sign(world.mah, "enrolment", world.scn.enrol(p).record.body)
    )
    world.ok(world.scn.enrol(p))
    world.refused("ENROL-DUPLICATE", world.scn.enrol(p))
    twin = dataclasses.replace(world.scn.party("克隆", ["pharmacy"]), key=p.key)
    world.refused("KEY-DUPLICATE", world.scn.enrol(twin))


def test_roles_decide_who_signs_what(world: World) -> None:
    world.refused("ROLE-FORBIDDEN", world.scn.batch(world.hospital, AMOXICILLIN, LOT, 10))
    world.refused(
        "ROLE-FORBIDDEN", world.scn.order(world.carrier, world.mah, [(AMOXICILLIN, 1, 1)])
    )
    auditor = world.scn.party("审计署", ["auditor"])
    world.ok(world.scn.enrol(auditor))
    world.refused("ROLE-FORBIDDEN", world.scn.order(auditor, world.mah, [(AMOXICILLIN, 1, 1)]))
    world.refused(
        "ROLE-FORBIDDEN",
        world.scn.sign(None, "batch", world.scn.batch(world.mah, AMOXICILLIN, "X", 1).record.body),
    )


def test_actor_must_be_the_party_it_speaks_for(world: World) -> None:
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 1, 100)])
    body = dict(o.record.body, buyer=world.dist2.uscc)
    world.refused("ACTOR-MISMATCH", world.scn.sign(world.dist1, "order", body))
    world.ok(o)


# -- qualifications --
def test_licence_holder_name_must_match(world: World) -> None:
    p = world.scn.party("某药房", ["pharmacy"])
    world.ok(world.scn.enrol(p))
    world.refused(
        "QUAL-HOLDER-NAME", world.scn.licence(p, codes.BUSINESS_LICENCE, holder_name="别的名字")
    )
    world.ok(world.scn.licence(p, codes.BUSINESS_LICENCE))


def _new_buyer(w: World, scope: list[str], **kw: object) -> object:
    p = w.scn.party("新经销商", ["distributor"])
    w.ok(
        w.scn.enrol(p),
        w.scn.licence(p, codes.BUSINESS_LICENCE),
        w.scn.licence(p, codes.DISTRIBUTION_LICENCE, scope, **kw),
    )  # type: ignore[arg-type]
    return p


def test_missing_licence(world: World) -> None:
    p = world.scn.party("无证经销商", ["distributor"])
    world.ok(world.scn.enrol(p), world.scn.licence(p, codes.BUSINESS_LICENCE))
    world.refused("QUAL-MISSING", world.scn.order(p, world.mah, [(AMOXICILLIN, 1, 100)]))
    world.ok(world.scn.licence(p, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL]))
    world.ok(world.scn.order(p, world.mah, [(AMOXICILLIN, 1, 100)]))


def test_expired_licence_blocks_new_trades_with_a_readable_message(world: World) -> None:
    p = _new_buyer(world, [codes.CHEMICAL], valid_from=date(2020, 1, 1), valid_to=date(2026, 3, 1))
    err = world.refused("QUAL-EXPIRED", world.scn.order(p, world.mah, [(AMOXICILLIN, 1, 100)]))
    assert "药品经营许可证" in str(err) and "新经销商 expired on 2026-03-01" in str(err)
    world.ok(world.scn.licence(p, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL]))  # renewed
    world.ok(world.scn.order(p, world.mah, [(AMOXICILLIN, 1, 100)]))


def test_licence_not_yet_valid(world: World) -> None:
    p = _new_buyer(world, [codes.CHEMICAL], valid_from=date(2027, 1, 1))
    world.refused("QUAL-NOT-YET-VALID", world.scn.order(p, world.mah, [(AMOXICILLIN, 1, 1)]))


def test_scope_must_cover_the_category(world: World) -> None:
    p = _new_buyer(world, [codes.CHEMICAL])
    world.ok(world.scn.order(p, world.mah, [(AMOXICILLIN, 1, 100)]))
    world.refused("QUAL-SCOPE", world.scn.order(p, world.mah, [(INSULIN, 1, 100)]))


def test_cold_chain_annotation_on_both_sides(world: World) -> None:
    p = _new_buyer(world, [codes.CHEMICAL, codes.BIOLOGICS])
    err = world.refused("QUAL-COLD-CHAIN", world.scn.order(p, world.mah, [(INSULIN, 1, 100)]))
    assert "2-8 °C" in str(err)
    q = _new_buyer(world, [codes.BIOLOGICS, codes.COLD_CHAIN])
    world.ok(world.scn.order(q, world.mah, [(INSULIN, 1, 100)]))


def test_narcotics_need_designation_and_purchase_card(world: World) -> None:
    scn = world.scn
    world.ok(scn.product(world.mah, "8699001", "盐酸吗啡注射液", special_class=codes.NARCOTICS))
    order = scn.order(world.hospital, world.mah, [("8699001", 10, 500)])
    world.refused("QUAL-SPECIAL", order)  # neither designation nor card
    world.ok(scn.licence(world.mah, codes.SPECIAL_DRUG_DESIGNATION, [codes.NARCOTICS]))
    world.refused("QUAL-SPECIAL", scn.order(world.hospital, world.mah, [("8699001", 10, 500)]))
    world.ok(scn.licence(world.hospital, codes.PURCHASE_CARD, [codes.NARCOTICS]))
    world.ok(scn.order(world.hospital, world.mah, [("8699001", 10, 500)]))


def test_vaccines_only_from_the_mah_to_disease_control(world: World) -> None:
    scn = world.scn
    scope = [codes.VACCINES, codes.COLD_CHAIN]
    cdc = scn.party("广州市疾病预防控制中心", ["disease_control"])
    world.ok(
        *scn.onboard(cdc, scope),
        scn.licence(world.mah, codes.MANUFACTURING_LICENCE, scope),
        scn.licence(world.dist1, codes.DISTRIBUTION_LICENCE, scope),
        scn.licence(world.hospital, codes.MEDICAL_INSTITUTION_LICENCE, scope),
        scn.product(world.mah, "8655001", "流感疫苗", category=codes.VACCINES, storage=(20, 80)),
    )
    world.refused("VACCINE-CHANNEL", scn.order(world.hospital, world.mah, [("8655001", 1, 1)]))
    world.refused("VACCINE-CHANNEL", scn.order(cdc, world.dist1, [("8655001", 1, 1)]))
    world.ok(scn.order(cdc, world.mah, [("8655001", 100, 3000)]))


# -- products, batches, unit codes --
def test_only_mah_or_named_manufacturer_registers_batches(world: World) -> None:
    scn = world.scn
    world.refused("ROLE-FORBIDDEN", scn.batch(world.dist1, AMOXICILLIN, LOT, 10))
    rival = scn.party("另一上市许可持有人", ["mah"])
    world.ok(*scn.onboard(rival, [codes.CHEMICAL]))
    world.refused("BATCH-REGISTRANT", scn.batch(rival, AMOXICILLIN, LOT, 10))
    cmo = scn.party("某受托生产企业", ["manufacturer"])
    world.ok(*scn.onboard(cmo, [codes.CHEMICAL]))
    world.refused("BATCH-REGISTRANT", scn.batch(cmo, AMOXICILLIN, LOT, 10))
    world.ok(scn.product(world.mah, "8600777", "布洛芬片", manufacturers=[cmo]))
    world.ok(scn.batch(cmo, "8600777", LOT, 10))
    assert world.led.holdings(cmo.uscc)[0].on_hand == 10
    world.refused("PRODUCT-DUPLICATE", scn.product(world.mah, "8600777", "布洛芬片"))
    world.refused("PRODUCT-UNKNOWN", scn.batch(world.mah, "8600999", LOT, 10))


def test_product_lot_is_unique(world: World) -> None:
    stocked(world)
    world.refused("BATCH-DUPLICATE", world.scn.batch(world.mah, AMOXICILLIN, LOT, 5))
    world.ok(world.scn.batch(world.mah, INSULIN, LOT, 5))  # same lot text, other product


def test_unit_codes_are_unique_forever(world: World) -> None:
    first = world.scn.batch(world.mah, AMOXICILLIN, LOT, 3, with_unit_codes=True)
    world.ok(first)
    body = dict(
        world.scn.batch(world.mah, AMOXICILLIN, "B2", 3).record.body,
        unit_codes=first.record.body["unit_codes"],
    )
    world.refused("UNIT-DUPLICATE", world.scn.sign(world.mah, "batch", body))


def test_unit_codes_move_only_from_their_holder(world: World) -> None:
    scn = world.scn
    batch = stocked(world, 10, with_unit_codes=True)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 5, 100)])
    s = scn.ship(o, [(0, LOT, 5)])
    world.ok(o, s)
    codes_on_way = s.record.body["lines"][0]["unit_codes"]
    o2 = scn.order(world.dist2, world.mah, [(AMOXICILLIN, 2, 100)])
    world.ok(o2)
    world.refused("UNIT-CODES-REQUIRED", scn.ship(o2, [(0, LOT, 2)], with_unit_codes=False))
    body = {
        "order": o2.record.id,
        "shipper": world.mah.uscc,
        "consignee": world.dist2.uscc,
        "lines": [
            {
                "order_line": 0,
                "product": AMOXICILLIN,
                "lot": LOT,
                "expiry_date": s.record.body["lines"][0]["expiry_date"],
                "quantity": 2,
                "unit_codes": codes_on_way[:2],
            }
        ],
    }
    world.refused("UNIT-NOT-HELD", scn.sign(world.mah, "shipment", body))
    world.ok(scn.accept(s, {0: (1, ["damaged"])}))
    assert world.led.unit(codes_on_way[0]).holder == world.dist1.uscc
    assert world.led.unit(codes_on_way[-1]).holder == world.mah.uscc  # rejected: came back
    assert world.stock(world.mah, batch) == 6


# -- shipments ------------------------------------------------------------------------------------
def test_no_shipment_beyond_stock(world: World) -> None:
    stocked(world, 30)
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 50, 100)])
    world.ok(o)
    err = world.refused("STOCK-INSUFFICIENT", world.scn.ship(o, [(0, LOT, 31)]))
    assert "holds 30" in str(err)
    world.ok(world.scn.ship(o, [(0, LOT, 30)]))


def test_no_shipment_beyond_what_the_order_lacks(world: World) -> None:
    stocked(world, 100)
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 20, 100)])
    s1 = world.scn.ship(o, [(0, LOT, 15)])
    world.ok(o, s1)
    world.refused("ORDER-EXCEEDED", world.scn.ship(o, [(0, LOT, 6)]))
    world.ok(world.scn.accept(s1, {0: (5, ["damaged"])}))
    world.ok(world.scn.ship(o, [(0, LOT, 10)]))  # 5 rejected are owed again


def test_shipment_must_match_its_order(world: World) -> None:
    stocked(world)
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 20, 100, LOT)])
    world.ok(o, world.scn.batch(world.mah, AMOXICILLIN, "OTHER", 50))
    world.refused("ORDER-LINE", world.scn.ship(o, [(0, "OTHER", 5)]))
    body = dict(world.scn.ship(o, [(0, LOT, 5)]).record.body, consignee=world.dist2.uscc)
    world.refused("ORDER-PARTY", world.scn.sign(world.mah, "shipment", body))
    world.refused("ORDER-UNKNOWN", world.scn.sign(world.mah, "shipment", dict(body, order="nope")))


def test_expired_recalled_quarantined_lots_do_not_ship(world: World) -> None:
    scn = world.scn
    old = scn.batch(
        world.mah, AMOXICILLIN, "OLD", 10, mfg=date(2023, 1, 1), expiry=date(2026, 1, 1)
    )
    world.ok(old)
    stocked(world, 10)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)])
    world.ok(o)
    world.refused("LOT-EXPIRED", scn.ship(o, [(0, "OLD", 1)]))
    world.refused("LOT-EXPIRY-MISMATCH", scn.ship(o, [(0, LOT, 1)], expiry=date(2031, 1, 1)))
    world.ok(scn.recall(world.mah, AMOXICILLIN, [LOT], action="quarantine"))
    world.refused("LOT-QUARANTINED", scn.ship(o, [(0, LOT, 1)]))
    world.refused("RECALL-STATE", scn.recall(world.mah, AMOXICILLIN, ["OLD"], action="release"))
    world.ok(scn.recall(world.mah, AMOXICILLIN, [LOT], action="release"))
    world.ok(scn.ship(o, [(0, LOT, 1)]))
    rival = scn.party("另一上市许可持有人", ["mah"])
    world.ok(scn.enrol(rival))
    world.refused("RECALL-NOT-MAH", scn.recall(rival, AMOXICILLIN, [LOT]))
    world.ok(scn.recall(world.mah, AMOXICILLIN, [LOT], level="I"))
    world.refused("LOT-RECALLED", scn.ship(o, [(0, LOT, 1)]))


def test_cold_chain_shipments_carry_a_log(world: World) -> None:
    stocked(world, 100, INSULIN)
    o = world.scn.order(world.dist1, world.mah, [(INSULIN, 20, 4500)])
    world.ok(o)
    world.refused("COLD-CHAIN-LOG", world.scn.ship(o, [(0, LOT, 5)]))
    slow = world.scn.temperature(interval_s=600)
    world.refused("COLD-CHAIN-LOG", world.scn.ship(o, [(0, LOT, 5)], temperature=slow))
    world.ok(world.scn.ship(o, [(0, LOT, 5)], temperature=world.scn.temperature()))


def test_carrier_must_be_a_carrier(world: World) -> None:
    stocked(world)
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 5, 100)])
    world.ok(o)
    world.refused("PARTY-ROLE", world.scn.ship(o, [(0, LOT, 5)], carrier=world.dist2))
    world.ok(world.scn.ship(o, [(0, LOT, 5)], carrier=world.carrier))


# -- acceptance, returns --
def test_acceptance_lines_must_add_up(world: World) -> None:
    stocked(world)
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)])
    s = world.scn.ship(o, [(0, LOT, 10)])
    world.ok(o, s)
    body = {
        "shipment": s.record.id,
        "lines": [{"line": 0, "accepted": 8, "rejected": 1, "reasons": ["short"]}],
    }
    world.refused("ACCEPT-LINES", world.scn.sign(world.dist1, "acceptance", body))
    world.refused("ACCEPT-NOT-CONSIGNEE", world.scn.sign(world.dist2, "acceptance", body))
    a = world.scn.accept(s, {0: (2, ["short"])})
    world.ok(a)
    world.refused("ACCEPT-TWICE", world.scn.accept(s))
    assert world.led.order_status(o.record.id).lines[0]["lacking"] == 2


def test_cold_chain_line_out_of_range_must_be_rejected(world: World) -> None:
    stocked(world, 100, INSULIN)
    o = world.scn.order(world.dist1, world.mah, [(INSULIN, 20, 4500)])
    s = world.scn.ship(o, [(0, LOT, 20)], temperature=world.scn.temperature(excursion=True))
    world.ok(o, s)
    err = world.refused("ACCEPT-COLD-EXCURSION", world.scn.accept(s, {0: (5, ["damaged"])}))
    assert "20 units" not in str(err) and "15 units may not be accepted" in str(err)
    world.ok(world.scn.accept(s, {0: (20, ["temperature_excursion"])}))


def test_returns_trace_to_their_shipment_and_do_not_exceed_acceptance(world: World) -> None:
    scn = world.scn
    batch = stocked(world)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)])
    s = scn.ship(o, [(0, LOT, 10)])
    world.ok(o, s)
    world.refused("RETURN-NOT-ACCEPTED", scn.return_goods(s, [(0, 1)]))
    world.ok(scn.accept(s, {0: (3, ["damaged"])}))
    world.refused("RETURN-EXCEEDS", scn.return_goods(s, [(0, 8)]))
    world.refused(
        "SHIPMENT-UNKNOWN",
        scn.sign(
            world.dist1,
            "return",
            {"shipment": "nope", "lines": [{"line": 0, "quantity": 1}], "reason": "x"},
        ),
    )
    world.ok(scn.return_goods(s, [(0, 4)]))
    world.refused("RETURN-EXCEEDS", scn.return_goods(s, [(0, 4)]))
    assert world.stock(world.dist1, batch) == 3
    assert world.stock(world.mah, batch) == 97
    assert world.led.order_status(o.record.id).amount_due_fen == 300


# -- escrow, disputes, invoices --
def test_escrow_terms_bind_enrolled_accounts_once(world: World) -> None:
    scn = world.scn
    good = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 1, 100)], escrow=True)
    body = dict(good.record.body)
    body["escrow"] = dict(body["escrow"], seller_address="0x" + "ab" * 20)
    world.refused("ESCROW-ADDRESS", scn.sign(world.dist1, "order", body))
    world.ok(good)
    again = dict(good.record.body, number="PO-again")
    world.refused("ESCROW-DUPLICATE", scn.sign(world.dist1, "order", again))


def test_dispute_freezes_and_the_arbiter_splits_the_total(world: World) -> None:
    scn = world.scn
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)], escrow=True)
    world.ok(o)
    world.refused(
        "DISPUTE-PARTY", scn.sign(world.dist2, "dispute", {"order": o.record.id, "reason": "x"})
    )
    d = scn.sign(world.dist1, "dispute", {"order": o.record.id, "reason": "货不对板"})
    world.ok(d)
    assert world.led.order_status(o.record.id).order.payment_status == "disputed"
    world.refused(
        "DISPUTE-OPEN", scn.sign(world.mah, "dispute", {"order": o.record.id, "reason": "y"})
    )
    split = {"dispute": d.record.id, "to_seller_fen": 600, "to_buyer_fen": 300, "note": "n"}
    world.refused("RESOLUTION-SPLIT", scn.sign(world.arbiter, "dispute_resolution", split))
    world.refused("ROLE-FORBIDDEN", scn.sign(world.mah, "dispute_resolution", split))
    split["to_buyer_fen"] = 400
    world.ok(scn.sign(world.arbiter, "dispute_resolution", split))
    world.refused("RESOLUTION-TWICE", scn.sign(world.arbiter, "dispute_resolution", split))
    assert world.led.order_status(o.record.id).order.payment_status == "resolved"


def test_invoices_rest_on_upstream_invoices_to_the_seller(world: World) -> None:
    scn = world.scn
    stocked(world)
    o1 = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)])
    o2 = scn.order(world.dist2, world.dist1, [(AMOXICILLIN, 10, 120)])
    world.ok(o1, o2)
    i1 = scn.invoice(o1, lot=LOT)
    i_other = scn.invoice(o2, lot=LOT)
    world.ok(i1, i_other)
    world.refused("INVOICE-UPSTREAM", scn.invoice(o2, lot=LOT, upstream=[i_other]))
    world.ok(scn.invoice(o2, lot=LOT, upstream=[i1]))
    body = dict(scn.invoice(o1, lot=LOT).record.body, buyer=world.dist2.uscc)
    world.refused("INVOICE-ORDER", scn.sign(world.mah, "invoice", body))


def test_invoices_name_a_buyer_registered_lots_and_a_live_order(world: World) -> None:
    """An invoice goes to another party that can buy, for registered lots, on an order that
    was not cancelled (票账货款一致)."""
    scn = world.scn
    stocked(world)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)])
    cancelled = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 5, 100)])
    world.ok(o, cancelled, scn.correction(world.dist1, cancelled))
    world.refused("BATCH-UNKNOWN", scn.invoice(o, lot="NOPE"))
    world.refused("ORDER-CLOSED", scn.invoice(cancelled, lot=LOT))
    unbound = {k: v for k, v in scn.invoice(o, lot=LOT).record.body.items() if k != "order"}
    to_carrier = dict(unbound, buyer=world.carrier.uscc)
    world.refused("PARTY-ROLE", scn.sign(world.mah, "invoice", to_carrier))
    with pytest.raises(MalformedRecord, match=r"\$.buyer and \$.seller are both"):
        world.led.submit([scn.sign(world.mah, "invoice", dict(unbound, buyer=world.mah.uscc))])
    world.ok(scn.invoice(o, lot=LOT))


def test_records_may_not_predate_what_they_build_on(world: World) -> None:
    """TIME-ORDER for disputes (after the order), resolutions (after the dispute), invoices
    (after their order) and corrections (after their target), as for shipments."""
    scn = world.scn
    stocked(world)
    scn.advance(timedelta(days=1))
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)])
    world.ok(o)
    scn.advance(-timedelta(hours=2))
    early = scn.sign(world.dist1, "dispute", {"order": o.record.id, "reason": "late"})
    world.refused("TIME-ORDER", early)
    world.refused("TIME-ORDER", scn.invoice(o, lot=LOT))
    world.refused("TIME-ORDER", scn.correction(world.dist1, o))
    scn.advance(timedelta(hours=3))
    d = scn.sign(world.dist1, "dispute", {"order": o.record.id, "reason": "late"})
    world.ok(d)
    scn.advance(-timedelta(hours=2))
    split = {"dispute": d.record.id, "to_seller_fen": 0, "to_buyer_fen": 1000, "note": "x"}
    world.refused("TIME-ORDER", scn.sign(world.arbiter, "dispute_resolution", split))
    scn.advance(timedelta(hours=3))
    world.ok(scn.sign(world.arbiter, "dispute_resolution", split))


def test_a_disputed_order_is_not_cancelled_and_a_cancelled_one_not_disputed(
    world: World,
) -> None:
    scn = world.scn
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 10, 100)], escrow=True)
    gone = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 3, 100)])
    world.ok(o, gone, scn.correction(world.dist1, gone))
    world.refused(
        "ORDER-CLOSED", scn.sign(world.dist1, "dispute", {"order": gone.record.id, "reason": "x"})
    )
    world.ok(scn.sign(world.mah, "dispute", {"order": o.record.id, "reason": "not paid"}))
    world.refused("CORR-TOO-LATE", scn.correction(world.dist1, o))


def test_a_consignee_whose_licence_lapsed_in_transit_may_still_reject(world: World) -> None:
    """Accepting needs a licence valid on the day; rejecting the whole delivery does not (it is
    how the goods go back)."""
    scn = world.scn
    p = scn.party("新经销商", ["distributor"])
    world.ok(
        scn.enrol(p),
        scn.licence(p, codes.BUSINESS_LICENCE),
        scn.licence(
            p,
            codes.DISTRIBUTION_LICENCE,
            [codes.CHEMICAL],
            valid_to=scn.today() + timedelta(days=1),
        ),
    )
    stocked(world)
    o = scn.order(p, world.mah, [(AMOXICILLIN, 10, 100)])
    s = scn.ship(o, [(0, LOT, 10)])
    world.ok(o, s)
    scn.advance(timedelta(days=1, hours=1))
    world.refused("QUAL-EXPIRED", scn.accept(s))
    world.ok(scn.accept(s, {0: (10, ["document_mismatch"])}))


# -- corrections --
def test_correction_cancels_a_shipment_in_transit_and_restores_stock(world: World) -> None:
    scn = world.scn
    batch = stocked(world, 50)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 20, 100)])
    s = scn.ship(o, [(0, LOT, 20)])
    world.ok(o, s)
    assert world.stock(world.mah, batch) == 30
    world.refused("CORR-NOT-AUTHOR", scn.correction(world.dist1, s))
    world.refused("CORR-TOO-LATE", scn.correction(world.dist1, o))
    world.ok(scn.correction(world.mah, s))
    assert world.stock(world.mah, batch) == 50
    world.refused("SHIPMENT-CANCELLED", scn.accept(s))
    world.refused("CORR-TWICE", scn.correction(world.mah, s))
    world.refused("CORR-UNSUPPORTED", scn.correction(world.mah, _first_batch(world)))
    world.ok(scn.correction(world.dist1, o))
    world.refused("ORDER-CLOSED", scn.ship(o, [(0, LOT, 1)]))


def _first_batch(world: World) -> SignedRecord:
    with world.led.db.read() as tx:
        rid = tx.query_one("SELECT batch_id FROM trade_batches")[0]
    return world.led.record(rid).signed


def test_withdrawn_licence_stops_counting(world: World) -> None:
    p = world.scn.party("某药房", ["pharmacy"])
    lic = world.scn.licence(p, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL])
    world.ok(world.scn.enrol(p), world.scn.licence(p, codes.BUSINESS_LICENCE), lic)
    world.ok(world.scn.order(p, world.dist1, [(AMOXICILLIN, 1, 100)]))
    world.ok(world.scn.correction(world.reviewer, lic, "证照信息有误"))
    world.refused("QUAL-MISSING", world.scn.order(p, world.dist1, [(AMOXICILLIN, 1, 100)]))


# -- batches are all-or-nothing; bad input writes nothing --
def test_one_bad_record_refuses_the_whole_batch(world: World) -> None:
    scn = world.scn
    b = scn.batch(world.mah, AMOXICILLIN, LOT, 10)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 20, 100)])
    s = scn.ship(o, [(0, LOT, 20)])  # more than the 10 just registered
    err = world.refused("STOCK-INSUFFICIENT", b, o, s)
    assert err.index == 2 and err.record_id == s.record.id
    world.ok(b, o)  # the same records without the bad one go through


def test_malformed_body_names_the_field_and_writes_nothing(world: World) -> None:
    o = world.scn.order(world.dist1, world.mah, [(AMOXICILLIN, 2, 100)])
    body = dict(o.record.body, total_fen=999)
    bad = world.scn.sign(world.dist1, "order", body)
    before = snapshot(world.led)
    with pytest.raises(MalformedRecord) as info:
        world.led.submit([o, bad])
    assert info.value.index == 1 and "$.total_fen is 999" in str(info.value)
    assert isinstance(info.value, MalformedInputError)
    assert snapshot(world.led) == before


def test_a_retail_distribution_licence_does_not_make_a_wholesaler(world: World) -> None:
    """A distributor trades under a wholesale (A) or chain headquarters (B) distribution
    licence; a single pharmacy's (D) licence lets it buy as a pharmacy, not sell wholesale."""
    scn = world.scn
    shop = scn.party("某单体药店", ["distributor"])
    world.ok(
        scn.enrol(shop),
        scn.licence(shop, codes.BUSINESS_LICENCE),
        scn.licence(shop, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL], number="粤DA1234567"),
    )
    err = world.refused("QUAL-MISSING", scn.order(shop, world.mah, [(AMOXICILLIN, 10, 100)]))
    assert "type A/B" in str(err)
    world.refused("QUAL-MISSING", scn.order(world.hospital, shop, [(AMOXICILLIN, 10, 100)]))
    world.ok(scn.licence(shop, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL], number="粤AA7654321"))
    world.ok(scn.order(shop, world.mah, [(AMOXICILLIN, 10, 100)]))
    pharmacy = scn.party("某药房", ["pharmacy"])
    world.ok(
        scn.enrol(pharmacy),
        scn.licence(pharmacy, codes.BUSINESS_LICENCE),
        scn.licence(pharmacy, codes.DISTRIBUTION_LICENCE, [codes.CHEMICAL], number="粤DA1111111"),
    )
    world.ok(scn.order(pharmacy, world.dist1, [(AMOXICILLIN, 5, 120)]))


def test_falsy_values_of_the_wrong_type_are_not_taken_for_absent_fields(world: World) -> None:
    """An optional list given as 0, "", false or {} is malformed, not an empty list; an
    empty recall action is not the default action."""
    product = world.scn.product(world.mah, "8600555", "布洛芬片").record.body
    for value in (0, "", False, {}):
        with pytest.raises(MalformedInputError, match=r"\$.manufacturers must be a list"):
            parse_body("product", dict(product, manufacturers=value))
    recall = {"product": AMOXICILLIN, "lots": [LOT], "reason": "x", "action": "", "level": "II"}
    with pytest.raises(MalformedInputError, match=r"\$.action"):
        parse_body("recall", recall)
    assert parse_body("product", product).to_dict() == product


def test_a_batch_lists_its_unit_codes_or_commits_to_them_not_both(world: World) -> None:
    listed = world.scn.batch(world.mah, AMOXICILLIN, LOT, 3, with_unit_codes=True).record.body
    with pytest.raises(MalformedInputError, match="not both"):
        parse_body("batch", dict(listed, unit_codes_root="ab" * 32))
    committed = {k: v for k, v in listed.items() if k != "unit_codes"}
    assert parse_body("batch", dict(committed, unit_codes_root="ab" * 32)).unit_codes_root


def test_a_non_string_gtin_is_malformed_not_a_crash(world: World) -> None:
    good = world.scn.product(world.mah, "8600555", "布洛芬片")
    for gtin in (16901234567892, ["06901234567892"], True):
        bad = world.scn.sign(world.mah, "product", dict(good.record.body, gtin=gtin))
        with pytest.raises(MalformedRecord, match="GTIN-14 must be 14 digits"):
            world.led.submit([bad])
    world.ok(good)


def test_every_rule_is_exercised_by_this_file() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [rule for rule in RULES if f'"{rule}"' not in source]
    assert missing == []


def test_records_follow_what_they_build_on(world: World) -> None:
    scn = world.scn
    stocked(world)
    scn.advance(timedelta(hours=3))
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 5, 100)])
    world.ok(o)
    early = dict(scn.ship(o, [(0, LOT, 5)]).record.body)
    scn.clock = scn.clock - timedelta(hours=1)
    world.refused("TIME-ORDER", scn.sign(world.mah, "shipment", early))
    scn.clock = scn.clock + timedelta(hours=2)
    world.ok(scn.sign(world.mah, "shipment", early))


def test_a_key_signs_nothing_dated_before_it_was_added(world: World) -> None:
    new = SigningKey(b"\x12" * 32)
    world.ok(
        world.scn.sign(
            None, "key_rotation", {"participant": world.mah.uscc, "new_key": new.public_key.hex()}
        )
    )
    body = world.scn.batch(world.mah, AMOXICILLIN, LOT, 10).record.body
    past = make_record(new, "batch", world.mah.uscc, body, time="2026-01-01T00:00:00Z")
    world.refused("KEY-NOT-YET-VALID", past)
    world.ok(make_record(new, "batch", world.mah.uscc, body, time=world.scn.now()))


def test_named_parties_and_lots_must_exist(world: World) -> None:
    scn = world.scn
    ghost = scn.party("未入网医院", ["hospital"])
    world.refused("PARTY-UNKNOWN", scn.order(world.dist1, ghost, [(AMOXICILLIN, 1, 1)]))
    world.refused(
        "BATCH-UNKNOWN", scn.order(world.dist1, world.mah, [(AMOXICILLIN, 1, 1, "NOLOT")])
    )
    world.refused(
        "DISPUTE-UNKNOWN",
        scn.sign(
            world.arbiter,
            "dispute_resolution",
            {"dispute": "nope", "to_seller_fen": 0, "to_buyer_fen": 0, "note": "n"},
        ),
    )
    world.refused(
        "CORR-TARGET-UNKNOWN", scn.sign(world.mah, "correction", {"reason": "x"}, supersedes="nope")
    )


def test_rejected_unit_codes_belong_to_the_line(world: World) -> None:
    scn = world.scn
    stocked(world, 10, with_unit_codes=True)
    o = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 4, 100)])
    s = scn.ship(o, [(0, LOT, 4)])
    world.ok(o, s)
    bad = {
        "shipment": s.record.id,
        "lines": [{"line": 0, "accepted": 3, "rejected": 1, "reasons": ["damaged"]}],
    }
    world.refused("ACCEPT-UNIT-CODES", scn.sign(world.dist1, "acceptance", bad))
    bad["lines"][0]["rejected_unit_codes"] = [f"{AMOXICILLIN}9999999999999"]
    world.refused("ACCEPT-UNIT-CODES", scn.sign(world.dist1, "acceptance", bad))
    a = scn.accept(s)
    world.ok(a)
    world.refused(
        "RETURN-NOT-CONSIGNEE",
        scn.sign(
            world.dist2,
            "return",
            {"shipment": s.record.id, "lines": [{"line": 0, "quantity": 1}], "reason": "x"},
        ),
    )
