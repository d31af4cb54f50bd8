"""The trade story on both backends: an insulin from its MAH through two distributors to a
public hospital, with a partial acceptance, a refused cold-chain delivery, a return and a
recall. Every figure below follows from the story, not from the code under test."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from trade_support import open_ledger, snapshot

import ledger.trade.ledger as ledger_module
from ledger.errors import ConflictError
from ledger.leaf import LeafKind, decode_leaf
from ledger.merkle import hash_leaf
from ledger.trade.scenario import INSULIN, trade_story
from ledger.trade.trace import TwoInvoicePolicy, trace_to_json


def test_story_stock_money_and_trace(database_url: str) -> None:
    story = trade_story()
    p = story.parties
    led = open_ledger(database_url, story.scn)
    receipts = led.submit(story.records)
    assert [r.leaf_index for r in receipts] == list(range(len(story.records)))
    assert led.log.size() == len(story.records)
    for r in receipts:
        assert (
            led.log.leaf_hash(r.leaf_index) == r.leaf_hash == hash_leaf(led.log.leaf(r.leaf_index))
        )

    batch = story["batch"]
    # 200 made; d1 got 120, passed 60 to d2 and 20 to the hospital (the 20 refused for the
    # excursion came back); d2 got 60, sent 40, 4 rejected back, 6 returned to it.
    on_hand = {
        name: led.stock(p[name].uscc, batch).on_hand
        for name in ("mah", "dist1", "dist2", "hospital")
    }
    assert on_hand == {"mah": 80, "dist1": 40, "dist2": 30, "hospital": 50}
    assert sum(on_hand.values()) == 200

    # every traceability code sits with exactly the holder whose stock counts it
    with led.db.read() as tx:
        held = dict(
            tx.query(
                "SELECT holder, COUNT(*) FROM trade_units WHERE batch_id = ? GROUP BY holder",
                (batch,),
            )
        )
    assert dict(held.items()) == {p[k].uscc: v for k, v in on_hand.items()}

    # money: the hospital's order from d2: 36 accepted, then 6 returned, at 52.00 yuan
    status = led.order_status(story["order3"])
    assert status.amount_due_fen == 30 * 5200
    assert status.order.payment_status == "releasable"
    assert status.lines[0]["lacking"] == 4  # 4 rejected, still owed by the seller
    header, digest = decode_leaf(led.record(story["accept3"]).leaf)
    assert header.kind is LeafKind.ACCEPTANCE
    assert header.amount == 36 * 5200 * 10**16  # cumulative at the acceptance's time
    assert header.buyer.hex() == p["hospital"].evm_address[2:]
    assert header.seller.hex() == p["dist2"].evm_address[2:]
    assert (
        digest
        == story.records[[r.record.id for r in story.records].index(story["accept3"])].digest()
    )
    # an acceptance without escrow carries no chain fields
    plain, _ = decode_leaf(led.record(story["accept2"]).leaf)
    assert (plain.chain_id, plain.amount, plain.order_id) == (0, 0, bytes(32))

    # forward trace: four holders, nothing in transit, recall level II: notify in 48 h
    fwd = led.trace_forward(batch)
    assert {h.holder: h.on_hand for h in fwd.holders} == {p[k].uscc: v for k, v in on_hand.items()}
    assert fwd.recall_scope.level == "II" and fwd.recall_scope.notify_within_hours == 48
    assert set(fwd.recall_scope.holders_with_stock) == {p[k].uscc for k in on_hand}
    assert fwd.recall_scope.quantity_at_risk == 200
    assert fwd.in_transit == ()
    steps = {s.record_id: s for s in fwd.steps}
    assert steps[story["ship2"]].follows == (story["accept1"],)
    assert steps[story["accept3"]].follows == (story["ship3"],)
    assert steps[story["ship1"]].follows == (batch,)
    with led.db.read() as tx:
        for s in fwd.steps:
            assert led.log.index_of_record(s.record_id, tx) == s.leaf_index

    # reverse trace from the hospital: both supply paths back to the registration
    rev = led.trace_reverse(p["hospital"].uscc, batch)
    rev_ids = [s.record_id for s in rev.steps]
    assert rev_ids[0] == batch
    for name in ("ship1", "accept1", "ship2", "accept2", "ship3", "accept3", "ship5", "accept5"):
        assert story[name] in rev_ids
    assert story["ship4"] not in rev_ids  # fully rejected: the goods never arrived
    parties = {q.uscc: q for q in rev.parties}
    assert set(parties) == {p[k].uscc for k in ("mah", "dist1", "dist2", "hospital")}
    for party in parties.values():
        kinds = {lic.kind for lic in party.licences if lic.valid_that_day}
        assert "business_licence" in kinds and len(kinds) == 2
    assert all(i is not None for i in rev.leaf_indices)

    # a unit code the hospital holds traces through exactly the moves that carried it
    with led.db.read() as tx:
        code = tx.query_one(
            "SELECT code FROM trade_units WHERE holder = ? ORDER BY code", (p["hospital"].uscc,)
        )[0]
    unit = led.trace_unit(code)
    assert unit.holder == p["hospital"].uscc and unit.unit_code == code
    assert {s.type for s in unit.steps} == {"batch", "shipment", "acceptance"}

    # two-invoice rule: MAH → d1 → d2 → hospital is three invoices; MAH → d1 → hospital two
    check = led.two_invoice(p["hospital"].uscc, batch)
    assert not check.compliant
    assert sorted(path.counted for path in check.paths) == [2, 3]
    assert "TWO-INVOICE" in check.message
    remote = TwoInvoicePolicy(remote_regions=frozenset({"4401"}))
    assert led.two_invoice(p["hospital"].uscc, batch, remote).compliant
    assert not led.two_invoice(p["dist2"].uscc, batch).applies

    # alerts: the excursion shipment and the broken path are flagged
    alerts = led.alerts(date(2026, 3, 3))
    assert [a.shipment_id for a in alerts.excursions] == [story["ship4"]]
    assert [(c.holder, c.batch_id) for c in alerts.two_invoice] == [(p["hospital"].uscc, batch)]
    assert alerts.licences == ()
    soon = led.alerts(date(2030, 12, 10))
    assert {a.holder for a in soon.licences} >= {p["mah"].uscc, p["hospital"].uscc}
    assert all(a.days_left == 21 for a in soon.licences)
    assert {a.holder for a in soon.lots if a.batch_id == batch} == {p[k].uscc for k in on_hand}

    # JSON views work on every answer
    assert trace_to_json(fwd)["record_ids"][0] == batch
    assert trace_to_json(check)["compliant"] is False

    # the log alone rebuilds the same state
    diff = led.rebuild()
    assert diff.ok, diff.differences[:3]
    assert diff.log_size == len(story.records)


def test_rebuild_reports_and_repairs_tampered_state(database_url: str) -> None:
    story = trade_story()
    led = open_ledger(database_url, story.scn)
    led.submit(story.records)
    good = snapshot(led)
    hospital = story.parties["hospital"].uscc
    with led.db.write() as tx:
        tx.execute("UPDATE trade_stock SET received = received + 5 WHERE holder = ?", (hospital,))
        tx.execute("DELETE FROM trade_edges WHERE shipment_id = ?", (story["ship2"],))
    diff = led.rebuild(check_only=True)
    tables = {(d.table, d.note) for d in diff.differences}
    assert ("trade_stock", "values differ") in tables
    assert ("trade_edges", "missing from live state") in tables
    assert snapshot(led) != good  # check_only wrote nothing
    fixed = led.rebuild(check_only=False)
    assert fixed.repaired
    assert snapshot(led) == good
    assert led.rebuild().ok


def test_a_repair_refuses_when_the_log_grew_during_the_rebuild(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between the replay and the repair: the repair would drop that
    record's rows, so it is refused (ConflictError) and writes nothing; a second rebuild,
    with the writer done, repairs."""
    story = trade_story()
    led = open_ledger(database_url, story.scn)
    other = open_ledger(database_url, story.scn)  # another process's ledger on the same store
    led.submit(story.records[:-1])
    with led.db.write() as tx:
        tx.execute("UPDATE trade_stock SET received = received + 5")
    compare = ledger_module._compare

    def a_writer_commits_meanwhile(live: Any, rebuilt: Any) -> Any:
        if other.log.size() < len(story.records):
            other.submit(story.records[-1:])
        return compare(live, rebuilt)

    monkeypatch.setattr(ledger_module, "_compare", a_writer_commits_meanwhile)
    tampered = snapshot(led)
    with pytest.raises(ConflictError, match="rebuild again"):
        led.rebuild(check_only=False)
    assert led.log.size() == len(story.records)
    assert snapshot(led)["trade_stock"] == tampered["trade_stock"]  # nothing was repaired
    fixed = led.rebuild(check_only=False)
    assert fixed.repaired and fixed.log_size == len(story.records)
    assert led.rebuild().ok


