"""The rest of the participants' commands: licences, products, invoices, returns, recalls,
disputes, key rotation and revocation, corrections.

    lotproof licence record ...    a compliance reviewer records a licence (首营审核)
    lotproof licence list [USCC]   a participant's licences and their status, with proofs
    lotproof product register ...  the MAH registers a drug product
    lotproof invoice issue ...     the seller issues an invoice (发票)
    lotproof return ...            the consignee sends accepted goods back (销后退回)
    lotproof recall ...            the MAH recalls, quarantines or releases lots (召回)
    lotproof dispute open|resolve  a party disputes an order's payment; the arbiter splits it
    lotproof keys rotate|revoke    add a signing key (retiring one), or revoke one
    lotproof correct RECORD ...    declare one of your records in error (void, cancel, withdraw)

Each command builds the record's typed body and checks it locally with
``ledger.trade.bodies.parse_body`` (bad input: exit 2 and one line naming the field, before
anything is sent), signs it with the key file, submits it, and prints what happened (``--json``
for the record and its receipt). A record a rule refuses: exit 1 and ``error: RULE-ID: ...``;
nothing is written. Options, key files and passphrases work as in ``cli_participant``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.errors import MalformedInputError
from ledger.keyfile import FAST_FOR_TESTS, INTERACTIVE, KeyMaterial, read_public_info
from ledger.records import SignedRecord, SigningKey, make_record
from ledger.trade import codes
from ledger.trade.bodies import parse_body
from ledger.trade.uscc import make_uscc, verify_uscc
from scripts.cli import EXIT_OK, Subparsers, command_group
from scripts.cli_participant import (
    _actor,
    _client,
    _common,
    _material,
    _out,
    _passphrase,
    _record_body,
    _run,
)

_INT_RE = re.compile(r"^-?[0-9]+$")
_CELSIUS_RE = re.compile(r"^(-?)([0-9]{1,3})(?:\.([0-9]))?$")
_PLACEHOLDER = make_uscc("91000000000000000")
"""A well-formed USCC standing in for a party taken later from the key file or the ledger,
so a body is checked in full before the passphrase is asked for or anything is read."""
_SELLER_PLACEHOLDER = make_uscc("91000000000000001")
"""The same for an invoice's seller, another party than the buyer's placeholder (an invoice
to its own seller is malformed)."""


# --- small parsers: one-line errors, never floats ------------------------------------------------


def _integer(text: str, what: str, minimum: int | None = None) -> int:
    """An integer from the command line (fen, quantities, line numbers): digits only."""
    if not _INT_RE.fullmatch(text.strip()):
        raise MalformedInputError(f"{what} must be a whole number, got {text!r}")
    value = int(text)
    if minimum is not None and value < minimum:
        raise MalformedInputError(f"{what} must be at least {minimum}, got {value}")
    return value


def _tenths(text: str, what: str) -> int:
    """Degrees Celsius with at most one decimal ("2", "-20", "2.5") as tenths: 25 for "2.5"."""
    m = _CELSIUS_RE.fullmatch(text.strip())
    if not m:
        raise MalformedInputError(f"{what} must be °C with at most one decimal, got {text!r}")
    sign, whole, tenth = m.groups()
    value = int(whole) * 10 + int(tenth or "0")
    return -value if sign else value


def _split(text: str, what: str, parts: int, form: str) -> list[str]:
    fields = text.split(":")
    if len(fields) != parts or not all(f.strip() for f in fields):
        raise MalformedInputError(f"{what} must be {form}, got {text!r}")
    return [f.strip() for f in fields]


def _csv(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _file_sha256(path: str, what: str) -> str:
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as e:
        raise MalformedInputError(f"cannot read {what} {path}: {e.strerror}") from None
    return digest.hexdigest()


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise MalformedInputError(f"cannot read {what} {path}: {reason}") from None


def _yuan(fen: int) -> str:
    """Integer fen as yuan text without floats: 540000 -> ¥5,400.00."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _celsius(tenths: int) -> str:
    sign = "-" if tenths < 0 else ""
    whole, frac = divmod(abs(tenths), 10)
    return f"{sign}{whole}" + (f".{frac}" if frac else "")


# --- sign, check, submit -------------------------------------------------------------------------


