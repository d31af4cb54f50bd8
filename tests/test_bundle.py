"""Proof bundles: build, serialize, verify offline; every tampering is caught and named."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.bundle import (
    PUBLIC_REDACTED_TYPES,
    AnchorRef,
    Bundle,
    BundleVerificationError,
    Entry,
    Link,
    Trace,
    build_bundle,
    check_bundle,
    inclusion_multiproof,
    plain_leaf,
    proof_ranges,
    verify_bundle,
    verify_multiproof,
)
from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.errors import (
    HashLengthError,
    IndexRangeError,
    MalformedInputError,
    ProofSizeError,
    RootMismatchError,
)
from ledger.leaf import LeafHeader, LeafKind, encode_leaf
from ledger.merkle import MemoryTree, hash_leaf, root_from_leaf_hashes
from ledger.records import SignedRecord, SigningKey, make_record
from ledger.trade.uscc import make_uscc

ADMIN = make_uscc("91110000000000001")
MAH = make_uscc("91110000000000002")
DIST = make_uscc("91110000000000003")
HOSP = make_uscc("12110000000000004")
REVIEWER = make_uscc("91110000000000005")
PRODUCT = "8612345"
LOT = "L2026A"
DAY = "2026-03-02T08:00:00Z"
ESCROW_HEADER = LeafHeader(
    LeafKind.ACCEPTANCE,
    chain_id=131277322940537,
    escrow=bytes.fromhex("11" * 20),
    order_id=bytes.fromhex("22" * 32),
    buyer=bytes.fromhex("33" * 20),
    seller=bytes.fromhex("44" * 20),
    amount=50000 * 10**16,
)


@dataclass
class MiniLog:
    """Signed records appended to an in-memory RFC 9162 tree, as the ledger would."""

    tree: MemoryTree = field(default_factory=MemoryTree)
    leaves: list[bytes] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)

    def add(self, signed: Any, header: LeafHeader | None = None) -> int:
        kind = LeafKind.for_record_type(signed.record.type)
        leaf = encode_leaf(header or LeafHeader(kind), signed.digest())
        index = self.tree.append(leaf)
        self.leaves.append(leaf)
        self.records.append(signed)
        self.ids[signed.record.id] = index
        return index

    def entry(self, index: int) -> Entry:
        return Entry(leaf_index=index, leaf=self.leaves[index], record=self.records[index])


@dataclass
class World:
    log: MiniLog
    keys: dict[str, SigningKey]
    signer: NoteSigner
    idx: dict[str, int]
    signers: dict[str, int]

    def bundle(
        self,
        *,
        links: list[tuple[str, str]],
        start: str,
        size: int | None = None,
        redact: frozenset[str] = frozenset(),
        anchor: AnchorRef | None = None,
        omit: frozenset[str] = frozenset(),
    ) -> Bundle:
        size = self.log.tree.size if size is None else size
        note = sign_checkpoint(
            Checkpoint("lotproof.test/log", size, self.log.tree.root(size)), [self.signer]
        )
        skip = {self.idx[name] for name in omit}
        entries = [self.log.entry(i) for i in range(size) if i not in skip]
        return build_bundle(
            checkpoint=note,
            entries=entries,
            signers=self.signers,
            tree=self.log.tree,
            trace=Trace(
                "forward",
                self.idx[start],
                tuple(Link(self.idx[a], self.idx[b]) for a, b in links),
            ),
            anchor=anchor,
            query={"kind": "trace_forward", "batch": f"{PRODUCT}/{LOT}"},
            redact_types=redact,
            admins={ADMIN: self.keys[ADMIN].public_key},
        )


def _qual(holder: str, kind: str, number: str, valid_to: str | None = None) -> dict[str, Any]:
    return {
        "holder": holder,
        "holder_name": "测试企业",
        "kind": kind,
        "number": number,
        "scope": ["chemical_drugs"],
        "authority": "北京市药品监督管理局",
        "valid_from": "2025-01-01",
        "valid_to": valid_to,
        "document_sha256": "ab" * 32,
        "verdict": "approved",
    }


def make_world(
    *,
    dist_ships: int = 40,
    dist_licence_to: str | None = None,
    hosp_accepts: int = 38,
    dist_licence_number: str = "京AA1234567",
) -> World:
    log = MiniLog()
    keys = {who: SigningKey.generate() for who in (ADMIN, MAH, DIST, HOSP, REVIEWER)}
    idx: dict[str, int] = {}

    def add(
        name: str, who: str, type_: str, body: dict[str, Any], header: LeafHeader | None = None
    ) -> None:
        signed = make_record(keys[who], type_, who, body, time=DAY, record_id=name)
        idx[name] = log.add(signed, header)

    def enrol(name: str, who: str, roles: list[str], **extra: Any) -> None:
        body = {
            "uscc": who,
            "name": name,
            "roles": roles,
            "keys": [keys[who].public_key.hex()],
            "region": "110000",
            **extra,
        }
        signed = make_record(keys[ADMIN], "enrolment", ADMIN, body, time=DAY, record_id=name)
        idx[name] = log.add(signed)

    enrol("enrol-reviewer", REVIEWER, ["reviewer"])
    enrol("enrol-mah", MAH, ["mah", "manufacturer"])
    enrol("enrol-dist", DIST, ["distributor"])
    enrol("enrol-hosp", HOSP, ["hospital"], public=True)
    for holder, kind, number, to in (
        (MAH, "business_licence", MAH, None),
        (MAH, "drug_manufacturing_licence", "京20250001", None),
        (DIST, "business_licence", DIST, None),
        (DIST, "drug_distribution_licence", dist_licence_number, dist_licence_to),
        (HOSP, "business_licence", HOSP, None),
        (HOSP, "medical_institution_licence", "PDY00001X", None),
    ):
        add(f"q-{holder[-4:]}-{kind}", REVIEWER, "qualification", _qual(holder, kind, number, to))
    add(
        "product",
        MAH,
        "product",
        {
            "code": PRODUCT,
            "generic_name": "阿莫西林胶囊",
            "dosage_form": "胶囊",
            "strength": "0.25g",
            "pack_size": "24粒/盒",
            "approval_number": "国药准字H20250001",
            "category": "chemical_drugs",
            "special_class": None,
            "storage_min_tenths_c": 100,
            "storage_max_tenths_c": 300,
            "mah": MAH,
        },
    )
    add(
        "batch",
        MAH,
        "batch",
        {
            "product": PRODUCT,
            "lot": LOT,
            "mfg_date": "2026-01-01",
            "expiry_date": "2028-01-01",
            "quantity": 1000,
            "test_report_sha256": "cd" * 32,
        },
    )
    order_line = {"product": PRODUCT, "quantity": 100, "unit_price_fen": 500}
    add(
        "order-1",
        DIST,
        "order",
        {
            "buyer": DIST,
            "seller": MAH,
            "number": "PO-1",
            "lines": [order_line],
            "total_fen": 50000,
            "requested_delivery": "2026-03-10",
        },
    )
    ship_line = {
        "order_line": 0,
        "product": PRODUCT,
        "lot": LOT,
        "expiry_date": "2028-01-01",
        "quantity": 100,
    }
    add(
        "ship-1",
        MAH,
        "shipment",
        {"order": "order-1", "shipper": MAH, "consignee": DIST, "lines": [ship_line]},
    )
    add(
        "accept-1",
        DIST,
        "acceptance",
        {"shipment": "ship-1", "lines": [{"line": 0, "accepted": 100, "rejected": 0}]},
        ESCROW_HEADER,  # an escrowed order: the leaf carries the payment's terms
    )
    add(
        "order-2",
        HOSP,
        "order",
        {
            "buyer": HOSP,
            "seller": DIST,
            "number": "PO-2",
            "lines": [{"product": PRODUCT, "quantity": dist_ships, "unit_price_fen": 650}],
            "total_fen": dist_ships * 650,
            "requested_delivery": "2026-03-12",
        },
    )
    add(
        "ship-2",
        DIST,
        "shipment",
        {
            "order": "order-2",
            "shipper": DIST,
            "consignee": HOSP,
            "lines": [dict(ship_line, quantity=dist_ships)],
        },
    )
    rejected = dist_ships - hosp_accepts
    line: dict[str, Any] = {"line": 0, "accepted": hosp_accepts, "rejected": rejected}
    if rejected:
        line["reasons"] = ["damaged"]
    add("accept-2", HOSP, "acceptance", {"shipment": "ship-2", "lines": [line]})
    signers = {
        keys[who].key_id: idx[n]
        for who, n in (
            (REVIEWER, "enrol-reviewer"),
            (MAH, "enrol-mah"),
            (DIST, "enrol-dist"),
            (HOSP, "enrol-hosp"),
        )
    }
    return World(log, keys, NoteSigner.generate("lotproof.test"), idx, signers)


TRACE = [
    ("batch", "ship-1"),
    ("ship-1", "accept-1"),
    ("accept-1", "ship-2"),
    ("ship-2", "accept-2"),
    ("order-1", "ship-1"),
    ("order-2", "ship-2"),
]


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def test_a_complete_trace_bundle_verifies(world: World) -> None:
    bundle = world.bundle(links=TRACE, start="batch")
    report = check_bundle(bundle, [world.signer.verifier()], origin="lotproof.test/log")
    assert report.ok, report.failures
    counts = report.counts()
    n = world.log.tree.size
    assert counts["inclusion"] == (n, 0)
    assert counts["signature"] == (n, 0)
    assert counts["leaf"] == (n, 0)
    assert counts["link"] == (len(TRACE), 0)
    assert counts["licence"] == (4, 0)  # two shipments, two parties each
    assert counts["conservation"] == (2, 0)
    verify_bundle(bundle, [world.signer.verifier()])


def test_json_round_trip_is_byte_identical(world: World) -> None:
    bundle = world.bundle(links=TRACE, start="batch")
    data = bundle.to_json()
    doc = bundle.to_dict()
    # Only the escrowed acceptance's leaf travels; every other leaf is the plain leaf.
    assert [e["record"]["record"]["id"] for e in doc["entries"] if "leaf" in e] == ["accept-1"]
    assert not any("inclusion_path" in e for e in doc["entries"])
    again = Bundle.from_json(data)
    assert again.to_json() == data
    assert check_bundle(again, [world.signer.verifier()]).ok


def _failed_checks(bundle: Bundle, world: World) -> set[str]:
    report = check_bundle(bundle, [world.signer.verifier()])
    return {f.check for f in report.failures}


def _with_proof(world: World) -> Bundle:
    """The trace bundle without the product entry, so its inclusion proof is not empty."""
    bundle = world.bundle(links=TRACE, start="batch", omit=frozenset({"product"}))
    assert bundle.inclusion_proof
    return bundle


def _mutate(world: World, mutate: Callable[[dict[str, Any]], None]) -> Bundle:
    doc = copy.deepcopy(_with_proof(world).to_dict())
    mutate(doc)
    return Bundle.from_dict(json.loads(json.dumps(doc)))


def _entry_of(doc: dict[str, Any], record_id: str) -> dict[str, Any]:
    for e in doc["entries"]:
        if e.get("record", {}).get("record", {}).get("id") == record_id:
            return e
    raise AssertionError(record_id)


def _flip_hex(text: str, at: int = 0) -> str:
    return text[:at] + ("1" if text[at] == "0" else "0") + text[at + 1 :]


def _plain_leaf_hex(entry: dict[str, Any]) -> str:
    return plain_leaf(SignedRecord.from_dict(entry["record"])).hex()


TAMPERINGS: dict[str, tuple[Callable[[dict[str, Any]], None], set[str]]] = {
    "edited shipped quantity": (
        lambda d: _entry_of(d, "ship-2")["record"]["record"]["body"]["lines"][0].__setitem__(
            "quantity", 4000
        ),
        {"inclusion", "signature"},
    ),
    "swapped signature": (
        lambda d: _entry_of(d, "ship-2")["record"].__setitem__(
            "signature", _entry_of(d, "ship-1")["record"]["signature"]
        ),
        {"signature"},
    ),
    "flipped inclusion proof bit": (
        lambda d: d["inclusion_proof"].__setitem__(0, _flip_hex(d["inclusion_proof"][0])),
        {"inclusion"},
    ),
    "inclusion proof hash dropped": (lambda d: d["inclusion_proof"].pop(), {"inclusion"}),
    "inclusion proof hash added": (
        lambda d: d["inclusion_proof"].append(d["inclusion_proof"][0]),
        {"inclusion"},
    ),
    "entry moved to another leaf index": (
        # the last licence (#9) claims the product's place (#10, not in the bundle)
        lambda d: next(e for e in d["entries"] if e["leaf_index"] == 9).__setitem__(
            "leaf_index", 10
        ),
        {"inclusion"},
    ),
    "edited escrow amount in a leaf": (
        lambda d: _entry_of(d, "accept-1").__setitem__(
            "leaf", _flip_hex(_entry_of(d, "accept-1")["leaf"], 2 * 32 * 7 + 10)
        ),
        {"inclusion"},
    ),
    "escrow leaf dropped (the plain leaf is derived)": (
        lambda d: _entry_of(d, "accept-1").pop("leaf"),
        {"inclusion"},
    ),
    "leaf given for a record that has none": (
        lambda d: _entry_of(d, "accept-2").__setitem__(
            "leaf", _flip_hex(_plain_leaf_hex(_entry_of(d, "accept-2")), 2 * 32 * 2 - 1)
        ),
        {"leaf", "inclusion"},
    ),
    "checkpoint root replaced": (
        lambda d: d.__setitem__(
            "checkpoint",
            d["checkpoint"].replace(d["checkpoint"].split("\n")[2], "A" * 43 + "="),
        ),
        {"checkpoint", "inclusion"},
    ),
    "signer mapped to another enrolment": (
        lambda d: d["signers"].__setitem__(next(k for k, v in d["signers"].items() if v == 3), 2),
        {"signature"},
    ),
    "link to the wrong acceptance": (
        lambda d: d["trace"]["links"].__setitem__(
            1, {"from": d["trace"]["links"][1]["from"], "to": d["trace"]["links"][3]["to"]}
        ),
        {"link"},
    ),
    "anchor root wrong": (
        lambda d: d.__setitem__(
            "anchor",
            {
                "chain_id": 1,
                "registry": "0x" + "11" * 20,
                "tx_hash": "0x" + "22" * 32,
                "block_number": 7,
                "tree_size": 5,
                "root_hash": "33" * 32,
                "consistency_path": [],
            },
        ),
        {"anchor"},
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_tampering_is_caught_by_the_named_check(world: World, name: str) -> None:
    mutate, expected = TAMPERINGS[name]
    bundle = _mutate(world, mutate)
    failed = _failed_checks(bundle, world)
    assert expected <= failed, (name, failed)
    with pytest.raises(BundleVerificationError) as info:
        verify_bundle(bundle, [world.signer.verifier()])
    assert not info.value.report.ok


def test_wrong_checkpoint_key_fails_the_checkpoint_check(world: World) -> None:
    bundle = world.bundle(links=TRACE, start="batch")
    other = NoteSigner.generate("lotproof.test").verifier()
    report = check_bundle(bundle, [other])
    assert {f.check for f in report.failures} == {"checkpoint"}


def test_anchor_consistency_both_directions(world: World) -> None:
    tree = world.log.tree
    size = tree.size
    older = AnchorRef(
        chain_id=131277322940537,
        registry=bytes(range(20)),
        tx_hash=bytes(32),
        block_number=12,
        tree_size=7,
        root_hash=tree.root(7),
        consistency_path=tuple(tree.consistency_proof(7, size)),
    )
    assert check_bundle(
        world.bundle(links=TRACE, start="batch", anchor=older), [world.signer.verifier()]
    ).ok
    # A checkpoint older than the anchor: the path goes from the checkpoint to the anchor.
    newer = AnchorRef(
        chain_id=1,
        registry=bytes(20),
        tx_hash=bytes(32),
        block_number=13,
        tree_size=size,
        root_hash=tree.root(size),
        consistency_path=tuple(tree.consistency_proof(size - 1, size)),
    )
    partial = world.bundle(
        links=[("batch", "ship-1"), ("ship-1", "accept-1"), ("accept-1", "ship-2")],
        start="batch",
        size=size - 1,
        anchor=newer,
    )
    report = check_bundle(partial, [world.signer.verifier()])
    assert report.ok, report.failures


def test_an_anchor_of_the_empty_tree_must_carry_the_empty_root(world: World) -> None:
    """A consistency proof from size 0 holds for any root, so the empty tree's root is
    checked by name (found by an independent verifier: any root used to pass)."""
    empty = AnchorRef(
        chain_id=1,
        registry=bytes(20),
        tx_hash=bytes(32),
        block_number=1,
        tree_size=0,
        root_hash=hashlib.sha256(b"").digest(),
        consistency_path=(),
    )
    ok = check_bundle(
        world.bundle(links=TRACE, start="batch", anchor=empty), [world.signer.verifier()]
    )
    assert ok.ok, ok.failures
    forged = dataclasses.replace(empty, root_hash=bytes(range(32)))
    report = check_bundle(
        world.bundle(links=TRACE, start="batch", anchor=forged), [world.signer.verifier()]
    )
    assert {f.check for f in report.failures} == {"anchor"}
    assert "empty tree" in report.failures[0].detail


def test_shipping_more_than_received_fails_conservation() -> None:
    bad = make_world(dist_ships=150, hosp_accepts=150)
    report = check_bundle(bad.bundle(links=TRACE, start="batch"), [bad.signer.verifier()])
    failures = {(f.check, f.subject) for f in report.failures}
    assert ("conservation", f"{DIST} {PRODUCT}/{LOT}") in failures


def test_expired_licence_on_the_day_fails() -> None:
    bad = make_world(dist_licence_to="2026-03-01")  # expires the day before shipping
    report = check_bundle(bad.bundle(links=TRACE, start="batch"), [bad.signer.verifier()])
    subjects = [f.subject for f in report.failures if f.check == "licence"]
    assert subjects and all(DIST in s for s in subjects)
    assert "drug_distribution_licence" in report.failures[0].detail


def test_public_redaction_keeps_the_bundle_verifiable(world: World) -> None:
    bundle = world.bundle(links=TRACE, start="batch", redact=PUBLIC_REDACTED_TYPES)
    text = bundle.to_json().decode()
    assert "unit_price_fen" not in text and "total_fen" not in text
    redacted = [e for e in bundle.entries if e.redacted]
    assert {e.redacted_type for e in redacted} == {"order", "acceptance"}
    report = check_bundle(bundle, [world.signer.verifier()])
    assert report.ok, report.failures
    # A redacted leaf hash that is not in the log is still caught.
    doc = bundle.to_dict()
    target = next(e for e in doc["entries"] if "leaf_hash" in e)
    target["leaf_hash"] = _flip_hex(target["leaf_hash"])
    report = check_bundle(Bundle.from_dict(doc), [world.signer.verifier()])
    assert [f.check for f in report.failures] == ["inclusion"]


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "wrong format": lambda d: d.__setitem__("format", "other"),
    "future version": lambda d: d.__setitem__("version", 3),
    "version 1": lambda d: d.__setitem__("version", 1),
    "missing inclusion proof": lambda d: d.pop("inclusion_proof"),
    "version 1 entry field": lambda d: d["entries"][0].__setitem__("inclusion_path", []),
    "null leaf": lambda d: d["entries"][0].__setitem__("leaf", None),
    "unknown top-level field": lambda d: d.__setitem__("extra", 1),
    "entries unsorted": lambda d: d["entries"].reverse(),
    "duplicate entry": lambda d: d["entries"].append(d["entries"][-1]),
    "short leaf": lambda d: d["entries"][0].__setitem__("leaf", "00" * 10),
    "uppercase proof hash": lambda d: d["inclusion_proof"].__setitem__(
        0, d["inclusion_proof"][0].upper()
    ),
    "short proof hash": lambda d: d["inclusion_proof"].__setitem__(0, "ab" * 31),
    "signer names a missing entry": lambda d: d["signers"].__setitem__("0" * 16, 10**6),
    "link to a missing entry": lambda d: d["trace"]["links"].append({"from": 0, "to": 10**6}),
    "checkpoint not a note": lambda d: d.__setitem__("checkpoint", "hello"),
    "negative leaf index": lambda d: d["entries"][0].__setitem__("leaf_index", -1),
    "record with unknown field": lambda d: d["entries"][0]["record"]["record"].__setitem__("x", 1),
    "trace direction": lambda d: d["trace"].__setitem__("direction", "sideways"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_bundles_raise_malformed_input(world: World, name: str) -> None:
    doc = copy.deepcopy(_with_proof(world).to_dict())
    MALFORMED[name](doc)
    with pytest.raises(MalformedInputError):
        Bundle.from_json(json.dumps(doc))


def test_floats_and_garbage_are_malformed() -> None:
    with pytest.raises(MalformedInputError):
        Bundle.from_json(b"{not json")
    with pytest.raises(MalformedInputError):
        Bundle.from_json(b'{"format": "lotproof-bundle", "version": 2.0}')


@pytest.mark.parametrize("where", ["top", "entry", "record body"])
def test_a_key_given_twice_is_malformed(world: World, where: str) -> None:
    """Parsers disagree on which of two equal keys wins, so neither may: the bundle is
    malformed wherever the repeat is (found by an independent verifier)."""
    text = _with_proof(world).to_json().decode()
    assert Bundle.from_json(text)
    if where == "top":
        doubled = text.replace('"version":2', '"version":2,"version":2', 1)
    elif where == "entry":
        doubled = text.replace('"leaf_index":', '"leaf_index":0,"leaf_index":', 1)
    else:
        doubled = text.replace('"body":{', '"body":{"lot":"X","lot":"X",', 1)
    assert doubled != text
    with pytest.raises(MalformedInputError, match="twice"):
        Bundle.from_json(doubled)


def test_a_version_1_bundle_is_refused_by_name(world: World) -> None:
    doc = world.bundle(links=TRACE, start="batch").to_dict()
    doc["version"] = 1
    with pytest.raises(MalformedInputError, match="version 1 is no longer read"):
        Bundle.from_dict(doc)


def test_pinned_admin_keys(world: World) -> None:
    bundle = world.bundle(links=TRACE, start="batch")
    pinned = {ADMIN: world.keys[ADMIN].public_key}
    report = check_bundle(bundle, [world.signer.verifier()], admin_keys=pinned)
    assert report.ok and report.counts()["admins"] == (1, 0)
    unpinned = check_bundle(bundle, [world.signer.verifier()])
    assert "not pinned" in next(f.detail for f in unpinned.findings if f.check == "admins")
    other = {ADMIN: SigningKey.generate().public_key}
    report = check_bundle(bundle, [world.signer.verifier()], admin_keys=other)
    assert {f.check for f in report.failures} == {"admins"}


def test_a_record_its_signer_may_not_write_fails_the_role_check() -> None:
    w = make_world()
    body = {
        "product": PRODUCT,
        "lot": "FAKE1",
        "mfg_date": "2026-01-01",
        "expiry_date": "2028-01-01",
        "quantity": 5,
        "test_report_sha256": "ee" * 32,
    }
    w.idx["fake"] = w.log.add(make_record(w.keys[DIST], "batch", DIST, body, time=DAY))
    report = check_bundle(w.bundle(links=TRACE, start="batch"), [w.signer.verifier()])
    assert [(f.check, f.subject.split()[1]) for f in report.failures] == [("role", "batch")]


# --- the shared inclusion proof -----------------------------------------------------------------


def _naive_proof(hashes: list[bytes], wanted: set[int], lo: int, hi: int) -> list[bytes]:
    """docs/bundle.md §4.3 read literally: MTH of every entry-free subtree, in walk order."""
    if not any(lo <= i < hi for i in wanted):
        return [root_from_leaf_hashes(hashes[lo:hi])]
    if hi - lo == 1:
        return []
    k = 1 << ((hi - lo - 1).bit_length() - 1)
    return _naive_proof(hashes, wanted, lo, lo + k) + _naive_proof(hashes, wanted, lo + k, hi)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_multiproof_matches_the_naive_walk_and_the_root(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 300), "size")
    wanted = data.draw(
        st.sets(st.integers(0, size - 1), min_size=1, max_size=min(size, 40)), "indices"
    )
    tree = MemoryTree()
    for i in range(size):
        tree.append(i.to_bytes(4, "big"))
    hashes = [tree.leaf_hash(i) for i in range(size)]
    indices = sorted(wanted)
    proof = inclusion_multiproof(tree, indices, size)
    assert proof == _naive_proof(hashes, wanted, 0, size)
    # Never more than the separate RFC 9162 paths, and it gives the tree's root.
    assert len(proof) <= sum(len(tree.inclusion_proof(i, size)) for i in indices)
    leaves = [(i, hashes[i]) for i in indices]
    verify_multiproof(size, leaves, proof, tree.root(size))
    # Any changed hash, a missing or an extra one, or a moved leaf is caught.
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), "at")
        bad = [*proof[:at], bytes([proof[at][0] ^ 1]) + proof[at][1:], *proof[at + 1 :]]
        with pytest.raises(RootMismatchError):
            verify_multiproof(size, leaves, bad, tree.root(size))
        with pytest.raises(ProofSizeError):
            verify_multiproof(size, leaves, proof[:-1], tree.root(size))
    with pytest.raises(ProofSizeError):
        verify_multiproof(size, leaves, [*proof, bytes(32)], tree.root(size))
    with pytest.raises(IndexRangeError):
        verify_multiproof(size, [*leaves, (size, bytes(32))], proof, tree.root(size))


def test_multiproof_of_scattered_entries_in_a_big_tree_is_small() -> None:
    """Entries that are close in the log share their paths' upper nodes."""
    tree = MemoryTree()
    size = 5000
    for i in range(size):
        tree.append(i.to_bytes(4, "big"))
    indices = [*range(100, 1100, 3), 4321]
    proof = inclusion_multiproof(tree, indices, size)
    separate = sum(len(tree.inclusion_proof(i, size)) for i in indices)
    assert len(proof) * 5 < separate
    verify_multiproof(size, [(i, tree.leaf_hash(i)) for i in indices], proof, tree.root(size))


