"""The HTTP API end to end: submission, auth, who may read what, bundles that verify."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest
from api_support import Api

from api.auth import ChallengeStore, challenge_message
from api.client import ApiError
from api.errors import AuthenticationError
from ledger.bundle import Bundle, check_bundle, checkpoint_size
from ledger.records import SigningKey, make_record
from ledger.trade.scenario import AMOXICILLIN


def _verify(api: Api, bundle: dict) -> None:
    report = check_bundle(Bundle.from_dict(bundle), [api.service.note_verifier])
    assert report.ok, report.failures


def test_submitted_story_is_checkpointed_within_a_second(api: Api) -> None:
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        cp = api.client().latest_checkpoint()
        if cp["tree_size"] == len(api.story.records):
            break
        time.sleep(0.02)
    assert cp["tree_size"] == len(api.story.records)
    assert cp["note"].startswith("lotproof.test/log\n")


def test_rule_refusal_is_422_with_rule_id_and_writes_nothing(api: Api) -> None:
    before = api.service.log.size()
    replay = api.story.records[5]
    with pytest.raises(ApiError) as info:
        api.client().submit(replay)
    assert info.value.status == 422 and info.value.rule_id == "REC-REPLAY"
    assert api.service.log.size() == before
    response = api.http.post("/v1/records", content=replay.canonical_bytes())
    assert response.status_code == 422
    assert response.json()["error"]["rule_id"] == "REC-REPLAY"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("not json", b"{nope"),
        ("float in body", b'{"record": {"v": 1.5}, "signature": "00"}'),
        ("empty batch", b'{"records": []}'),
        ("batch with extra key", b'{"records": [], "x": 1}'),
        ("number", b"42"),
    ],
)
def test_malformed_submissions_are_400_json(api: Api, name: str, body: bytes) -> None:
    response = api.http.post("/v1/records", content=body)
    assert response.status_code == 400, name
    assert response.json()["error"]["type"] == "malformed_input"


def test_batch_over_the_limit_is_413(api: Api) -> None:
    rec = api.story.records[0].to_dict()
    limit = api.service.settings.max_batch
    response = api.http.post("/v1/records", json={"records": [rec] * (limit + 1)})
    assert response.status_code == 413


def test_a_body_over_the_byte_limit_is_413_even_without_a_length(api: Api) -> None:
    """A chunked body declares no Content-Length: it is refused once it passes the limit,
    not read whole first (the message cannot name its full size)."""
    limit = api.service.settings.max_body_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(limit // (1 << 20) * 4):
            sent += 1 << 20
            yield b" " * (1 << 20)

    before = api.service.log.size()
    response = api.http.post("/v1/records", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"] == {
        "type": "payload_too_large",
        "message": f"request body exceeds {limit} bytes",
    }
    assert api.service.log.size() == before


def test_challenges_survive_a_flood_and_bind_key_expiry_and_one_use() -> None:
    """Issuing a challenge stores nothing, so 200,000 requests for others' challenges do not
    push out a pending one; a nonce is good once, for its key, until it expires."""
    store = ChallengeStore(ttl=120)
    pending = store.issue("victim0000000000", 1_000)
    for _ in range(200_000):
        store.issue("flooder000000000", 1_000)
    assert store.take(pending.nonce, "victim0000000000", 1_050).expires_at == 1_120
    with pytest.raises(AuthenticationError, match="already used"):
        store.take(pending.nonce, "victim0000000000", 1_050)
    other = store.issue("victim0000000000", 1_000)
    with pytest.raises(AuthenticationError, match="not issued to key flooder"):
        store.take(other.nonce, "flooder000000000", 1_050)
    with pytest.raises(AuthenticationError, match="expired at 1120"):
        store.take(other.nonce, "victim0000000000", 1_121)
    forged = other.nonce[:-1] + ("0" if other.nonce[-1] != "0" else "1")
    with pytest.raises(AuthenticationError, match="unknown"):
        store.take(forged, "victim0000000000", 1_050)
    with pytest.raises(AuthenticationError, match="unknown"):
        ChallengeStore().take(other.nonce, "victim0000000000", 1_050)  # another process


def test_login_and_each_denial(api: Api) -> None:
    http = api.http
    # No token: 401 with a JSON body and a WWW-Authenticate header.
    r = http.get("/v1/trace/forward", params={"batch": api.story["batch"]})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["type"] == "unauthenticated"
    # Garbage token, wrong scheme.
    for header in ("Bearer lp1.xx.yy", "Basic abc", "Bearer "):
        r = http.get("/v1/auth/whoami", headers={"authorization": header})
        assert r.status_code == 401, header
    # Unknown key cannot even get a challenge.
    r = http.post("/v1/auth/challenge", json={"key_id": SigningKey.generate().key_id})
    assert r.status_code == 401
    # A wrong signature on a real challenge.
    key = api.party_key("dist2")
    c = http.post("/v1/auth/challenge", json={"key_id": key.key_id}).json()
    other = SigningKey.generate()
    bad = other.sign(challenge_message(c["audience"], key.key_id, c["nonce"], c["expires_at"]))
    r = http.post(
        "/v1/auth/token", json={"key_id": key.key_id, "nonce": c["nonce"], "signature": bad.hex()}
    )
    assert r.status_code == 401 and "does not verify" in r.json()["error"]["message"]
    # The nonce was consumed: even the right signature fails now.
    good = key.sign(challenge_message(c["audience"], key.key_id, c["nonce"], c["expires_at"]))
    r = http.post(
        "/v1/auth/token",
        json={"key_id": key.key_id, "nonce": c["nonce"], "signature": good.hex()},
    )
    assert r.status_code == 401 and "unknown or already used" in r.json()["error"]["message"]
    # A tampered token.
    client = api.client(key)
    token = client.token()
    head, payload, mac = token.split(".")
    forged = f"{head}.{payload}.{'A' + mac[1:] if mac[0] != 'A' else 'B' + mac[1:]}"
    r = http.get("/v1/auth/whoami", headers={"authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert client.whoami()["actor"] == api.uscc("dist2")


def test_participants_read_only_what_they_are_party_to(api: Api) -> None:
    story = api.story
    hospital = api.client(api.party_key("hospital"))
    dist2 = api.client(api.party_key("dist2"))
    # Reverse trace of someone else's stock: 403.
    with pytest.raises(ApiError) as info:
        dist2.trace_reverse(api.uscc("hospital"), story["batch"])
    assert info.value.status == 403 and info.value.kind == "forbidden"
    # A record between MAH and dist1 is not dist2's business.
    with pytest.raises(ApiError) as info:
        dist2.record(story["order1"])
    assert info.value.status == 403
    # Recall scope is for the registrant.
    with pytest.raises(ApiError) as info:
        hospital.recall_scope(story["batch"])
    assert info.value.status == 403
    # Alerts of another participant.
    with pytest.raises(ApiError) as info:
        hospital.alerts(api.uscc("mah"))
    assert info.value.status == 403
    # Escrow of an order between others.
    with pytest.raises(ApiError) as info:
        dist2.escrow(story["order1"])
    assert info.value.status == 403
    # What they may read verifies.
    _verify(api, hospital.trace_reverse(api.uscc("hospital"), story["batch"])["bundle"])
    _verify(api, dist2.record(story["order2"])["bundle"])
    assert dist2.escrow(story["order2"])["buyer"] == api.uscc("dist2")


def test_trace_bundles_redact_the_acceptances_of_other_pairs(api: Api) -> None:
    """The hospital's reverse trace and dist2's forward trace pass through dist1's
    acceptance from the MAH: it is proven included by its leaf hash, but neither its record
    nor its leaf (with the amount due) is shown to those who may not read the record."""
    story = api.story
    accept1 = story["accept1"]
    for name, answer in (
        ("hospital", lambda c: c.trace_reverse(api.uscc("hospital"), story["batch"])),
        ("dist2", lambda c: c.trace_forward(story["batch"])),
    ):
        reader = api.client(api.party_key(name))
        with pytest.raises(ApiError):
            reader.record(accept1)
        bundle = answer(reader)["bundle"]
        _verify(api, bundle)
        parsed = Bundle.from_dict(bundle)
        shown = {e.record.record.id for e in parsed.entries if e.record is not None}
        assert accept1 not in shown
        redacted = [e for e in bundle["entries"] if e.get("redacted") == "acceptance"]
        assert redacted and all(set(e) == {"leaf_index", "leaf_hash", "redacted"} for e in redacted)
    # The registrant's recall scope: the moves downstream between others, redacted too.
    scope = api.client(api.party_key("mah")).recall_scope(story["batch"])["bundle"]
    _verify(api, scope)
    assert any(e.get("redacted") == "acceptance" for e in scope["entries"])
    # The parties to that acceptance (the consignee and the shipper) still see it whole.
    for name in ("dist1", "mah"):
        full = api.client(api.party_key(name)).trace_forward(story["batch"])["bundle"]
        shown = {e.record.record.id for e in Bundle.from_dict(full).entries if e.record}
        assert accept1 in shown, name


def test_the_parties_read_the_ruling_on_their_dispute(api: Api) -> None:
    """Buyer and seller read the dispute and the arbiter's resolution of their order; the
    arbiter reads the dispute it ruled on; a third party reads neither."""
    scn, parties = api.story.scn, api.story.parties
    order = scn.order(parties["dist2"], parties["mah"], [(AMOXICILLIN, 10, 100)], escrow=True)
    dispute = scn.sign(
        parties["dist2"], "dispute", {"order": order.record.id, "reason": "货不对板"}
    )
    ruling = scn.sign(
        parties["arbiter"],
        "dispute_resolution",
        {"dispute": dispute.record.id, "to_seller_fen": 600, "to_buyer_fen": 400, "note": "n"},
    )
    api.client().submit([order, dispute, ruling])
    for name in ("dist2", "mah", "arbiter"):
        reader = api.client(api.party_key(name))
        for record in (dispute, ruling):
            _verify(api, reader.record(record.record.id)["bundle"])
    with pytest.raises(ApiError) as info:
        api.client(api.party_key("hospital")).record(ruling.record.id)
    assert info.value.status == 403


def test_forward_trace_full_for_registrant_filtered_for_a_holder(api: Api) -> None:
    batch = api.story["batch"]
    mah = api.client(api.party_key("mah")).trace_forward(batch)
    dist2 = api.client(api.party_key("dist2")).trace_forward(batch)
    full = Bundle.from_dict(mah["bundle"])
    part = Bundle.from_dict(dist2["bundle"])
    _verify(api, mah["bundle"])
    _verify(api, dist2["bundle"])
    assert len(part.trace.links) < len(full.trace.links)  # type: ignore[union-attr]
    seen = {e.record.record.id for e in part.entries if e.record is not None}
    assert api.story["ship4"] not in seen  # dist1 -> hospital: not dist2's move
    assert api.story["ship2"] in seen
    scope = api.client(api.party_key("mah")).recall_scope(batch)
    assert scope["summary"]["recall_scope"]["quantity_at_risk"] > 0
    _verify(api, scope["bundle"])


def test_public_unit_is_verifiable_and_carries_no_prices(api: Api) -> None:
    ship3 = next(r for r in api.story.records if r.record.id == api.story["ship3"])
    code = ship3.record.body["lines"][0]["unit_codes"][0]  # a unit that reached the hospital
    answer = api.client().public_unit(code)
    text = str(answer)
    for field in ("unit_price_fen", "total_fen", "amount_fen", "escrow"):
        assert field not in text
    bundle = Bundle.from_dict(answer["bundle"])
    assert any(e.redacted for e in bundle.entries)
    _verify(api, answer["bundle"])
    assert answer["summary"]["genuine"] is True
    assert answer["summary"]["route"][0]["type"] == "batch"
    r = api.http.get("/v1/public/units/" + "9" * 20)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_auditor_role_reads_everything(api: Api) -> None:
    # An auditor enrolled by the admin reads any participant's stock.
    scn = api.story.scn
    auditor = scn.party("某会计师事务所", ["auditor"], region="110000")
    api.client().submit(scn.enrol(auditor))
    client = api.client(auditor.key)
    answer = client.trace_reverse(api.uscc("hospital"), api.story["batch"])
    _verify(api, answer["bundle"])
    assert client.alerts()["summary"]["holder"] == auditor.uscc


def test_proof_endpoints_and_revocation_cuts_tokens(api: Api) -> None:
    client = api.client()
    cp = client.checkpoint_now()
    size = cp["tree_size"]
    assert client.checkpoint(size)["root_hash"] == cp["root_hash"]
    proof = client.consistency(3, size)
    assert proof["root2"] == cp["root_hash"]
    inc = client.inclusion(4)
    assert inc["tree_size"] == size and len(inc["path"]) > 0
    assert api.http.get("/v1/checkpoints/99999").status_code == 404
    assert api.http.get("/v1/proofs/consistency", params={"from": 5, "to": 3}).status_code == 400
    # Revoking a key cuts its live token off at once.
    scn = api.story.scn
    hospital = api.story.parties["hospital"]
    c = api.client(hospital.key)
    c.whoami()
    revoke = make_record(
        scn.admin,
        "key_revocation",
        "consortium-admin",
        {"participant": hospital.uscc, "key_id": hospital.key.key_id, "reason": "lost laptop"},
    )
    client.submit(revoke)
    with pytest.raises(ApiError) as info:
        c.whoami()
    assert info.value.status == 401 and "revoked" in info.value.message


@pytest.mark.postgres
def test_runs_on_postgres(api_factory, postgres_url: str) -> None:
    a = api_factory(postgres_url)
    a.client().submit(a.story.records)
    answer = a.client(a.party_key("hospital")).trace_reverse(a.uscc("hospital"), a.story["batch"])
    _verify(a, answer["bundle"])


def test_trace_bundle_is_version_2_with_only_the_licences_of_the_trading_days(api: Api) -> None:
    hospital = api.story.parties["hospital"]
    old = api.story.scn.licence(
        hospital,
        "business_licence",
        valid_from=date(2020, 1, 1),
        valid_to=date(2021, 1, 1),
        number=hospital.uscc,
    )
    api.client().submit([old])
    answer = api.client(api.party_key("hospital")).trace_reverse(
        api.uscc("hospital"), api.story["batch"]
    )
    bundle = answer["bundle"]
    assert bundle["version"] == 2
    ids = {e["record"]["record"]["id"] for e in bundle["entries"] if "record" in e}
    # The hospital's current licences are evidence; the one that expired long before it
    # traded is not, and the bundle still verifies.
    assert old.record.id not in ids
    assert any(
        e["record"]["record"]["type"] == "qualification"
        and e["record"]["record"]["body"]["holder"] == hospital.uscc
        for e in bundle["entries"]
        if "record" in e
    )
    _verify(api, bundle)
    # Leaves travel only when they are not the plain leaf of their record (escrow terms).
    for e in bundle["entries"]:
        assert "inclusion_path" not in e
        if "leaf" in e:
            assert e["record"]["record"]["type"] == "acceptance"
            assert e["leaf"][64 * 2 : 96 * 2] != "0" * 64  # a chain id
    # One shared proof, shorter than the entries' separate RFC 9162 paths.
    parsed = Bundle.from_dict(bundle)
    size = checkpoint_size(parsed.checkpoint)
    separate = sum(len(api.service.log.inclusion_proof(e.leaf_index, size)) for e in parsed.entries)
    assert len(parsed.inclusion_proof) < separate