def _submit_body(
    args: argparse.Namespace,
    m: KeyMaterial,
    record_type: str,
    body: dict[str, Any],
    describe: Callable[[SignedRecord], str],
    *,
    client: Any = None,
    supersedes: str | None = None,
    show: bool = True,
) -> tuple[dict[str, Any], str]:
    """Check ``body`` locally, sign it as the key file's actor, submit it, print the result
    (unless ``show`` is false); return the JSON result and its text.

    A malformed body raises ``MalformedInputError`` (exit 2) before anything is sent.
    """
    parse_body(record_type, body)
    signed = make_record(
        m.signing_key,
        record_type,
        _actor(m),
        body,
        record_id=getattr(args, "id", None) or None,
        supersedes=supersedes,
    )
    answer = dict((client or _client(args)).submit(signed))
    receipt = answer["receipts"][0]
    result = {"record": signed.to_dict(), **answer}
    text = (
        f"{describe(signed)}\n  record {signed.record.id}: leaf {receipt['leaf_index']}"
        f" (hash {receipt['leaf_hash'][:16]}...)"
    )
    if show:
        _out(args, result, text)
    return result, text


def _licence_name(kind: str) -> str:
    zh = codes.LICENCE_NAMES_ZH.get(kind)
    return f"{zh} ({kind})" if zh else kind


# --- licences ------------------------------------------------------------------------------------


def _licence_record(args: argparse.Namespace) -> int:
    if bool(args.document) == bool(args.document_sha256):
        raise MalformedInputError(
            "give the scanned licence as --document FILE or its hash as --document-sha256 HEX"
        )
    document = (
        _file_sha256(args.document, "document")
        if args.document
        else args.document_sha256.strip().lower()
    )
    number = args.number
    if number is None and args.kind == codes.BUSINESS_LICENCE:
        number = args.holder  # a business licence's number is the holder's USCC
    valid_to = None if args.valid_to.strip().lower() in ("none", "-") else args.valid_to.strip()
    body: dict[str, Any] = {
        "holder": args.holder,
        "holder_name": args.holder_name,
        "kind": args.kind,
        "number": number,
        "scope": sorted(set(_csv(args.scope))),
        "authority": args.authority,
        "valid_from": args.valid_from.strip(),
        "valid_to": valid_to,
        "document_sha256": document,
        "verdict": args.verdict,
    }
    try:
        parse_body("qualification", body)
    except MalformedInputError as e:
        if number is None and "$.number" in str(e):
            raise MalformedInputError("give the licence number with --number") from None
        raise
    m = _material(args)

    def describe(_: SignedRecord) -> str:
        until = f"to {valid_to}" if valid_to else "with no end date"
        scope = f"; scope {', '.join(body['scope'])}" if body["scope"] else ""
        return (
            f"licence recorded ({args.verdict}): {_licence_name(args.kind)} {number} of"
            f" {args.holder_name} ({args.holder}), valid from {body['valid_from']} {until}{scope}"
        )

    _submit_body(args, m, "qualification", body, describe)
    return EXIT_OK


def _licence_list(args: argparse.Namespace) -> int:
    if args.on is not None:
        codes.parse_date(args.on, "--on")
    if args.holder is not None:
        verify_uscc(args.holder, "holder")
    m = _material(args)
    holder = args.holder or _actor(m)
    answer = _client(args, m).licences(holder, args.on)
    summary = answer["summary"]
    if args.out:
        try:
            Path(args.out).write_text(
                json.dumps(answer["bundle"], ensure_ascii=False), encoding="utf-8"
            )
        except OSError as e:
            raise MalformedInputError(f"cannot write {args.out}: {e.strerror}") from None
    lines = [f"licences of {holder} on {summary['day']}:"]
    for q in summary["licences"]:
        until = q["valid_to"] or "no end date"
        scope = ", ".join(q["scope"]) or "-"
        lines.append(
            f"  {q['status']:<13} {_licence_name(q['kind'])} {q['number']}"
            f"  {q['valid_from']} to {until}; scope {scope}; record {q['record_id']}"
        )
    if not summary["licences"]:
        lines.append("  none recorded")
    if args.out:
        lines.append(f"proof bundle written to {args.out}")
    _out(args, summary if args.out else answer, "\n".join(lines))
    return EXIT_OK


# --- products ------------------------------------------------------------------------------------