def _docs_values() -> dict[str, str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "bundle.md").read_text()
    example = text[text.index("## 10. Worked example") :]
    values: dict[str, str] = {}
    for line in example.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith((" ", "`")) and parts[0][0].isalpha():
            values.setdefault(parts[0], parts[1])
    return values


def test_the_worked_example_in_the_docs_is_what_the_code_computes() -> None:
    values = _docs_values()
    key = SigningKey(bytes([1]) * 32)
    body = {
        "product": "8612345",
        "lot": "L1",
        "mfg_date": "2026-01-01",
        "expiry_date": "2028-01-01",
        "quantity": 1000,
        "test_report_sha256": "cd" * 32,
    }
    signed = make_record(
        key, "batch", "91110000000000002X", body, time="2026-03-02T08:00:00Z", record_id="batch-1"
    )
    assert values["public_key"] == key.public_key.hex()
    assert values["key_id"] == key.key_id
    assert values["envelope"] == signed.record.canonical_bytes().decode()
    assert values["signature"] == signed.signature.hex()
    assert values["record_digest"] == signed.digest().hex()
    assert values["leaf_hash"] == hash_leaf(plain_leaf(signed)).hex()
    tree = MemoryTree()
    for i in range(7):
        tree.append(bytes([i]))
    proof = inclusion_multiproof(tree, [2, 3, 5], 7)
    assert [values[f"proof[{i}]"] for i in range(3)] == [h.hex() for h in proof]
    assert [values[f"leaf_hash[{i}]"] for i in (2, 3, 5)] == [
        tree.leaf_hash(i).hex() for i in (2, 3, 5)
    ]
    assert values["root"] == tree.root(7).hex()
    assert sum(len(tree.inclusion_proof(i, 7)) for i in (2, 3, 5)) == 9