def test_a_second_ledger_instance_sees_the_first_ones_writes(sqlite_url: str) -> None:
    story = trade_story()
    a = open_ledger(sqlite_url, story.scn)
    b = open_ledger(sqlite_url, story.scn)
    half = len(story.records) // 2
    a.submit(story.records[:half])
    b.submit(story.records[half : half + 5])  # b's cache starts empty
    a.submit(story.records[half + 5 :])  # a's cache is stale: it must notice and reload
    assert a.rebuild().ok
    assert a.stock(story.parties["mah"].uscc, story["batch"]).on_hand == 80
    assert a.batch(story["batch"]).product == INSULIN


def test_concurrent_submits_from_threads_serialize(sqlite_url: str) -> None:
    import threading

    from ledger.trade.scenario import AMOXICILLIN, Scenario, cast

    scn = Scenario("threads")
    p, records = cast(scn)
    led = open_ledger(sqlite_url, scn)
    led.submit(records)
    lots = [scn.batch(p["mah"], AMOXICILLIN, f"T{i:03d}", 10 + i) for i in range(40)]
    errors: list[BaseException] = []

    def worker(part: list) -> None:
        try:
            for rec in part:
                led.submit([rec])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(lots[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert led.log.size() == len(records) + 40
    assert sum(h.on_hand for h in led.holdings(p["mah"].uscc)) == sum(10 + i for i in range(40))
    assert led.rebuild().ok
