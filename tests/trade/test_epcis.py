"""EPCIS 2.0 export (ledger/trade/epcis.py): the story's records mapped event by event, the
schema's requirements (epcis_support), integer quantities, byte-identical exports,
GS1 keys where the records have them, error declarations for corrections, named errors."""

from __future__ import annotations

import random

import orjson
import pytest
from epcis_support import check_document, walk
from trade_support import World

from ledger.errors import MalformedInputError, NotFoundError
from ledger.records import SignedRecord
from ledger.trade import codes
from ledger.trade.epcis import (
    EpcisOptions,
    LedgerEntry,
    MemoryResolver,
    epcis_bytes,
    export_epcis,
)
from ledger.trade.scenario import AMOXICILLIN, INSULIN, INSULIN_LOT, Scenario, Story, trade_story

NS = "urn:lotproof:"


def story_entries(story: Story) -> list[LedgerEntry]:
    return [LedgerEntry(i, s) for i, s in enumerate(story.records)]


def ledger_entries(world: World) -> list[LedgerEntry]:
    """What the log holds, as the API reads it (leaf index, signed record, leaf hash)."""
    led = world.led
    with led.db.read() as tx:
        stored = led.log.entries(0, led.log.size(tx), tx=tx)
    return [
        LedgerEntry(e.index, SignedRecord.from_json(e.record), e.leaf_hash)
        for e in stored
        if e.record is not None
    ]


def export(entries: list[LedgerEntry], **kw) -> dict:
    return export_epcis(entries, MemoryResolver(entries), **kw)


def events_of(doc: dict, record_id: str) -> list[dict]:
    return [e for e in doc["epcisBody"]["eventList"] if e["lotproof:recordId"] == record_id]


def one(doc: dict, record_id: str, step: str | None) -> dict:
    found = [e for e in events_of(doc, record_id) if e.get("bizStep") == step]
    assert len(found) == 1, (record_id, step, found)
    return found[0]


def party(uscc: str) -> str:
    return f"{NS}party:{uscc}"


@pytest.fixture(scope="module")
def story() -> Story:
    return trade_story(Scenario("epcis"))


@pytest.fixture(scope="module")
def doc(story: Story) -> dict:
    return export(story_entries(story))