def test_a_bundle_without_entries_has_an_empty_proof(world: World) -> None:
    note = sign_checkpoint(
        Checkpoint("lotproof.test/log", 3, world.log.tree.root(3)), [world.signer]
    )
    empty = build_bundle(checkpoint=note, entries=[], signers={}, tree=world.log.tree)
    assert empty.inclusion_proof == ()
    assert check_bundle(empty, [world.signer.verifier()]).ok
    doc = empty.to_dict()
    doc["inclusion_proof"] = ["ab" * 32]
    failures = check_bundle(Bundle.from_dict(doc), [world.signer.verifier()]).failures
    assert [f.check for f in failures] == ["inclusion"]


def test_a_shipment_reached_only_from_its_order_has_no_provenance(world: World) -> None:
    links = [link for link in TRACE if link != ("accept-1", "ship-2")]
    report = check_bundle(world.bundle(links=links, start="batch"), [world.signer.verifier()])
    assert [(f.check, f.subject.split()[-1]) for f in report.failures] == [("provenance", "ship-2")]


@pytest.mark.parametrize("field", ["query", "admins"])
def test_optional_objects_must_be_objects_or_null(world: World, field: str) -> None:
    doc = world.bundle(links=TRACE, start="batch").to_dict()
    doc[field] = None
    Bundle.from_dict(doc)
    doc[field] = []
    with pytest.raises(MalformedInputError):
        Bundle.from_dict(doc)