def _product_register(args: argparse.Namespace) -> int:
    special = args.special_class
    if special is not None and special.strip().lower() in ("", "none", "-"):
        special = None
    body: dict[str, Any] = {
        "code": args.code,
        "generic_name": args.name,
        "dosage_form": args.dosage_form,
        "strength": args.strength,
        "pack_size": args.pack_size,
        "approval_number": args.approval_number,
        "category": args.category,
        "special_class": special,
        "storage_min_tenths_c": _tenths(args.storage_min, "--storage-min"),
        "storage_max_tenths_c": _tenths(args.storage_max, "--storage-max"),
        "mah": args.mah or _PLACEHOLDER,
    }
    if args.manufacturer:
        body["manufacturers"] = list(args.manufacturer)
    if args.gtin:
        body["gtin"] = args.gtin
    parse_body("product", body)
    m = _material(args)
    body["mah"] = args.mah or _actor(m)

    def describe(_: SignedRecord) -> str:
        lo, hi = body["storage_min_tenths_c"], body["storage_max_tenths_c"]
        cold = " (cold chain)" if hi <= codes.COLD_CHAIN_MAX_TENTHS else ""
        return (
            f"product {args.code} registered: {args.name} {args.strength} {args.pack_size},"
            f" {args.approval_number}, {args.category}, stored at {_celsius(lo)} to"
            f" {_celsius(hi)} °C{cold}; MAH {body['mah']}"
        )

    _submit_body(args, m, "product", body, describe)
    return EXIT_OK


# --- invoices ------------------------------------------------------------------------------------


def _invoice_line(text: str) -> dict[str, Any]:
    product, lot, quantity, amount = _split(text, "--line", 4, "PRODUCT:LOT:QUANTITY:AMOUNT_FEN")
    return {
        "product": product,
        "lot": lot,
        "quantity": _integer(quantity, f"quantity in --line {text!r}", 1),
        "amount_fen": _integer(amount, f"amount (fen) in --line {text!r}", 0),
    }


def _invoice_issue(args: argparse.Namespace) -> int:
    lines = [_invoice_line(t) for t in args.line]
    body: dict[str, Any] = {
        "number": args.number,
        "seller": _SELLER_PLACEHOLDER,
        "buyer": args.buyer or _PLACEHOLDER,
        "lines": lines,
        "total_fen": sum(ln["amount_fen"] for ln in lines),
    }
    if args.order:
        body["order"] = args.order
    if args.upstream:
        body["upstream"] = list(args.upstream)
    parse_body("invoice", body)
    m = _material(args)
    client = _client(args, m)
    body["seller"] = _actor(m)
    if not args.buyer:
        if not args.order:
            raise MalformedInputError("give the buyer's USCC with --buyer (or --order to use its)")
        buyer = _record_body(client, args.order).get("buyer")
        if not isinstance(buyer, str):
            raise MalformedInputError(f"record {args.order} is not an order")
        body["buyer"] = buyer

    def describe(_: SignedRecord) -> str:
        units = sum(ln["quantity"] for ln in lines)
        on = f" for order {args.order}" if args.order else ""
        return (
            f"invoice {args.number} issued to {body['buyer']}{on}: {_count(len(lines), 'line')},"
            f" {units} units, total {body['total_fen']} fen ({_yuan(body['total_fen'])})"
        )

    _submit_body(args, m, "invoice", body, describe, client=client)
    return EXIT_OK


# --- returns -------------------------------------------------------------------------------------


def _return(args: argparse.Namespace) -> int:
    lines: dict[int, dict[str, Any]] = {}
    for text in args.line:
        line, quantity = _split(text, "--line", 2, "SHIPMENT_LINE:QUANTITY")
        index = _integer(line, f"shipment line in --line {text!r}", 0)
        if index in lines:
            raise MalformedInputError(f"--line names shipment line {index} twice")
        lines[index] = {"line": index, "quantity": _integer(quantity, f"quantity in {text!r}", 1)}
    for text in args.unit_codes_file:
        line, _, path = text.partition(":")
        index = _integer(line, f"shipment line in --unit-codes-file {text!r}", 0)
        if index not in lines or not path:
            raise MalformedInputError(
                f"--unit-codes-file must be LINE:FILE for a line given with --line, got {text!r}"
            )
        lines[index]["unit_codes"] = _read_text(path, "unit codes file").split()
    body = {"shipment": args.shipment, "lines": list(lines.values()), "reason": args.reason}
    parse_body("return", body)
    m = _material(args)

    def describe(_: SignedRecord) -> str:
        units = sum(ln["quantity"] for ln in body["lines"])
        return f"return of {units} units from shipment {args.shipment} recorded: {args.reason}"

    _submit_body(args, m, "return", body, describe)
    return EXIT_OK


