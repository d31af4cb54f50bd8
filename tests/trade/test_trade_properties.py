"""Property tests: random sequences of valid and invalid trade records never break
conservation, and rebuilding state from the log always matches the live state."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from trade_support import World, snapshot

from ledger.errors import LedgerError
from ledger.records import SignedRecord
from ledger.trade.scenario import AMOXICILLIN, INSULIN

CODED, PLAIN = ("8612345", "C1"), ("8600321", "P1")
LOTS = {CODED: 60, PLAIN: 80}

flow = st.tuples(
    st.just("flow"),
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from(list(LOTS)),
    st.integers(1, 40),
    st.integers(0, 5),
)
op = st.one_of(
    flow,  # listed four times: flows are four times as likely as each other operation
    flow,
    flow,
    flow,
    st.tuples(
        st.just("order"),
        st.integers(0, 2),
        st.integers(0, 2),
        st.sampled_from(list(LOTS)),
        st.integers(1, 90),
    ),
    st.tuples(st.just("ship"), st.integers(0, 20), st.integers(1, 90)),
    st.tuples(st.just("accept"), st.integers(0, 20), st.integers(0, 10)),
    st.tuples(st.just("return"), st.integers(0, 20), st.integers(1, 30)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(
        st.just("hold"), st.sampled_from(["quarantine", "release"]), st.sampled_from(list(LOTS))
    ),
)


def _build(w: World, step: tuple, orders: list, shipments: list) -> list[SignedRecord]:
    scn = w.scn
    holders = [w.mah, w.dist1, w.dist2, w.hospital]
    kind = step[0]
    if kind in ("order", "flow"):
        b, s, (product, lot), qty = step[1:5]
        buyer, seller = holders[b + 1], holders[s]
        if buyer is seller:
            return []
        rec = scn.order(buyer, seller, [(product, qty, 100, lot)])
        orders.append((rec, lot))
        if kind == "order":
            return [rec]
        cold = scn.temperature() if product == INSULIN else None
        ship = scn.ship(rec, [(0, lot, qty)], temperature=cold)
        shipments.append(ship)
        r = min(step[5], qty)
        return [rec, ship, scn.accept(ship, {0: (r, ["damaged"])} if r else None)]
    if kind == "ship":
        if not orders:
            return []
        rec_o, lot = orders[step[1] % len(orders)]
        product = rec_o.record.body["lines"][0]["product"]
        cold = scn.temperature() if product == INSULIN else None
        rec = scn.ship(rec_o, [(0, lot, step[2])], temperature=cold)
        shipments.append(rec)
        return [rec]
    if not shipments:
        return []
    s = shipments[step[1] % len(shipments)]
    qty = s.record.body["lines"][0]["quantity"]
    if kind == "accept":
        r = min(step[2], qty)
        return [scn.accept(s, {0: (r, ["damaged"])} if r else None)]
    if kind == "return":
        return [scn.return_goods(s, [(0, step[2])])]
    signer = next(p for p in holders if p.uscc == s.record.actor)
    return [scn.correction(signer, s)]


def _check_invariants(w: World, batches: dict[str, int]) -> None:
    with w.led.db.read() as tx:
        for holder, batch, received, shipped in tx.query(
            "SELECT holder, batch_id, received, shipped FROM trade_stock"
        ):
            assert shipped >= 0 and received >= shipped, (holder, batch, received, shipped)
        for batch, made in batches.items():
            on_hand = tx.query_one(
                "SELECT COALESCE(SUM(received - shipped), 0) FROM trade_stock WHERE batch_id = ?",
                (batch,),
            )[0]
            transit = tx.query_one(
                "SELECT COALESCE(SUM(quantity), 0) FROM trade_edges"
                " WHERE batch_id = ? AND status = 'in_transit'",
                (batch,),
            )[0]
            assert on_hand + transit == made, (batch, on_hand, transit, made)
        # every traceability code has one holder, and the holder's stock counts it
        coded = batches[w.coded_batch]
        assert tx.query_one("SELECT COUNT(*) FROM trade_units")[0] == coded
        held = dict(
            tx.query(
                "SELECT holder, COUNT(*) FROM trade_units WHERE in_transit IS NULL GROUP BY holder"
            )
        )
        stock = dict(
            tx.query(
                "SELECT holder, received - shipped FROM trade_stock WHERE batch_id = ?",
                (w.coded_batch,),
            )
        )
        assert {h: n for h, n in stock.items() if n} == held
        moving = tx.query_one("SELECT COUNT(*) FROM trade_units WHERE in_transit IS NOT NULL")[0]
        in_transit = tx.query_one(
            "SELECT COALESCE(SUM(quantity), 0) FROM trade_edges"
            " WHERE batch_id = ? AND status = 'in_transit'",
            (w.coded_batch,),
        )[0]
        assert moving == in_transit


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(op, min_size=5, max_size=40), group=st.sampled_from([1, 1, 2]))
def test_random_trade_keeps_conservation_and_rebuilds(steps: list, group: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = World(f"sqlite:///{Path(tmp) / 'l.db'}", seed="prop")
        coded = w.scn.batch(w.mah, CODED[0], CODED[1], LOTS[CODED], with_unit_codes=True)
        plain = w.scn.batch(w.mah, PLAIN[0], PLAIN[1], LOTS[PLAIN])
        w.ok(coded, plain)
        w.coded_batch = coded.record.id  # type: ignore[attr-defined]
        batches = {coded.record.id: LOTS[CODED], plain.record.id: LOTS[PLAIN]}
        orders: list = []
        shipments: list = []
        pending: list[SignedRecord] = []
        grouped = 0
        accepted = refused = 0
        for step in steps:
            if step[0] == "hold":
                _, action, (product, lot) = step
                recs = [w.scn.recall(w.mah, product, [lot], action=action)]
            else:
                recs = _build(w, step, orders, shipments)
            if not recs:
                continue
            pending.extend(recs)
            grouped += 1
            if grouped < group:
                continue
            grouped = 0
            size = w.led.log.size()
            try:
                w.led.submit(pending)
                accepted += len(pending)
                assert w.led.log.size() == size + len(pending)
            except LedgerError as e:
                event(f"refused by {getattr(e, 'rule_id', type(e).__name__)}")
                refused += 1
                assert w.led.log.size() == size
            pending = []
            _check_invariants(w, batches)
        event(
            "accepted none"
            if accepted == 0
            else "accepted 1-9"
            if accepted < 10
            else "accepted 10+"
        )
        event(f"refused {min(refused, 10) // 5 * 5}+")
        before = snapshot(w.led)
        diff = w.led.rebuild()
        assert diff.ok, diff.differences[:3]
        assert snapshot(w.led) == before
        assert PLAIN[0] == AMOXICILLIN and CODED[0] == INSULIN