def test_proof_ranges_refuse_unsorted_or_out_of_range_indices() -> None:
    assert proof_ranges([2, 3, 5], 7) == [(0, 2), (4, 5), (6, 7)]
    with pytest.raises(MalformedInputError):
        proof_ranges([3, 2], 7)
    with pytest.raises(MalformedInputError):
        proof_ranges([2, 2], 7)
    with pytest.raises(IndexRangeError):
        proof_ranges([7], 7)


def test_multiproof_refuses_short_hashes() -> None:
    tree = MemoryTree()
    for i in range(4):
        tree.append(bytes([i]))
    proof = inclusion_multiproof(tree, [1], 4)
    leaves = [(1, tree.leaf_hash(1))]
    with pytest.raises(HashLengthError):
        verify_multiproof(4, leaves, [proof[0][:31], *proof[1:]], tree.root(4))
    with pytest.raises(HashLengthError):
        verify_multiproof(4, [(1, tree.leaf_hash(1)[:16])], proof, tree.root(4))
    with pytest.raises(IndexRangeError, match="leaf index -1"):
        verify_multiproof(4, [(-1, tree.leaf_hash(1))], proof, tree.root(4))


def _order_body(number: str) -> dict[str, Any]:
    return {
        "buyer": HOSP,
        "seller": DIST,
        "number": number,
        "lines": [{"product": PRODUCT, "quantity": 1, "unit_price_fen": 650}],
        "total_fen": 650,
        "requested_delivery": "2026-03-12",
    }


