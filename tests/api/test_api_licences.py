"""GET /v1/licences: a participant's licences, each with its status on a day, in a bundle
that verifies offline; readable by the holder, reviewers, auditors and regulators."""

from __future__ import annotations

from datetime import date

import pytest
from api_support import Api

from api.client import ApiError
from ledger.bundle import Bundle, check_bundle
from ledger.trade import codes


def _licences(api: Api, who: str, holder: str, on: str | None = None) -> dict:
    client = api.client(api.party_key(who) if who in api.story.parties else None)
    return dict(
        client._request("GET", "/v1/licences", auth=True, params={"holder": holder, "on": on})
    )


def test_statuses_access_and_bundle(api: Api) -> None:
    scn, p = api.story.scn, api.story.parties
    dist2 = p["dist2"]
    card = codes.PURCHASE_CARD
    expired = scn.licence(dist2, card, valid_from=date(2020, 1, 1), valid_to=date(2024, 1, 1))
    rejected = scn.licence(dist2, card, verdict="rejected")
    future = scn.licence(dist2, card, valid_from=date(2099, 1, 1), valid_to=None)
    withdrawn = scn.licence(dist2, card)
    correction = scn.correction(p["reviewer"], withdrawn)
    api.client().submit([expired, rejected, future, withdrawn, correction])

    answer = _licences(api, "dist2", api.uscc("dist2"))
    by_id = {q["record_id"]: q for q in answer["summary"]["licences"]}
    assert by_id[expired.record.id]["status"] == "expired"
    assert by_id[rejected.record.id]["status"] == "rejected"
    assert by_id[future.record.id]["status"] == "not_yet_valid"
    assert by_id[future.record.id]["valid_to"] is None
    assert by_id[withdrawn.record.id]["status"] == "withdrawn"
    assert by_id[withdrawn.record.id]["withdrawn_by"] == correction.record.id
    business = [q for q in by_id.values() if q["kind"] == codes.BUSINESS_LICENCE]
    assert [q["status"] for q in business] == ["valid"]
    assert business[0]["number"] == dist2.uscc and business[0]["kind_zh"] == "营业执照"

    # Every listed licence, the withdrawing correction and the enrolment are in the bundle,
    # which verifies against the log's key.
    bundle = answer["bundle"]
    ids = {e["record"]["record"]["id"] for e in bundle["entries"]}
    assert set(by_id) | {correction.record.id} <= ids
    assert any(e["record"]["record"]["type"] == "enrolment" for e in bundle["entries"])
    report = check_bundle(Bundle.from_dict(bundle), [api.service.note_verifier])
    assert report.ok, report.failures
    assert bundle["query"]["kind"] == "licences" and bundle["query"]["holder"] == dist2.uscc

    # On another day the statuses follow the dates.
    then = _licences(api, "dist2", dist2.uscc, on="2023-06-01")["summary"]
    assert then["day"] == "2023-06-01"
    assert {q["record_id"]: q["status"] for q in then["licences"]}[expired.record.id] == "valid"

    # The reviewer reads anyone's; an auditor too; another trader may not; nobody anonymous.
    assert _licences(api, "reviewer", dist2.uscc)["summary"]["holder"] == dist2.uscc
    auditor = scn.party("审计署", ["auditor"], region="110000")
    api.client().submit(scn.enrol(auditor))
    answer = dict(
        api.client(auditor.key)._request(
            "GET", "/v1/licences", auth=True, params={"holder": dist2.uscc}
        )
    )
    assert len(answer["summary"]["licences"]) == len(by_id)
    with pytest.raises(ApiError) as refused:
        _licences(api, "dist1", dist2.uscc)
    assert refused.value.status == 403
    assert api.http.get("/v1/licences", params={"holder": dist2.uscc}).status_code == 401
    bad = api.http.get(
        "/v1/licences",
        params={"holder": "not-a-uscc"},
        headers={"authorization": f"Bearer {api.client(dist2.key).token()}"},
    )
    assert bad.status_code == 422 and "error" in bad.json()


def test_unknown_holder_has_no_licences(api: Api) -> None:
    answer = _licences(api, "reviewer", "91440100MA5XXXXX0X")
    assert answer["summary"]["licences"] == []
    assert answer["bundle"]["entries"] == []
