"""Every pattern a record, body or key file is checked against matches the WHOLE value, in
ASCII digits only: Python's ``$`` also matches before a trailing newline and ``\\d`` matches
any Unicode digit, so ``"prod-1\\n"`` or a product code in full-width digits would otherwise
pass (found by an independent bundle verifier written from docs/bundle.md)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import MalformedInputError
from ledger.records import Record, SignedRecord, parse_time
from ledger.trade import codes
from ledger.trade.bodies import parse_body
from ledger.trade.scenario import Scenario, trade_story

STORY = trade_story(Scenario("strict-patterns"))
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def first(record_type: str) -> SignedRecord:
    return next(r for r in STORY.records if r.record.type == record_type)


def test_a_valid_story_still_parses() -> None:
    for signed in STORY.records:
        again = SignedRecord.from_json(signed.canonical_bytes())
        assert again.canonical_bytes() == signed.canonical_bytes()
        parse_body(signed.record.type, signed.record.body)


@pytest.mark.parametrize("field", ["id", "key_id", "time"])
def test_envelope_fields_with_a_trailing_newline_are_malformed(field: str) -> None:
    data: dict[str, Any] = first("batch").record.to_dict()
    data[field] = data[field] + "\n"
    with pytest.raises(MalformedInputError):
        Record.from_dict(data)


def test_supersedes_with_a_trailing_newline_is_malformed() -> None:
    data: dict[str, Any] = first("batch").record.to_dict()
    data["supersedes"] = first("order").record.id + "\n"
    with pytest.raises(MalformedInputError):
        Record.from_dict(data)


def test_a_signature_with_a_trailing_newline_is_malformed() -> None:
    data = first("batch").to_dict()
    data["signature"] = str(data["signature"]) + "\n"
    with pytest.raises(MalformedInputError):
        SignedRecord.from_dict(data)


@pytest.mark.parametrize("digits", [FULL_WIDTH_DIGITS, ARABIC_INDIC_DIGITS])
def test_times_in_other_digits_are_malformed(digits: dict[int, str]) -> None:
    text = "2026-03-01T08:00:00Z"
    parse_time(text)
    with pytest.raises(MalformedInputError):
        parse_time(text.translate(digits))


@pytest.mark.parametrize(
    ("record_type", "field", "change"),
    [
        ("product", "code", lambda v: v.translate(ARABIC_INDIC_DIGITS)),
        ("product", "code", lambda v: v + "\n"),
        ("enrolment", "region", lambda v: v.translate(FULL_WIDTH_DIGITS)),
        ("enrolment", "region", lambda v: v + "\n"),
        ("shipment", "order", lambda v: v + "\n"),
        ("batch", "product", lambda v: v.translate(FULL_WIDTH_DIGITS)),
        ("batch", "lot", lambda v: v + "\n"),
    ],
)
def test_body_fields_match_whole_and_ascii(record_type: str, field: str, change: Any) -> None:
    body = dict(first(record_type).record.body)
    parse_body(record_type, body)  # the unchanged body is fine
    body[field] = change(body[field])
    with pytest.raises(MalformedInputError):
        parse_body(record_type, body)


def test_code_checks_refuse_other_digits_and_newlines() -> None:
    with pytest.raises(MalformedInputError):
        codes.parse_date("２０２６-03-01", "day")
    with pytest.raises(MalformedInputError):
        codes.parse_date("2026-03-01\n", "day")
    with pytest.raises(MalformedInputError):
        codes.verify_unit_code("8600321" + "1" * 12 + "\n", "8600321")
    with pytest.raises(MalformedInputError):
        codes.verify_gtin14("0690123456789\n")
    with pytest.raises(MalformedInputError):
        codes.verify_licence_number(codes.DISTRIBUTION_LICENCE, "粤AA0000001\n", "x")
    codes.verify_licence_number(codes.DISTRIBUTION_LICENCE, "粤AA0000001", "x")