def _findings(report: Any, record_id: str) -> list[Any]:
    return [f for f in report.findings if f.subject.endswith(record_id)]


def _rotation_then_order(
    w: Any, signer: str, rotation: dict[str, Any], new_key: SigningKey, order_key: SigningKey
) -> Any:
    """``signer`` rotates (body ``rotation``, granting ``new_key``), then an order "by the
    hospital" signed with ``order_key``; the report of the resulting bundle."""
    signed = make_record(
        w.keys[signer], "key_rotation", signer, rotation, time=DAY, record_id="rot"
    )
    w.idx["rot"] = w.log.add(signed)
    order = make_record(order_key, "order", HOSP, _order_body("PO-1"), time=DAY, record_id="ord")
    w.idx["ord"] = w.log.add(order)
    w.signers[new_key.key_id] = w.idx["rot"]
    return check_bundle(w.bundle(links=TRACE, start="batch"), [w.signer.verifier()])


def test_a_participant_rotates_only_its_own_keys() -> None:
    """A distributor signing a key rotation for the hospital (and then an order as the
    hospital with that key) fails the role check, as the ledger refuses it."""
    w = make_world()
    mallory = SigningKey.generate()
    grant = {"participant": HOSP, "new_key": mallory.public_key.hex()}
    report = _rotation_then_order(w, DIST, grant, mallory, mallory)
    assert not report.ok
    (role,) = [f for f in _findings(report, "rot") if f.check == "role"]
    assert not role.ok and "another participant's keys" in role.detail