def test_document_meets_the_schema_requirements(doc: dict) -> None:
    check_document(doc)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert doc["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    assert doc["@context"][1] == {"lotproof": "urn:lotproof:epcis:"}


def test_schema_checker_catches_what_it_checks(doc: dict) -> None:
    """The checker is not vacuous: each mutation below breaks one schema requirement."""
    broken = {
        "no creationDate": lambda d: d.pop("creationDate"),
        "numeric schemaVersion": lambda d: d.update(schemaVersion=2),
        "offset without colon": lambda d: d["epcisBody"]["eventList"][0].update(
            eventTimeZoneOffset="+0800"
        ),
        "unknown bizStep word": lambda d: d["epcisBody"]["eventList"][0].update(bizStep="making"),
        "quantity without class": lambda d: d["epcisBody"]["eventList"][1]["quantityList"][0].pop(
            "epcClass"
        ),
        "source without party": lambda d: d["epcisBody"]["eventList"][1]["sourceList"][0].pop(
            "source"
        ),
        "bare extension key": lambda d: d["epcisBody"]["eventList"][0].update(leafIndex=3),
        "ilmd on OBSERVE": lambda d: d["epcisBody"]["eventList"][0].update(action="OBSERVE"),
        "epc with a space": lambda d: d["epcisBody"]["eventList"][0]["epcList"].append("a b"),
        "master data without id": lambda d: d["epcisHeader"]["epcisMasterData"]["vocabularyList"][
            0
        ]["vocabularyElementList"][0].pop("id"),
    }
    for name, mutate in broken.items():
        copy = orjson.loads(epcis_bytes(doc))
        mutate(copy)
        with pytest.raises(AssertionError):
            check_document(copy)
        assert name


def test_every_event_points_at_its_leaf(story: Story, doc: dict) -> None:
    by_id = {s.record.id: (i, s) for i, s in enumerate(story.records)}
    events = doc["epcisBody"]["eventList"]
    assert events
    for ev in events:
        index, signed = by_id[ev["lotproof:recordId"]]
        assert ev["lotproof:leafIndex"] == index
        assert ev["lotproof:recordType"] == signed.record.type
        assert ev["lotproof:signer"] == signed.record.actor
        assert ev["lotproof:recordDigest"] == signed.digest().hex()
        assert ev["eventTime"] == signed.record.time
        assert ev["eventTimeZoneOffset"] == "+08:00"
    indices = [ev["lotproof:leafIndex"] for ev in events]
    assert indices == sorted(indices)
    # master data and payment records are not events
    types = {ev["lotproof:recordType"] for ev in events}
    assert types == {"batch", "order", "shipment", "acceptance", "invoice", "return", "recall"}


def test_batch_is_commissioning_with_lot_and_expiry(story: Story, doc: dict) -> None:
    body = story.records[[r.record.id for r in story.records].index(story["batch"])].record.body
    ev = one(doc, story["batch"], "commissioning")
    assert ev["type"] == "ObjectEvent" and ev["action"] == "ADD"
    assert ev["disposition"] == "active"
    assert ev["epcList"] == [f"{NS}unit:{code}" for code in body["unit_codes"]]
    assert len(ev["epcList"]) == 200
    assert "quantityList" not in ev
    mah = story.parties["mah"].uscc
    assert ev["readPoint"] == {"id": f"{NS}site:{mah}"}
    assert ev["bizLocation"] == {"id": f"{NS}site:{mah}"}
    assert ev["ilmd"]["cbvmda:lotNumber"] == INSULIN_LOT
    assert ev["ilmd"]["cbvmda:itemExpirationDate"] == body["expiry_date"]
    assert ev["ilmd"]["lotproof:productionDate"] == body["mfg_date"]
    assert ev["ilmd"]["lotproof:testReportSha256"] == body["test_report_sha256"]


def test_order_and_invoice_are_transactions(story: Story, doc: dict) -> None:
    order = next(r for r in story.records if r.record.id == story["order1"]).record.body
    po = {"type": "po", "bizTransaction": f"{NS}bt:{order['buyer']}:{order['number']}"}
    ev = one(doc, story["order1"], None)
    assert ev["type"] == "TransactionEvent" and ev["action"] == "ADD"
    assert ev["bizTransactionList"] == [po]
    assert ev["quantityList"] == [
        {"epcClass": f"{NS}class:{INSULIN}", "quantity": 120, "uom": "EA"}
    ]
    assert ev["sourceList"] == [{"type": "owning_party", "source": party(order["seller"])}]
    assert ev["destinationList"] == [{"type": "owning_party", "destination": party(order["buyer"])}]
    invoice = next(r for r in story.records if r.record.id == story["invoice3"]).record.body
    inv = one(doc, story["invoice3"], None)
    assert inv["type"] == "TransactionEvent"
    order3 = next(r for r in story.records if r.record.id == story["order3"]).record.body
    assert inv["bizTransactionList"] == [
        {"type": "inv", "bizTransaction": f"{NS}bt:{invoice['seller']}:{invoice['number']}"},
        {"type": "po", "bizTransaction": f"{NS}bt:{order3['buyer']}:{order3['number']}"},
    ]
    assert inv["quantityList"] == [
        {"epcClass": f"{NS}class:{INSULIN}.{INSULIN_LOT}", "quantity": 36, "uom": "EA"}
    ]
    assert inv["lotproof:upstreamInvoices"] == [story["invoice2"]]


def test_shipment_is_shipping_with_parties_documents_and_sensor_data(
    story: Story, doc: dict
) -> None:
    signed = next(r for r in story.records if r.record.id == story["ship1"])
    body = signed.record.body
    ev = one(doc, story["ship1"], "shipping")
    assert ev["type"] == "ObjectEvent" and ev["action"] == "OBSERVE"
    assert ev["disposition"] == "in_transit"
    assert ev["epcList"] == [f"{NS}unit:{u}" for u in body["lines"][0]["unit_codes"]]
    assert ev["readPoint"] == {"id": f"{NS}site:{body['shipper']}"}
    assert "bizLocation" not in ev  # goods in transit have no business location
    order = next(r for r in story.records if r.record.id == story["order1"]).record.body
    assert ev["bizTransactionList"] == [
        {"type": "po", "bizTransaction": f"{NS}bt:{order['buyer']}:{order['number']}"},
        {"type": "desadv", "bizTransaction": f"{NS}bt:{body['shipper']}:{story['ship1']}"},
    ]
    kinds = ["owning_party", "possessing_party"]
    assert ev["sourceList"] == [{"type": k, "source": party(body["shipper"])} for k in kinds]
    assert ev["destinationList"] == [
        {"type": k, "destination": party(body["consignee"])} for k in kinds
    ]
    assert ev["lotproof:carrier"] == party(body["carrier"])
    log = body["temperature"]
    (summary,) = ev["sensorElementList"]  # no excursion on this one
    assert summary["sensorReport"] == [
        {
            "type": "Temperature",
            "uom": "CEL",
            "minValue": log["min_tenths_c"] / 10,
            "maxValue": log["max_tenths_c"] / 10,
            "meanValue": log["mean_tenths_c"] / 10,
        }
    ]
    assert summary["sensorReport"][0]["minValue"] == 3.1
    meta = summary["sensorMetadata"]
    assert meta["deviceID"] == f"{NS}device:{log['device']}"
    assert meta["rawData"].startswith("ni:///sha-256;")
    assert meta["lotproof:readingsCount"] == log["readings_count"]


def test_excursion_is_an_alarm(story: Story, doc: dict) -> None:
    log = next(r for r in story.records if r.record.id == story["ship4"]).record.body["temperature"]
    ev = one(doc, story["ship4"], "shipping")
    summary, alarm = ev["sensorElementList"]
    assert summary["sensorReport"][0]["maxValue"] == 11.2
    (excursion,) = log["excursions"]
    assert alarm["sensorMetadata"]["startTime"] == excursion["start"]
    assert alarm["sensorMetadata"]["endTime"] == excursion["end"]
    assert alarm["sensorReport"] == [
        {"type": "Temperature", "exception": "ALARM_CONDITION", "value": 11.2, "uom": "CEL"}
    ]


def test_partial_acceptance_is_receiving_accepting_and_inspecting(story: Story, doc: dict) -> None:
    ship = next(r for r in story.records if r.record.id == story["ship3"]).record.body
    acc = next(r for r in story.records if r.record.id == story["accept3"]).record.body
    received = one(doc, story["accept3"], "receiving")
    accepted = one(doc, story["accept3"], "accepting")
    rejected = one(doc, story["accept3"], "inspecting")
    units = [f"{NS}unit:{u}" for u in ship["lines"][0]["unit_codes"]]
    gone = [f"{NS}unit:{u}" for u in acc["lines"][0]["rejected_unit_codes"]]
    assert received["epcList"] == units and received["disposition"] == "in_progress"
    assert accepted["disposition"] == "conformant" and len(accepted["epcList"]) == 36
    assert rejected["disposition"] == "damaged" and rejected["epcList"] == gone
    assert set(accepted["epcList"]) | set(rejected["epcList"]) == set(units)
    assert not set(accepted["epcList"]) & set(rejected["epcList"])
    assert rejected["lotproof:rejectionReasons"] == ["damaged"]
    assert rejected["lotproof:returnedTo"] == party(ship["shipper"])
    consignee = ship["consignee"]
    for ev in (received, accepted, rejected):
        assert ev["readPoint"] == ev["bizLocation"] == {"id": f"{NS}site:{consignee}"}
        assert [bt["type"] for bt in ev["bizTransactionList"]] == ["po", "desadv", "recadv"]
    assert received["sourceList"] == [
        {"type": "possessing_party", "source": party(ship["shipper"])}
    ]
    assert accepted["destinationList"] == [
        {"type": "owning_party", "destination": party(consignee)}
    ]
    # the whole shipment refused for a temperature excursion: no accepting event
    assert [e["bizStep"] for e in events_of(doc, story["accept4"])] == ["receiving", "inspecting"]
    refused = one(doc, story["accept4"], "inspecting")
    assert refused["disposition"] == "non_conformant"
    assert refused["lotproof:rejectionReasons"] == ["temperature_excursion"]
    assert len(refused["epcList"]) == 20


def test_return_and_recall(story: Story, doc: dict) -> None:
    ship = next(r for r in story.records if r.record.id == story["ship3"]).record.body
    ret = next(r for r in story.records if r.record.id == story["return"]).record.body
    ev = one(doc, story["return"], "shipping")
    assert ev["disposition"] == "returned"
    assert ev["epcList"] == [f"{NS}unit:{u}" for u in ret["lines"][0]["unit_codes"]]
    assert ev["sourceList"][0] == {"type": "owning_party", "source": party(ship["consignee"])}
    assert ev["destinationList"][0] == {
        "type": "owning_party",
        "destination": party(ship["shipper"]),
    }
    assert [bt["type"] for bt in ev["bizTransactionList"]] == ["po", "desadv", "rma"]
    recall = one(doc, story["recall"], None)
    assert recall["disposition"] == "recalled"
    assert recall["quantityList"] == [
        {"epcClass": f"{NS}class:{INSULIN}.{INSULIN_LOT}", "quantity": 200, "uom": "EA"}
    ]
    assert recall["lotproof:recallLevel"] == "II"


def test_quantities_are_integers_and_only_temperatures_are_decimals(doc: dict) -> None:
    quantities = [
        q["quantity"] for ev in doc["epcisBody"]["eventList"] for q in ev.get("quantityList", [])
    ]
    assert quantities and all(type(q) is int for q in quantities)
    floats = [p for p, v in walk(doc) if isinstance(v, float)]
    assert floats
    assert all(".sensorReport[" in p for p in floats), floats


def test_same_records_same_bytes(story: Story) -> None:
    entries = story_entries(story)
    first = epcis_bytes(export(entries))
    shuffled = entries + entries[:5]
    random.Random(7).shuffle(shuffled)
    assert epcis_bytes(export_epcis(shuffled, MemoryResolver(entries))) == first
    again = trade_story(Scenario("epcis"))  # the same story built anew
    assert epcis_bytes(export(story_entries(again))) == first
    doc = orjson.loads(first)
    assert doc["creationDate"] == max(s.record.time for s in story.records)
    other = trade_story(Scenario("epcis-other"))
    assert epcis_bytes(export(story_entries(other))) != first


def test_two_records_claiming_one_leaf_are_refused(story: Story) -> None:
    entries = story_entries(story)
    clash = [*entries, LedgerEntry(3, entries[4].signed)]
    with pytest.raises(MalformedInputError, match="leaf 3"):
        export_epcis(clash, MemoryResolver(entries))


def test_gtin_products_are_named_by_digital_link(world: World) -> None:
    scn = world.scn
    first13 = "0695123400001"
    gtin = first13 + codes.gtin_check_digit(first13)
    body = dict(scn.product(world.mah, "8699001", "头孢克肟片").record.body, gtin=gtin)
    product = scn.sign(world.mah, "product", body)
    world.ok(product)
    coded = scn.batch(world.mah, "8699001", "GT/01", 3, with_unit_codes=True)
    plain = scn.batch(world.mah, "8699001", "GT-02", 5)
    world.ok(coded, plain)
    entries = ledger_entries(world)
    wanted = (coded.record.id, plain.record.id)
    doc = export_epcis([e for e in entries if e.record_id in wanted], MemoryResolver(entries))
    check_document(doc)
    a, b = doc["epcisBody"]["eventList"]
    assert a["epcList"] == [
        f"https://id.gs1.org/01/{gtin}/21/{u}" for u in coded.record.body["unit_codes"]
    ]
    assert b["quantityList"] == [
        {"epcClass": f"https://id.gs1.org/01/{gtin}/10/GT-02", "quantity": 5, "uom": "EA"}
    ]
    assert a["ilmd"]["cbvmda:lotNumber"] == "GT/01"
    # a lot with a slash is percent-encoded in a class identifier
    order = scn.order(world.dist1, world.mah, [("8699001", 2, 100, "GT/01")])
    world.ok(order)
    entries = ledger_entries(world)
    (ev,) = export_epcis([entries[-1]], MemoryResolver(entries))["epcisBody"]["eventList"]
    assert ev["quantityList"][0]["epcClass"] == f"https://id.gs1.org/01/{gtin}/10/GT%2F01"


def test_correction_is_an_error_declaration(world: World) -> None:
    scn = world.scn
    world.ok(scn.batch(world.mah, AMOXICILLIN, "AMX-C1", 50))
    order = scn.order(world.dist1, world.mah, [(AMOXICILLIN, 20, 100)])
    ship = scn.ship(order, [(0, "AMX-C1", 20)])
    world.ok(order, ship)
    cancel = scn.correction(world.mah, ship, "发错货")
    world.ok(cancel)
    entries = ledger_entries(world)
    doc = export_epcis(entries, MemoryResolver(entries))
    check_document(doc)
    (shipping,) = [e for e in events_of(doc, ship.record.id) if "errorDeclaration" not in e]
    declared = [e for e in doc["epcisBody"]["eventList"] if "errorDeclaration" in e]
    assert len(declared) == 1
    (decl,) = declared
    error = decl.pop("errorDeclaration")
    assert decl == shipping  # the original event, repeated as it was
    assert error["declarationTime"] == cancel.record.time
    assert error["reason"] == "did_not_occur"
    assert error["correctiveEventIDs"] == []
    assert error["lotproof:reason"] == "发错货"
    assert error["lotproof:correction"]["lotproof:recordId"] == cancel.record.id
    assert error["lotproof:correction"]["lotproof:leafIndex"] == entries[-1].leaf_index
    # the declaration sits where the correction is in the log, after the shipment
    ids = [e["lotproof:recordId"] for e in doc["epcisBody"]["eventList"]]
    assert ids.index(ship.record.id) < len(ids) - 1
    assert doc["epcisBody"]["eventList"][-1]["eventID"] == shipping["eventID"]
    # leaf hashes from the log travel with the events
    assert shipping["lotproof:leafHash"] == entries[-2].leaf_hash.hex()


def test_missing_references_are_named(story: Story) -> None:
    entries = story_entries(story)
    accept = next(e for e in entries if e.record_id == story["accept1"])
    without_shipment = MemoryResolver([e for e in entries if e.record_id != story["ship1"]])
    with pytest.raises(NotFoundError, match=story["ship1"]):
        export_epcis([accept], without_shipment)
    without_products = MemoryResolver([e for e in entries if e.signed.record.type != "product"])
    with pytest.raises(NotFoundError, match=f"product {INSULIN}"):
        export_epcis([accept], without_products)


def test_options_and_empty_exports(story: Story) -> None:
    entries = story_entries(story)
    with pytest.raises(MalformedInputError, match="namespace"):
        EpcisOptions(namespace="lotproof")
    with pytest.raises(MalformedInputError, match="offset"):
        EpcisOptions(time_zone_offset="+8")
    with pytest.raises(MalformedInputError, match="creation date"):
        export_epcis([], MemoryResolver(entries))
    empty = export_epcis([], MemoryResolver(entries), creation_date="2026-03-02T00:00:00Z")
    check_document(empty)
    assert empty["epcisBody"]["eventList"] == []
    ours = export_epcis(
        entries,
        MemoryResolver(entries),
        options=EpcisOptions(namespace="urn:example-consortium:", time_zone_offset="+00:00"),
    )
    check_document(ours)
    ev = ours["epcisBody"]["eventList"][0]
    assert ev["eventTimeZoneOffset"] == "+00:00"
    assert ev["epcList"][0].startswith("urn:example-consortium:unit:")
    assert ours["@context"][1] == {"lotproof": "urn:example-consortium:epcis:"}
    plain = export_epcis(entries, MemoryResolver(entries), options=EpcisOptions(count_uom=None))
    check_document(plain)
    counted = [q for e in plain["epcisBody"]["eventList"] for q in e.get("quantityList", [])]
    assert counted and all(set(q) == {"epcClass", "quantity"} for q in counted)
    with pytest.raises(MalformedInputError, match="uom"):
        EpcisOptions(count_uom="each")
    # amoxicillin has no lot-level records in the story: nothing names it
    assert AMOXICILLIN not in epcis_bytes(ours).decode()


def test_products_named_by_the_events_are_master_data(story: Story, doc: dict) -> None:
    (vocabulary,) = doc["epcisHeader"]["epcisMasterData"]["vocabularyList"]
    assert vocabulary["type"] == "urn:epcglobal:epcis:vtype:EPCClass"
    (element,) = vocabulary["vocabularyElementList"]  # only insulin moves in the story
    product = next(
        r.record.body
        for r in story.records
        if r.record.type == "product" and r.record.body["code"] == INSULIN
    )
    assert element["id"] == f"{NS}class:{INSULIN}"
    attributes = {a["id"]: a["attribute"] for a in element["attributes"]}
    mda = "urn:epcglobal:cbv:mda#"
    assert attributes[f"{mda}regulatedProductName"] == product["generic_name"]
    assert attributes[f"{mda}dosageFormType"] == product["dosage_form"]
    assert attributes[f"{mda}strengthDescription"] == product["strength"]
    assert attributes[f"{mda}netContentDescription"] == product["pack_size"]
    assert attributes["urn:lotproof:epcis:approvalNumber"] == product["approval_number"]
    assert attributes["urn:lotproof:epcis:marketingAuthorisationHolder"] == party(product["mah"])
    empty = export_epcis(
        [], MemoryResolver(story_entries(story)), creation_date=doc["creationDate"]
    )
    assert "epcisHeader" not in empty