# --- recalls -------------------------------------------------------------------------------------


def _recall(args: argparse.Namespace) -> int:
    action = "quarantine" if args.quarantine else "release" if args.release else "recall"
    body: dict[str, Any] = {"product": args.product, "lots": list(args.lot), "reason": args.reason}
    if action != "recall":
        body["action"] = action
    if args.level is not None or action == "recall":
        body["level"] = args.level
    parse_body("recall", body)
    m = _material(args)
    client = _client(args, m)

    def describe(_: SignedRecord) -> str:
        lots = ", ".join(args.lot)
        if action == "recall":
            hours = codes.RECALL_LEVELS[args.level]
            return (
                f"level {args.level} recall of product {args.product} lots {lots} recorded:"
                f" notify holders within {hours} hours; these lots ship no more"
            )
        if action == "quarantine":
            return f"product {args.product} lots {lots} quarantined: no shipments until released"
        return f"quarantine of product {args.product} lots {lots} released"

    result, text = _submit_body(args, m, "recall", body, describe, client=client, show=False)
    if args.notify:
        scopes, lines = _recall_scopes(client, args.product, args.lot)
        result["recall_scope"] = scopes
        text = "\n".join([text, *lines])
    _out(args, result, text)
    return EXIT_OK


def _recall_scopes(client: Any, product: str, lots: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Who holds each lot and must be told (the recall is on the ledger already: a scope
    the caller may not read is reported, not an error)."""
    from api.client import ApiError

    scopes: dict[str, Any] = {}
    lines: list[str] = []
    for lot in lots:
        try:
            scope = client.recall_scope(product=product, lot=lot)["summary"]["recall_scope"]
        except ApiError as e:
            scopes[lot] = None
            lines.append(f"lot {lot}: recall scope unavailable: {e}")
            continue
        scopes[lot] = scope
        lines.append(f"lot {lot}: {scope['quantity_at_risk']} units at risk; notify:")
        lines += [
            f"  {n['uscc']} {n['name']}: {n['reason']} ({n['quantity']} units)"
            for n in scope["notify"]
        ] or ["  nobody downstream"]
    return scopes, lines


# --- disputes ------------------------------------------------------------------------------------


def _dispute_open(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"order": args.order, "reason": args.reason}
    if args.claimed_fen is not None:
        body["claimed_fen"] = _integer(args.claimed_fen, "--claimed-fen", 0)
    parse_body("dispute", body)
    m = _material(args)

    def describe(signed: SignedRecord) -> str:
        claim = f", claiming {body['claimed_fen']} fen" if "claimed_fen" in body else ""
        return (
            f"dispute {signed.record.id} opened on order {args.order}{claim}: the order's"
            " payment is frozen until an arbiter resolves it"
        )

    _submit_body(args, m, "dispute", body, describe)
    return EXIT_OK


def _dispute_resolve(args: argparse.Namespace) -> int:
    body = {
        "dispute": args.dispute,
        "to_seller_fen": _integer(args.to_seller_fen, "--to-seller-fen", 0),
        "to_buyer_fen": _integer(args.to_buyer_fen, "--to-buyer-fen", 0),
        "note": args.note,
    }
    parse_body("dispute_resolution", body)
    m = _material(args)

    def describe(_: SignedRecord) -> str:
        return (
            f"dispute {args.dispute} resolved: {body['to_seller_fen']} fen"
            f" ({_yuan(body['to_seller_fen'])}) to the seller, {body['to_buyer_fen']} fen"
            f" ({_yuan(body['to_buyer_fen'])}) to the buyer"
        )

    _submit_body(args, m, "dispute_resolution", body, describe)
    return EXIT_OK


# --- keys ----------------------------------------------------------------------------------------


def _keys_rotate(args: argparse.Namespace) -> int:
    sources = [x for x in (args.new_key_file, args.new_public_key, args.new_out) if x]
    if len(sources) != 1:
        raise MalformedInputError(
            "give the new key as one of --new-key-file FILE, --new-public-key HEX, --new-out FILE"
        )
    if args.retire and args.retire_current:
        raise MalformedInputError("--retire and --retire-current exclude each other")
    if args.new_out and os.path.lexists(args.new_out):
        raise MalformedInputError(f"{args.new_out} already exists")
    m = _material(args)
    participant = args.participant or _actor(m)
    if args.new_out and participant != m.actor:
        raise MalformedInputError(
            "--new-out makes a key file for your own key only; for another participant's,"
            " give --new-public-key from the key file they made"
        )
    new_material: KeyMaterial | None = None
    if args.new_out:
        new_material = KeyMaterial(SigningKey.generate(), m.actor, m.evm_private_key, m.evm_address)
        new_public = new_material.signing_key.public_key.hex()
    elif args.new_key_file:
        new_public = str(read_public_info(args.new_key_file)["public_key"])
    else:
        new_public = args.new_public_key.strip().lower()
    body: dict[str, Any] = {"participant": participant, "new_key": new_public}
    retire = m.signing_key.key_id if args.retire_current else args.retire
    if retire:
        body["retire_key"] = retire
    parse_body("key_rotation", body)
    partial: Path | None = None
    if new_material is not None:
        # Written before the record is sent (a key the ledger knows must never be lost), kept
        # under its final name only once the ledger took the rotation.
        partial = Path(f"{args.new_out}.partial")
        from ledger.keyfile import write_key_file

        passphrase = _new_passphrase(args)
        strength = FAST_FOR_TESTS if args.fast_kdf else INTERACTIVE
        write_key_file(partial, new_material, passphrase, strength=strength)

    def describe(_: SignedRecord) -> str:
        from ledger.records import key_id_for

        text = f"key {key_id_for(bytes.fromhex(new_public))} added for {participant}"
        if retire:
            text += f"; key {retire} retired (it signs nothing from now on)"
        if args.new_out:
            text += f"; new key file {args.new_out}"
        return text

    from api.client import ApiError

    try:
        _submit_body(args, m, "key_rotation", body, describe)
    except ApiError as e:
        if partial is not None and (e.status == 0 or e.status >= 500):
            # No clear answer: the ledger may hold the new key, so its file must stay.
            raise ApiError(
                e.status,
                e.kind,
                f"{e.message}; the new key is kept in {partial} in case the ledger took the"
                " rotation (if licence list works with that key file, it did)",
                e.rule_id,
            ) from None
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if partial is not None:
        os.replace(partial, args.new_out)
    return EXIT_OK


def _new_passphrase(args: argparse.Namespace) -> str:
    if args.new_passphrase_file:
        return _passphrase(argparse.Namespace(passphrase_file=args.new_passphrase_file))
    return _passphrase(args)


def _keys_revoke(args: argparse.Namespace) -> int:
    m = _material(args)
    participant = args.participant or _actor(m)
    body = {
        "participant": participant,
        "key_id": args.key_id.strip().lower(),
        "reason": args.reason,
    }
    parse_body("key_revocation", body)

    def describe(_: SignedRecord) -> str:
        return f"key {body['key_id']} of {participant} revoked: {args.reason}"

    _submit_body(args, m, "key_revocation", body, describe)
    return EXIT_OK


# --- corrections ---------------------------------------------------------------------------------


def _correct(args: argparse.Namespace) -> int:
    body = {"reason": args.reason}
    parse_body("correction", body)
    m = _material(args)

    def describe(signed: SignedRecord) -> str:
        return f"record {args.record} superseded by correction {signed.record.id}: {args.reason}"

    _submit_body(args, m, "correction", body, describe, supersedes=args.record)
    return EXIT_OK


# --- registration --------------------------------------------------------------------------------


def _record_id_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", help="the new record's id (default: random); reuse it to retry safely")


def _choices(values: Any) -> str:
    return ", ".join(sorted(values))


def register(subparsers: Subparsers) -> None:
    licence = command_group(subparsers, "licence", "licences (首营 qualifications)")
    p = licence.add_parser(
        "record",
        help="record a licence you reviewed (compliance reviewer)",
        description="Sign a qualification record: the licence a participant holds, as checked"
        " against the scanned document, with your verdict.",
    )
    _common(p)
    p.add_argument("--holder", required=True, help="the licence holder's USCC")
    p.add_argument("--holder-name", required=True, help="the holder's name, as enrolled")
    p.add_argument("--kind", required=True, help=f"one of: {_choices(codes.LICENCE_KINDS)}")
    p.add_argument("--number", help="licence number (a business licence's is the holder's USCC)")
    p.add_argument("--scope", help=f"comma-separated, of: {_choices(codes.SCOPES)}")
    p.add_argument("--authority", required=True, help="the issuing authority")
    p.add_argument("--valid-from", required=True, help="YYYY-MM-DD")
    p.add_argument("--valid-to", required=True, help="YYYY-MM-DD, or none for no end date")
    p.add_argument("--document", help="the scanned licence (its SHA-256 is recorded)")
    p.add_argument("--document-sha256", help="or the scan's SHA-256 (64 hex)")
    p.add_argument("--verdict", required=True, help="approved or rejected")
    _record_id_option(p)
    p.set_defaults(handler=_run(_licence_record))

    p = licence.add_parser(
        "list",
        help="a participant's licences and their status, as a proof bundle",
        description="Readable by the holder, reviewers, auditors and regulators.",
    )
    _common(p)
    p.add_argument("holder", nargs="?", help="the holder's USCC (default: yourself)")
    p.add_argument("--on", help="status on this day, YYYY-MM-DD (default today)")
    p.add_argument("--out", help="write the proof bundle here (verify with audit verify)")
    p.set_defaults(handler=_run(_licence_list))

    product = command_group(subparsers, "product", "drug products")
    p = product.add_parser(
        "register",
        help="register a drug product (MAH)",
        description="Register one pack presentation of a drug under its 7-digit code.",
    )
    _common(p)
    p.add_argument("--code", required=True, help="7-digit drug identification code")
    p.add_argument("--name", required=True, help="generic name (通用名)")
    p.add_argument("--dosage-form", required=True, help="e.g. 胶囊剂")
    p.add_argument("--strength", required=True, help="e.g. 0.25g")
    p.add_argument("--pack-size", required=True, help="e.g. 24粒/盒")
    p.add_argument("--approval-number", required=True, help="国药准字 + H/Z/S/J + 8 digits")
    p.add_argument("--category", required=True, help=f"one of: {_choices(codes.CATEGORIES)}")
    p.add_argument("--special-class", help=f"one of: {_choices(codes.SPECIAL_CLASSES)}")
    p.add_argument("--storage-min", required=True, help="lowest storage °C, e.g. 2 or -20")
    p.add_argument("--storage-max", required=True, help="highest storage °C, e.g. 8 or 25")
    p.add_argument("--mah", help="MAH's USCC (default: yourself)")
    p.add_argument(
        "--manufacturer", action="append", default=[], help="USCC of a contract manufacturer"
    )
    p.add_argument("--gtin", help="GTIN-14 of the pack")
    _record_id_option(p)
    p.set_defaults(handler=_run(_product_register))

    invoice = command_group(subparsers, "invoice", "invoices (发票)")
    p = invoice.add_parser(
        "issue",
        help="issue an invoice (seller)",
        description="Amounts are integer fen (1 yuan = 100 fen); the total is their sum.",
    )
    _common(p)
    p.add_argument("--number", required=True, help="the invoice number")
    p.add_argument("--buyer", help="buyer's USCC (default: the order's buyer)")
    p.add_argument("--order", help="the order record this invoice bills")
    p.add_argument("--line", action="append", required=True, help="PRODUCT:LOT:QUANTITY:AMOUNT_FEN")
    p.add_argument(
        "--upstream", action="append", default=[], help="invoice record you bought on (两票制)"
    )
    _record_id_option(p)
    p.set_defaults(handler=_run(_invoice_issue))

    p = subparsers.add_parser(
        "return",
        help="return accepted goods to their shipper (consignee)",
        description="Goods of an accepted shipment go back to its shipper (销后退回). Lots"
        " registered with traceability codes go back with their codes.",
    )
    _common(p)
    p.add_argument("--shipment", required=True, help="the shipment record you accepted")
    p.add_argument("--line", action="append", required=True, help="SHIPMENT_LINE:QUANTITY")
    p.add_argument(
        "--unit-codes-file",
        action="append",
        default=[],
        help="LINE:FILE, the 20-digit codes sent back on that line (whitespace-separated)",
    )
    p.add_argument("--reason", required=True)
    _record_id_option(p)
    p.set_defaults(handler=_run(_return))

    p = subparsers.add_parser(
        "recall",
        help="recall, quarantine or release lots (MAH)",
        description="A recall (levels I/II/III) stops the lots for good; --quarantine holds"
        " them pending investigation; --release lifts a quarantine.",
    )
    _common(p)
    p.add_argument("--product", required=True, help="7-digit product code")
    p.add_argument("--lot", action="append", required=True, help="a lot number (repeatable)")
    p.add_argument("--level", help="recall level I, II or III (a recall needs one)")
    p.add_argument("--reason", required=True)
    action = p.add_mutually_exclusive_group()
    action.add_argument("--quarantine", action="store_true", help="hold, do not recall")
    action.add_argument("--release", action="store_true", help="lift a quarantine")
    p.add_argument(
        "--notify", action="store_true", help="then list who holds the lots (recall scope)"
    )
    _record_id_option(p)
    p.set_defaults(handler=_run(_recall))

    dispute = command_group(subparsers, "dispute", "payment disputes")
    p = dispute.add_parser(
        "open",
        help="dispute an order's payment (buyer or seller)",
        description="Freezes the order's escrow until an arbiter resolves the dispute.",
    )
    _common(p)
    p.add_argument("--order", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--claimed-fen", help="the amount you claim, integer fen")
    _record_id_option(p)
    p.set_defaults(handler=_run(_dispute_open))
    p = dispute.add_parser(
        "resolve",
        help="split a disputed order's total (arbiter)",
        description="The two amounts must add up to the order's total, in integer fen.",
    )
    _common(p)
    p.add_argument("--dispute", required=True, help="the dispute record")
    p.add_argument("--to-seller-fen", required=True)
    p.add_argument("--to-buyer-fen", required=True)
    p.add_argument("--note", required=True, help="the decision, in a sentence")
    _record_id_option(p)
    p.set_defaults(handler=_run(_dispute_resolve))

    keys = command_group(subparsers, "keys", "key files and note keys")
    p = keys.add_parser(
        "rotate",
        help="add a signing key to a participant, optionally retiring one",
        description="Signed with your current key (or the consortium admin's, with"
        " --participant). With --new-out, a new key file is made (same actor, EVM account and"
        " passphrase) and kept only if the ledger takes the rotation.",
    )
    _common(p)
    p.add_argument("--participant", help="whose key (default: the key file's actor)")
    p.add_argument("--new-key-file", help="a key file made with keys new")
    p.add_argument("--new-public-key", help="or the new Ed25519 public key, 64 hex")
    p.add_argument("--new-out", help="or make a new key file here")
    p.add_argument("--new-passphrase-file", help="passphrase for --new-out (default: the same)")
    p.add_argument("--fast-kdf", action="store_true", help="minimal argon2id cost (tests only)")
    p.add_argument("--retire", help="key id (16 hex) to retire in the same record")
    p.add_argument("--retire-current", action="store_true", help="retire the key signing this")
    _record_id_option(p)
    p.set_defaults(handler=_run(_keys_rotate))
    p = keys.add_parser(
        "revoke",
        help="revoke a signing key (lost or compromised)",
        description="The key signs nothing dated after the revocation.",
    )
    _common(p)
    p.add_argument("--participant", help="whose key (default: the key file's actor)")
    p.add_argument("--key-id", required=True, help="the key id, 16 hex (keys show)")
    p.add_argument("--reason", required=True)
    _record_id_option(p)
    p.set_defaults(handler=_run(_keys_revoke))

    p = subparsers.add_parser(
        "correct",
        help="declare one of your records in error",
        description="A correction supersedes a record: it voids an invoice, cancels an order"
        " without shipments or a shipment in transit, or withdraws a licence (its author or"
        " a reviewer). The original stays on the log.",
    )
    _common(p)
    p.add_argument("record", help="the id of the record to supersede")
    p.add_argument("--reason", required=True)
    _record_id_option(p)
    p.set_defaults(handler=_run(_correct))