def test_a_retired_key_signs_nothing_after_its_retirement() -> None:
    w = make_world()
    new, old = SigningKey.generate(), w.keys[HOSP]
    rotation = {"participant": HOSP, "new_key": new.public_key.hex(), "retire_key": old.key_id}
    report = _rotation_then_order(w, HOSP, rotation, new, old)
    assert not report.ok
    (signature,) = [f for f in _findings(report, "ord") if f.check == "signature"]
    assert not signature.ok and "was revoked at entry" in signature.detail
    assert all(f.ok for f in _findings(report, "rot"))  # the rotation itself is fine


def test_a_backward_link_fails_even_from_a_redacted_entry() -> None:
    """A link's order is proven by the leaf indices, redacted or not: a later (redacted)
    acceptance cannot stand in as the source of an earlier shipment."""
    w = make_world()
    verifiers = [w.signer.verifier()]
    links = [link for link in TRACE if link != ("accept-1", "ship-2")]
    redact = frozenset({"acceptance"})
    without = check_bundle(w.bundle(links=links, start="batch", redact=redact), verifiers)
    assert not without.ok  # ship-2 has no source
    backward = [*links, ("accept-2", "ship-2")]
    report = check_bundle(w.bundle(links=backward, start="batch", redact=redact), verifiers)
    assert not report.ok
    subject = f"#{w.idx['accept-2']} -> #{w.idx['ship-2']}"
    (link,) = [f for f in report.findings if f.check == "link" and f.subject == subject]
    assert not link.ok and "earlier entry to a later one" in link.detail
    (provenance,) = [
        f for f in report.findings if f.check == "provenance" and f.subject.endswith("ship-2")
    ]
    assert not provenance.ok


