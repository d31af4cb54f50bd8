"""GET /v1/epcis: the EPCIS 2.0 export through HTTP, with the read rules of records.

The server's bytes are compared with ``export_epcis`` run here over the same log entries, so
the route adds selection and authorisation only (the mapping itself is tested in
tests/trade/test_epcis.py)."""

from __future__ import annotations

import orjson
import pytest
from api_support import Api

from api.routes.epcis import MAX_RANGE
from ledger.bundle import Bundle, check_bundle, plain_leaf
from ledger.leaf import decode_leaf
from ledger.merkle import hash_leaf
from ledger.records import SignedRecord, SigningKey
from ledger.trade.epcis import LedgerEntry, MemoryResolver, epcis_bytes, export_epcis
from ledger.trade.scenario import INSULIN, INSULIN_LOT

HOSPITAL_RECORDS = (
    "order3",
    "ship3",
    "accept3",
    "invoice3",
    "order4",
    "ship4",
    "accept4",
    "ship5",
    "accept5",
    "invoice4",
    "return",
)


def get(api: Api, key: SigningKey | None, **params: object):
    headers = {} if key is None else {"authorization": f"Bearer {api.client(key).token()}"}
    return api.http.get("/v1/epcis", params=params, headers=headers)


def log_entries(api: Api) -> list[LedgerEntry]:
    log = api.service.log
    with api.service.db.read() as tx:
        stored = log.entries(0, log.size(tx), tx=tx)
    return [LedgerEntry(e.index, SignedRecord.from_json(e.record), e.leaf_hash) for e in stored]


def expected(api: Api, names: tuple[str, ...] | None = None) -> bytes:
    entries = log_entries(api)
    ids = {api.story[n] for n in names} if names else set(api.story.ids.values())
    chosen = [e for e in entries if e.record_id in ids]
    created = max(e.signed.record.time for e in chosen)
    return epcis_bytes(export_epcis(chosen, MemoryResolver(entries), creation_date=created))


def record_ids(body: bytes) -> set[str]:
    return {e["lotproof:recordId"] for e in orjson.loads(body)["epcisBody"]["eventList"]}


def test_auditor_exports_every_record_of_the_batch(api: Api) -> None:
    admin = api.story.scn.admin  # the consortium admin reads as an auditor
    answer = get(api, admin, batch=api.story["batch"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ld+json"
    assert answer.content == expected(api)
    doc = orjson.loads(answer.content)
    for key in ("@context", "type", "schemaVersion", "creationDate", "epcisBody"):
        assert key in doc
    assert record_ids(answer.content) == set(api.story.ids.values())
    # the same query again, and the batch named by product and lot: the same bytes
    assert get(api, admin, batch=api.story["batch"]).content == answer.content
    assert get(api, admin, product=INSULIN, lot=INSULIN_LOT).content == answer.content


def test_participant_exports_only_records_it_is_party_to(api: Api) -> None:
    hospital = api.party_key("hospital")
    answer = get(api, hospital, batch=api.story["batch"])
    assert answer.status_code == 200, answer.text
    want = {api.story[n] for n in HOSPITAL_RECORDS}
    assert record_ids(answer.content) == want
    whole = get(api, hospital, **{"from": 0, "to": api.service.log.size()})
    assert whole.status_code == 200, whole.text
    assert record_ids(whole.content) == want  # the rest of the log is not its business
    events = orjson.loads(answer.content)["epcisBody"]["eventList"]
    assert orjson.loads(whole.content)["epcisBody"]["eventList"] == events
    # what it sees is exactly what the export of its records gives
    entries = log_entries(api)
    mine = [e for e in entries if e.record_id in want]
    assert events == export_epcis(mine, MemoryResolver(entries))["epcisBody"]["eventList"]


def test_ranges_page_through_the_log(api: Api) -> None:
    admin = api.story.scn.admin
    size = api.service.log.size()
    whole = orjson.loads(get(api, admin, **{"from": 0, "to": size}).content)
    cut = size // 2
    first = orjson.loads(get(api, admin, **{"from": 0, "to": cut}).content)
    second = orjson.loads(get(api, admin, **{"from": cut, "to": size}).content)
    events = whole["epcisBody"]["eventList"]
    assert events
    assert first["epcisBody"]["eventList"] + second["epcisBody"]["eventList"] == events
    assert {e["lotproof:leafIndex"] for e in first["epcisBody"]["eventList"]} <= set(range(cut))


def test_a_party_to_nothing_of_the_batch_is_refused(api: Api) -> None:
    arbiter = api.party_key("arbiter")
    answer = get(api, arbiter, batch=api.story["batch"])
    assert answer.status_code == 403
    assert answer.json()["error"]["type"] == "forbidden"
    empty = get(api, arbiter, **{"from": 0, "to": 5})
    assert empty.status_code == 200
    document = orjson.loads(empty.content)
    assert document["epcisBody"]["eventList"] == []
    # The records the arbiter may not read leave no trace, not even their latest time.
    full = orjson.loads(get(api, api.story.scn.admin, **{"from": 0, "to": 5}).content)
    assert full["creationDate"] != document["creationDate"]


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({}, 400, "name either a batch"),
        ({"batch": "b-1", "from": 0, "to": 3}, 400, "name either a batch"),
        ({"product": INSULIN}, 400, "both product and lot"),
        ({"batch": "b-1", "product": INSULIN, "lot": INSULIN_LOT}, 400, "not both"),
        ({"from": 0}, 400, "both from and to"),
        ({"from": 5, "to": 5}, 400, "0 <= from < to"),
        ({"from": 0, "to": MAX_RANGE + 1}, 400, f"at most {MAX_RANGE}"),
        ({"from": 0, "to": 10_000}, 404, "beyond the log"),
        ({"batch": "no-such-batch"}, 404, "no batch no-such-batch"),
        ({"product": INSULIN, "lot": "NOPE"}, 404, "no batch"),
        ({"from": -1, "to": 3}, 422, "from"),
        ({"lot": "bad lot!", "product": INSULIN}, 422, "lot"),
        ({"batch": "bad id!"}, 422, "batch"),
    ],
)
def test_bad_parameters_are_named_4xx(api: Api, params: dict, status: int, needle: str) -> None:
    before = api.service.log.size()
    answer = get(api, api.story.scn.admin, **params)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert needle in error["message"], error
    assert api.service.log.size() == before


