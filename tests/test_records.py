"""Canonical JSON and signed records: exact bytes, signatures, tampering, malformed envelopes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import nacl.signing
import orjson
import pytest

from ledger.canonical import INT_MAX, INT_MIN, MAX_DEPTH, canonical_bytes, parse_json
from ledger.errors import MalformedInputError, SignatureError, VerificationError
from ledger.records import (
    KEY_ID_DOMAIN,
    SIGNING_DOMAIN,
    Record,
    SignedRecord,
    SigningKey,
    format_time,
    key_id_for,
    make_record,
    parse_time,
    sign_record,
    verify_many,
    verify_record,
    verify_signature,
)

SEED = bytes(range(32))
USCC = "91110000100000000X"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(SEED)


def sample(key: SigningKey, **changes: Any) -> SignedRecord:
    fields: dict[str, Any] = {
        "time": "2026-11-23T08:00:00Z",
        "record_id": "ord-0001",
        "body": {"lines": [{"product": "国药准字H20000001", "quantity": 120, "unit_price": 2350}]},
    }
    fields.update(changes)
    return make_record(key, "order", USCC, **fields)


# --- canonical bytes ------------------------------------------------------------------------


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    value = {"b": 1, "a": [True, None, "阿莫西林"], "c": {"z": -5, "y": ""}}
    want = '{"a":[true,null,"阿莫西林"],"b":1,"c":{"y":"","z":-5}}'.encode()
    assert canonical_bytes(value) == want
    assert "阿莫西林".encode() in canonical_bytes(value)  # not \\u escaped
    assert b"\\u" not in canonical_bytes(value)


def test_canonical_bytes_do_not_depend_on_insertion_order() -> None:
    a = {"x": 1, "y": {"p": 2, "q": 3}}
    b = {"y": {"q": 3, "p": 2}, "x": 1}
    assert canonical_bytes(a) == canonical_bytes(b)


def test_canonical_bytes_escape_only_what_json_requires() -> None:
    assert canonical_bytes({"s": 'a"b\\c\n'}) == b'{"s":"a\\"b\\\\c\\n"}'


@pytest.mark.parametrize("value", [1.5, 0.0, float("nan"), {"amount": 12.0}, [1, [2.5]]])
def test_floats_are_refused(value: Any) -> None:
    with pytest.raises(MalformedInputError, match="floats are not allowed"):
        canonical_bytes(value)


@pytest.mark.parametrize("value", [INT_MAX + 1, INT_MIN - 1, 2**64, {"qty": -(2**70)}])
def test_integers_beyond_64_bits_are_refused(value: Any) -> None:
    with pytest.raises(MalformedInputError, match="outside the 64-bit range"):
        canonical_bytes(value)


def test_integers_at_the_64_bit_bounds_are_kept_exactly() -> None:
    assert canonical_bytes([INT_MAX, INT_MIN]) == f"[{INT_MAX},{INT_MIN}]".encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1: "a"}, "keys must be strings"),
        ((1, 2), "tuple is not a JSON value"),
        ({"s": {1, 2}}, "set is not a JSON value"),
        (b"bytes", "bytes is not a JSON value"),
    ],
)
def test_non_json_values_are_refused(value: Any, reason: str) -> None:
    with pytest.raises(MalformedInputError, match=reason):
        canonical_bytes(value)


def test_nesting_is_bounded() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(MalformedInputError, match="nested deeper"):
        canonical_bytes(deep)


@pytest.mark.parametrize("text", ['{"a": 1.0}', '{"a": 1e3}', "[0.1]", '{"a": -0.0}'])
def test_parsing_refuses_floats(text: str) -> None:
    with pytest.raises(MalformedInputError, match="floats are not allowed"):
        parse_json(text)


@pytest.mark.parametrize("text", ["", "{", "[1,]", "{'a': 1}", "NaN", b"\xff\xfe"])
def test_parsing_refuses_invalid_json(text: str | bytes) -> None:
    with pytest.raises(MalformedInputError, match="not valid JSON"):
        parse_json(text, "record")


# --- sign and verify ------------------------------------------------------------------------


def test_a_signed_record_verifies(key: SigningKey) -> None:
    signed = sample(key)
    verify_record(signed, key.public_key)
    assert signed.record.key_id == key.key_id == key_id_for(key.public_key)
    assert len(signed.signature) == 64


def test_key_id_is_the_domain_separated_hash_of_the_public_key(key: SigningKey) -> None:
    want = hashlib.sha256(KEY_ID_DOMAIN + key.public_key).digest()[:8].hex()
    assert key.key_id == want
    assert key.public_key == bytes(nacl.signing.SigningKey(SEED).verify_key)


def test_the_signature_covers_the_domain_prefix_and_canonical_envelope(key: SigningKey) -> None:
    signed = sample(key)
    envelope = canonical_bytes(signed.record.to_dict())
    assert signed.record.canonical_bytes() == envelope
    assert signed.record.signing_payload() == SIGNING_DOMAIN + envelope
    verify_key = nacl.signing.VerifyKey(key.public_key)
    verify_key.verify(SIGNING_DOMAIN + envelope, signed.signature)  # raises if not


def test_domain_separation_a_signature_over_bare_canonical_bytes_does_not_verify(
    key: SigningKey,
) -> None:
    good = sample(key)
    bare = key.sign(good.record.canonical_bytes())  # what a naive signer would produce
    forged = SignedRecord(good.record, bare)
    with pytest.raises(SignatureError, match=f"record {good.record.id} by {USCC}"):
        verify_record(forged, key.public_key)
    other_domain = key.sign(b"lotproof/other/v1\n" + good.record.canonical_bytes())
    with pytest.raises(SignatureError):
        verify_record(SignedRecord(good.record, other_domain), key.public_key)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "shipment"},
        {"id": "ord-0002"},
        {"actor": "91110000100000001X"},
        {"time": "2026-11-23T08:00:01Z"},
        {
            "body": {
                "lines": [{"product": "国药准字H20000001", "quantity": 121, "unit_price": 2350}]
            }
        },
        {"body": {}},
        {"supersedes": "ord-0000"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_every_tampered_field_fails_naming_the_record(
    key: SigningKey, change: dict[str, Any]
) -> None:
    good = sample(key)
    tampered = SignedRecord(replace(good.record, **change), good.signature)
    with pytest.raises(SignatureError) as info:
        verify_record(tampered, key.public_key)
    message = str(info.value)
    assert tampered.record.id in message and tampered.record.type in message
    assert "does not verify" in message


@pytest.mark.parametrize("byte", [0, 31, 32, 63])
def test_a_flipped_signature_bit_fails(key: SigningKey, byte: int) -> None:
    good = sample(key)
    sig = bytearray(good.signature)
    sig[byte] ^= 0x01
    with pytest.raises(SignatureError, match=good.record.id):
        verify_record(SignedRecord(good.record, bytes(sig)), key.public_key)


def test_a_wrong_key_fails_naming_both_key_ids(key: SigningKey) -> None:
    good = sample(key)
    other = SigningKey(bytes(32))
    with pytest.raises(SignatureError) as info:
        verify_record(good, other.public_key)
    assert good.record.key_id in str(info.value) and other.key_id in str(info.value)
    assert good.record.id in str(info.value)


def test_a_record_claiming_another_key_id_fails(key: SigningKey) -> None:
    good = sample(key)
    other = SigningKey(bytes(32))
    relabelled = SignedRecord(replace(good.record, key_id=other.key_id), good.signature)
    with pytest.raises(SignatureError, match="names key"):
        verify_record(relabelled, key.public_key)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_record(relabelled, other.public_key)


def test_signing_with_a_key_the_record_does_not_name_is_refused(key: SigningKey) -> None:
    record = sample(key).record
    with pytest.raises(MalformedInputError, match="is being signed with key"):
        sign_record(record, SigningKey(bytes(32)))


def test_signature_errors_are_verification_errors() -> None:
    assert issubclass(SignatureError, VerificationError)
    with pytest.raises(SignatureError, match="signature on thing"):
        verify_signature(bytes(31), b"m", bytes(64), "thing")  # a malformed key fails too


# --- round trips ----------------------------------------------------------------------------


def test_round_trip_from_canonical_json(key: SigningKey) -> None:
    signed = sample(key, supersedes="ord-0000")
    data = signed.canonical_bytes()
    again = SignedRecord.from_json(data)
    assert again == signed
    assert again.canonical_bytes() == data
    assert again.digest() == hashlib.sha256(data).digest() == signed.digest()
    verify_record(again, key.public_key)


def test_round_trip_from_pretty_json_gives_the_same_canonical_bytes(key: SigningKey) -> None:
    signed = sample(key)
    pretty = orjson.dumps(signed.to_dict(), option=orjson.OPT_INDENT_2)
    again = SignedRecord.from_json(pretty)
    assert again.canonical_bytes() == signed.canonical_bytes()
    verify_record(again, key.public_key)


def test_supersedes_defaults_to_null(key: SigningKey) -> None:
    data = sample(key).to_dict()
    assert data["record"]["supersedes"] is None
    del data["record"]["supersedes"]
    assert SignedRecord.from_dict(data).record.supersedes is None


def test_time_helpers() -> None:
    moment = parse_time("2026-11-23T08:00:00Z")
    assert format_time(moment) == "2026-11-23T08:00:00Z"


# --- malformed envelopes --------------------------------------------------------------------


def _envelope(key: SigningKey) -> dict[str, Any]:
    return sample(key).record.to_dict()


MALFORMED_RECORDS: dict[str, tuple[Any, str]] = {
    "not an object": (["v", 1], "must be an object"),
    "missing type": ({"drop": "type"}, "missing type"),
    "missing body": ({"drop": "body"}, "missing body"),
    "extra field": ({"set": ("note", "x")}, "unknown fields note"),
    "version 2": ({"set": ("v", 2)}, "record version 2, want 1"),
    "version as string": ({"set": ("v", "1")}, "record version '1', want 1"),
    "unknown type": ({"set": ("type", "gift")}, "unknown record type 'gift'"),
    "type not lowercase": ({"set": ("type", "ORDER")}, "unknown record type"),
    "empty id": ({"set": ("id", "")}, "is not 1-128"),
    "id with space": ({"set": ("id", "a b")}, "is not 1-128"),
    "id too long": ({"set": ("id", "a" * 129)}, "is not 1-128"),
    "id not a string": ({"set": ("id", 7)}, "is not 1-128"),
    "empty actor": ({"set": ("actor", "")}, "actor must be a non-empty string"),
    "uppercase key id": ({"set": ("key_id", "ABCDEF0123456789")}, "16 lowercase hex"),
    "short key id": ({"set": ("key_id", "abc")}, "16 lowercase hex"),
    "time without Z": ({"set": ("time", "2026-11-23T08:00:00")}, "must look like"),
    "time with offset": ({"set": ("time", "2026-11-23T08:00:00+08:00")}, "must look like"),
    "impossible date": ({"set": ("time", "2026-02-30T08:00:00Z")}, "not a valid date"),
    "time not a string": ({"set": ("time", 1764000000)}, "must look like"),
    "body not an object": ({"set": ("body", [1])}, "body must be an object"),
    "float in body": ({"set": ("body", {"price": 23.5})}, "floats are not allowed"),
    "huge int in body": ({"set": ("body", {"qty": 2**64})}, "outside the 64-bit range"),
    "bad supersedes": ({"set": ("supersedes", "x y")}, "is not a record id"),
}


@pytest.mark.parametrize("name", list(MALFORMED_RECORDS))
def test_malformed_envelopes_are_named(key: SigningKey, name: str) -> None:
    change, reason = MALFORMED_RECORDS[name]
    if isinstance(change, dict):
        data = _envelope(key)
        if "drop" in change:
            del data[change["drop"]]
        else:
            field, value = change["set"]
            data[field] = value
    else:
        data = change
    with pytest.raises(MalformedInputError, match=reason):
        Record.from_dict(data)
    signed = {"record": data, "signature": "00" * 64}
    with pytest.raises(MalformedInputError, match=reason):
        SignedRecord.from_dict(signed)


@pytest.mark.parametrize(
    ("signed", "reason"),
    [
        ("not a dict", "signed record must be"),
        ({"record": {}}, "signed record must be"),
        ({"record": {}, "signature": "00" * 64, "x": 1}, "signed record must be"),
        ({"signature": "00" * 64}, "signed record must be"),
        ("short", "128 lowercase hex"),
        ("upper", "128 lowercase hex"),
        ("number", "128 lowercase hex"),
    ],
)
def test_malformed_signed_records_are_named(key: SigningKey, signed: Any, reason: str) -> None:
    good = sample(key).to_dict()
    if signed == "short":
        signed = {**good, "signature": "00" * 63}
    elif signed == "upper":
        signed = {**good, "signature": good["signature"].upper()}
    elif signed == "number":
        signed = {**good, "signature": 7}
    with pytest.raises(MalformedInputError, match=reason):
        SignedRecord.from_dict(signed)


@pytest.mark.parametrize("text", [b"", b"[]", b"{", b'{"record": 1.5, "signature": ""}'])
def test_malformed_json_never_escapes_as_a_raw_error(text: bytes) -> None:
    with pytest.raises(MalformedInputError):
        SignedRecord.from_json(text)


def test_bad_key_material_is_named() -> None:
    with pytest.raises(MalformedInputError, match="seed has 31 bytes"):
        SigningKey(bytes(31))
    with pytest.raises(MalformedInputError, match="public key has 33 bytes"):
        key_id_for(bytes(33))
    with pytest.raises(MalformedInputError, match="signature must be 64 bytes"):
        SignedRecord(sample(SigningKey(SEED)).record, bytes(63))


def test_the_digest_is_computed_once_and_follows_a_replaced_signature(key: SigningKey) -> None:
    signed = make_record(key, "order", "A", {"n": 1}, time="2026-11-23T08:00:00Z", record_id="r1")
    digest = signed.digest()
    assert digest == hashlib.sha256(signed.canonical_bytes()).digest()
    assert signed.digest() is digest  # cached
    other = replace(signed, signature=bytes(64))
    assert other.digest() == hashlib.sha256(other.canonical_bytes()).digest() != digest


def test_an_adopted_digest_must_be_the_records_own(key: SigningKey) -> None:
    signed = make_record(key, "order", "A", {"n": 1}, time="2026-11-23T08:00:00Z", record_id="r1")
    fresh = SignedRecord.from_json(signed.canonical_bytes())
    fresh.set_digest(signed.digest())
    assert fresh.digest() == signed.digest()
    with pytest.raises(ValueError, match="differs"):
        fresh.set_digest(bytes(32))
    assert fresh.digest() == signed.digest()


def test_verify_many_gives_the_digest_of_each_good_signature_and_none_otherwise(
    key: SigningKey,
) -> None:
    good = make_record(key, "order", "A", {"n": 1}, time="2026-11-23T08:00:00Z", record_id="r1")
    other = SigningKey(bytes(32))
    canonical = good.record.canonical_bytes()
    flipped = bytes([good.signature[0] ^ 1]) + good.signature[1:]
    results = verify_many(
        [
            (key.public_key, canonical, good.signature),
            (key.public_key, canonical, flipped),
            (other.public_key, canonical, good.signature),
            (b"short", canonical, good.signature),
        ]
    )
    assert results == [good.digest(), None, None, None]