def test_wrongly_typed_values_are_malformed_not_a_crash() -> None:
    w = make_world()
    good = w.bundle(links=TRACE, start="batch").to_dict()
    listed = copy.deepcopy(good)
    listed["trace"]["direction"] = ["forward"]
    with pytest.raises(MalformedInputError, match="direction"):
        Bundle.from_dict(listed)
    with pytest.raises(MalformedInputError, match="not valid UTF-8"):
        Bundle.from_json(json.dumps(good)[:-1] + ', "x": "\ud800"}')
    typed = copy.deepcopy(good)
    record = next(e for e in typed["entries"] if "record" in e)["record"]
    record["record"]["type"] = ["batch"]
    with pytest.raises(MalformedInputError, match="record type"):
        Bundle.from_dict(typed)


def test_a_withdrawn_licence_counts_only_before_its_withdrawal() -> None:
    """A reviewer's correction superseding a licence withdraws it, as on the ledger: a
    shipment after it fails the licence check; the shipments before it still pass."""
    w = make_world()
    licence = f"q-{DIST[-4:]}-drug_distribution_licence"
    withdrawal = make_record(
        w.keys[REVIEWER],
        "correction",
        REVIEWER,
        {"reason": "licence withdrawn"},
        time=DAY,
        record_id="withdraw",
        supersedes=licence,
    )
    w.idx["withdraw"] = w.log.add(withdrawal)
    line = {"order_line": 0, "product": PRODUCT, "lot": LOT, "expiry_date": "2028-01-01"}
    shipment = make_record(
        w.keys[DIST],
        "shipment",
        DIST,
        {
            "order": "order-2",
            "shipper": DIST,
            "consignee": HOSP,
            "lines": [{**line, "quantity": 10}],
        },
        time="2026-03-02T09:00:00Z",
        record_id="ship-late",
    )
    w.idx["ship-late"] = w.log.add(shipment)
    links = [*TRACE, ("accept-1", "ship-late")]
    report = check_bundle(w.bundle(links=links, start="batch"), [w.signer.verifier()])
    assert not report.ok
    late = [f for f in report.findings if f.check == "licence" and "ship-late shipper" in f.subject]
    assert late and not late[0].ok
    earlier = [f for f in report.findings if f.check == "licence" and "ship-2 shipper" in f.subject]
    assert earlier and earlier[0].ok


def test_a_retail_distribution_licence_does_not_license_a_distributor() -> None:
    """As in the ledger's rules: a distributor ships under a distribution licence of type A
    or B; a single pharmacy's (D) licence does not count for it."""
    w = make_world(dist_licence_number="京DA1234567")
    report = check_bundle(w.bundle(links=TRACE, start="batch"), [w.signer.verifier()])
    shipper = [
        f for f in report.findings if f.check == "licence" and f"shipper {DIST}" in f.subject
    ]
    assert shipper and not any(f.ok for f in shipper)
    assert "type A/B" in shipper[0].detail
    good = make_world()
    assert check_bundle(good.bundle(links=TRACE, start="batch"), [good.signer.verifier()]).ok