def test_export_needs_a_token(api: Api) -> None:
    answer = get(api, None, batch=api.story["batch"])
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "unauthenticated"
    bad = api.http.get(
        "/v1/epcis",
        params={"batch": api.story["batch"]},
        headers={"authorization": "Bearer lp1.x.y"},
    )
    assert bad.status_code == 401


@pytest.mark.postgres
def test_export_on_postgres_matches_sqlite(api: Api, api_factory, postgres_url: str) -> None:
    """The same story on PostgreSQL exports the same bytes (same selection queries)."""
    pg = api_factory(postgres_url)
    pg.client().submit(pg.story.records)
    for a in (api, pg):
        answer = get(a, a.story.scn.admin, batch=a.story["batch"])
        assert answer.status_code == 200, answer.text
        assert answer.content == expected(a)
    hospital = get(pg, pg.party_key("hospital"), product=INSULIN, lot=INSULIN_LOT)
    assert record_ids(hospital.content) == {pg.story[n] for n in HOSPITAL_RECORDS}


def test_an_exported_event_is_proved_against_the_log(api: Api) -> None:
    """recordId -> GET /v1/records/{id}: a proof bundle that verifies against the log's key,
    whose entry has the event's leaf index, and whose leaf (carried, or derived from the
    record for a plain leaf) has the event's leaf hash and commits to its record digest."""
    hospital = api.party_key("hospital")
    events = orjson.loads(get(api, hospital, batch=api.story["batch"]).content)["epcisBody"][
        "eventList"
    ]
    escrowed = next(e for e in events if e["lotproof:recordId"] == api.story["accept3"])
    plain = next(e for e in events if e["lotproof:recordId"] == api.story["ship3"])
    for event in (escrowed, plain):
        answer = api.client(hospital).record(event["lotproof:recordId"])
        report = check_bundle(Bundle.from_dict(answer["bundle"]), [api.service.note_verifier])
        assert report.ok, report.failures
        (entry,) = [
            e for e in answer["bundle"]["entries"] if e["leaf_index"] == event["lotproof:leafIndex"]
        ]
        signed = SignedRecord.from_dict(entry["record"])
        assert signed.record.id == event["lotproof:recordId"]
        leaf = bytes.fromhex(entry["leaf"]) if "leaf" in entry else plain_leaf(signed)
        assert hash_leaf(leaf).hex() == event["lotproof:leafHash"]
        _, digest = decode_leaf(leaf)  # the leaf commits to the record's digest
        assert digest.hex() == event["lotproof:recordDigest"] == signed.digest().hex()
