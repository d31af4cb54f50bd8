"""The API on the persistent embedded chain: anchors in bundles, escrow status, RPC relay."""

from __future__ import annotations

import time

import pytest
from api_support import Api

from api.client import ApiError
from ledger.bundle import Bundle, check_bundle


@pytest.fixture
def chain_api(api_factory) -> Api:
    a = api_factory(chain="embedded")
    a.client().submit(a.story.records)
    return a


def test_anchor_lands_and_bundles_carry_it(chain_api: Api) -> None:
    api = chain_api
    hospital = api.client(api.party_key("hospital"))
    hospital.anchor_now()
    deadline = time.monotonic() + 10
    anchors: list = []
    while time.monotonic() < deadline and not anchors:
        anchors = api.client().anchors()["anchors"]
        time.sleep(0.05)
    assert anchors and anchors[0]["tree_size"] == len(api.story.records)
    answer = hospital.trace_reverse(api.uscc("hospital"), api.story["batch"])
    bundle = Bundle.from_dict(answer["bundle"])
    assert bundle.anchor is not None
    assert bundle.anchor.tx_hash.hex() == anchors[0]["tx_hash"][2:]
    report = check_bundle(bundle, [api.service.note_verifier])
    assert report.ok and report.counts()["anchor"] == (1, 0)
    info = api.client().log_info()
    assert info["chain"]["registry"] == anchors[0]["registry"] == api.client().anchors()["registry"]


def test_escrow_status_and_rpc_relay(chain_api: Api) -> None:
    api = chain_api
    dist1 = api.client(api.party_key("dist1"))
    status = dist1.escrow(api.story["order1"])
    assert status["escrow_terms"] is not None
    assert status["chain"]["state"] == "none"  # nobody deposited on this chain
    assert int(dist1.rpc("eth_chainId"), 16) == api.service.chain.chain_id
    with pytest.raises(ApiError) as info:
        dist1.rpc("eth_sendTransaction", [{"from": "0x" + "00" * 20}])
    assert info.value.status == 400 and "not relayed" in info.value.message
    r = api.http.post("/v1/chain/rpc", json={"method": "eth_chainId", "params": []})
    assert r.status_code == 401
