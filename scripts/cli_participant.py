"""The participant's commands: keys, enrol, batch, order, escrow, ship, accept, trace, alerts.

Every command signs locally with the participant's key file (encrypted; passphrase from
``--passphrase-file``, env ``LOTPROOF_PASSPHRASE``, or a prompt) and talks to the API at
``--url`` (env ``LOTPROOF_URL``, default http://127.0.0.1:8080). Errors are one line on stderr;
exit 2 for bad input (and anything the server calls malformed), 1 for a refusal by a rule or
a failed verification, 0 when done. ``--json`` prints machine-readable output.

Escrow transactions are signed locally with the key file's EVM key and sent raw through the
API's JSON-RPC relay (``/v1/chain/rpc``), so no key ever leaves the machine.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import secrets
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError, MalformedInputError
from ledger.keyfile import (
    FAST_FOR_TESTS,
    INTERACTIVE,
    KeyMaterial,
    read_key_file,
    read_public_info,
    write_key_file,
)
from ledger.records import SignedRecord, SigningKey, make_record
from scripts.cli import EXIT_ERROR, EXIT_FAIL, EXIT_OK, Subparsers, command_group, one_line

DEFAULT_URL = "http://127.0.0.1:8080"


# --- common options ------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, key: bool = True) -> None:
    p.add_argument("--url", default=os.environ.get("LOTPROOF_URL", DEFAULT_URL))
    if key:
        p.add_argument(
            "--key-file",
            default=os.environ.get("LOTPROOF_KEY_FILE"),
            help="your encrypted key file (env LOTPROOF_KEY_FILE)",
        )
        p.add_argument("--passphrase-file", help="read the passphrase from this file")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _passphrase(args: argparse.Namespace, confirm: bool = False) -> str:
    if getattr(args, "passphrase_file", None):
        try:
            return Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise MalformedInputError(f"cannot read passphrase file: {e.strerror}") from None
    env = os.environ.get("LOTPROOF_PASSPHRASE")
    if env:
        return env
    if not sys.stdin.isatty():
        raise MalformedInputError(
            "no passphrase: use --passphrase-file, LOTPROOF_PASSPHRASE, or a terminal"
        )
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise MalformedInputError("the passphrases differ")
    return first


def _material(args: argparse.Namespace) -> KeyMaterial:
    if not args.key_file:
        raise MalformedInputError("give your key file with --key-file (or LOTPROOF_KEY_FILE)")
    return read_key_file(args.key_file, _passphrase(args))


def _client(args: argparse.Namespace, material: KeyMaterial | None = None) -> Any:
    from api.client import LotproofClient

    key = material.signing_key if material is not None else None
    return LotproofClient(args.url, key)


def _actor(material: KeyMaterial) -> str:
    if not material.actor:
        raise MalformedInputError("the key file names no actor (USCC); make it with --actor")
    return material.actor


def _out(args: argparse.Namespace, value: Any, text: str) -> None:
    if args.json:
        print(json.dumps(value, ensure_ascii=False, indent=2))
    else:
        print(text)


def _submit(args: argparse.Namespace, client: Any, signed: SignedRecord) -> dict[str, Any]:
    answer = dict(client.submit(signed))
    receipt = answer["receipts"][0]
    _out(
        args,
        {"record": signed.to_dict(), **answer},
        f"{signed.record.type} {signed.record.id}: leaf {receipt['leaf_index']}"
        f" (hash {receipt['leaf_hash'][:16]}...)",
    )
    return answer


def _run(handler: Any) -> Any:
    """Wrap a handler: API and ledger errors become one line and an exit code."""

    def wrapped(args: argparse.Namespace) -> int:
        from api.client import ApiError

        try:
            code = handler(args)
            return EXIT_OK if code is None else int(code)
        except ApiError as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return EXIT_ERROR if e.bad_input or e.status in (0, 401, 403) else EXIT_FAIL
        except LedgerError as e:
            from ledger.errors import VerificationError

            print(f"error: {one_line(e)}", file=sys.stderr)
            is_fail = isinstance(e, VerificationError) and "passphrase" not in str(e)
            return EXIT_FAIL if is_fail else EXIT_ERROR

    return wrapped


# --- keys ----------------------------------------------------------------------------------------


def _keys_new(args: argparse.Namespace) -> int:
    evm_key: bytes | None = None
    evm_address: str | None = None
    if args.evm_dev_account is not None:
        from anchors.embedded import DEV_PRIVATE_KEYS

        if not 0 <= args.evm_dev_account < len(DEV_PRIVATE_KEYS):
            raise MalformedInputError(f"--evm-dev-account must be 0..{len(DEV_PRIVATE_KEYS) - 1}")
        evm_key = DEV_PRIVATE_KEYS[args.evm_dev_account]
    elif args.evm:
        evm_key = secrets.token_bytes(32)
    if evm_key is not None:
        from eth_account import Account

        evm_address = Account.from_key(evm_key).address.lower()[2:]
    material = KeyMaterial(SigningKey.generate(), args.actor, evm_key, evm_address)
    strength = FAST_FOR_TESTS if args.fast_kdf else INTERACTIVE
    write_key_file(args.out, material, _passphrase(args, confirm=True), strength=strength)
    info = read_public_info(args.out)
    _out(
        args,
        info,
        f"wrote {args.out}: key id {info['key_id']}, public key {info['public_key']}"
        + (f", EVM 0x{evm_address}" if evm_address else ""),
    )
    return EXIT_OK


def _keys_show(args: argparse.Namespace) -> int:
    info = read_public_info(args.file)
    _out(args, info, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return EXIT_OK


# --- enrol (by the consortium admin) -------------------------------------------------------------


def _enrol(args: argparse.Namespace) -> int:
    admin = _material(args)
    public_keys = list(args.public_key)
    evm = args.evm_address
    for path in args.participant_key_file:
        info = read_public_info(path)
        public_keys.append(info["public_key"])
        if evm is None and info.get("evm_address"):
            evm = "0x" + info["evm_address"]
    if not public_keys:
        raise MalformedInputError(
            "give the participant's key: --participant-key-file or --public-key"
        )
    body: dict[str, Any] = {
        "uscc": args.uscc,
        "name": args.name,
        "roles": [r.strip() for r in args.roles.split(",") if r.strip()],
        "keys": public_keys,
        "region": args.region,
    }
    if evm:
        body["evm_address"] = evm.lower()
    if args.public is not None:
        body["public"] = args.public == "yes"
    signed = make_record(admin.signing_key, "enrolment", _actor(admin), body)
    _submit(args, _client(args), signed)
    return EXIT_OK


# --- trade records -------------------------------------------------------------------------------


def _sha256_arg(value: str | None, file: str | None, what: str) -> str:
    if file:
        return hashlib.sha256(Path(file).read_bytes()).hexdigest()
    if value and len(value) == 64:
        return value.lower()
    raise MalformedInputError(f"give {what} as --{what} <64 hex> or --{what}-file FILE")


def _batch_register(args: argparse.Namespace) -> int:
    m = _material(args)
    body: dict[str, Any] = {
        "product": args.product,
        "lot": args.lot,
        "mfg_date": args.mfg_date,
        "expiry_date": args.expiry_date,
        "quantity": args.quantity,
        "test_report_sha256": _sha256_arg(args.report_sha256, args.report_file, "report-sha256"),
    }
    if args.unit_codes_file:
        body["unit_codes"] = [
            c.strip() for c in Path(args.unit_codes_file).read_text().split() if c.strip()
        ]
    _submit(args, _client(args), make_record(m.signing_key, "batch", _actor(m), body))
    return EXIT_OK


def _parse_order_line(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise MalformedInputError(
            f"--line must be PRODUCT:QUANTITY:UNIT_PRICE_FEN[:LOT], got {text!r}"
        )
    try:
        line: dict[str, Any] = {
            "product": parts[0],
            "quantity": int(parts[1]),
            "unit_price_fen": int(parts[2]),
        }
    except ValueError:
        raise MalformedInputError(
            f"quantity and price must be integers (fen), got {text!r}"
        ) from None
    if len(parts) == 4:
        line["lot"] = parts[3]
    return line


def _order_create(args: argparse.Namespace) -> int:
    m = _material(args)
    client = _client(args, m)
    lines = [_parse_order_line(t) for t in args.line]
    order_id = args.id or f"order-{secrets.token_hex(8)}"
    body: dict[str, Any] = {
        "buyer": _actor(m),
        "seller": args.seller,
        "number": args.number or order_id,
        "lines": lines,
        "total_fen": sum(ln["quantity"] * ln["unit_price_fen"] for ln in lines),
        "requested_delivery": args.delivery or (date.today() + timedelta(days=7)).isoformat(),
    }
    if args.escrow:
        chain = client.log_info().get("chain")
        if not chain:
            raise MalformedInputError("the ledger runs without a chain: no escrow possible")
        if not m.evm_address:
            raise MalformedInputError("your key file has no EVM account (keys new --evm)")
        if not args.seller_address:
            raise MalformedInputError("give the seller's EVM account: --seller-address 0x...")
        body["escrow"] = {
            "chain_id": chain["chain_id"],
            "contract": chain["escrow"].lower(),
            "order_id": hashlib.sha256(f"escrow/{order_id}".encode()).hexdigest(),
            "buyer_address": "0x" + m.evm_address,
            "seller_address": args.seller_address.lower(),
            "units_per_fen": args.units_per_fen,
        }
    signed = make_record(m.signing_key, "order", _actor(m), body, record_id=order_id)
    _submit(args, client, signed)
    return EXIT_OK


def _record_body(client: Any, record_id: str) -> dict[str, Any]:
    answer = client.record(record_id)
    for e in answer["bundle"]["entries"]:
        rec = e.get("record")
        if rec is not None and rec["record"]["id"] == record_id:
            return dict(rec["record"]["body"])
    raise MalformedInputError(f"the ledger did not return record {record_id}")


def _ship(args: argparse.Namespace) -> int:
    m = _material(args)
    client = _client(args, m)
    order = _record_body(client, args.order)
    lines = []
    for text in args.line:
        parts = text.split(":")
        if len(parts) != 4:
            raise MalformedInputError(
                f"--line must be ORDER_LINE:LOT:QUANTITY:EXPIRY (YYYY-MM-DD), got {text!r}"
            )
        try:
            index, quantity = int(parts[0]), int(parts[2])
        except ValueError:
            raise MalformedInputError(
                f"order line and quantity must be integers: {text!r}"
            ) from None
        if not 0 <= index < len(order["lines"]):
            raise MalformedInputError(f"order {args.order} has no line {index}")
        lines.append(
            {
                "order_line": index,
                "product": order["lines"][index]["product"],
                "lot": parts[1],
                "expiry_date": parts[3],
                "quantity": quantity,
            }
        )
    body: dict[str, Any] = {
        "order": args.order,
        "shipper": _actor(m),
        "consignee": order["buyer"],
        "lines": lines,
    }
    if args.carrier:
        body["carrier"] = args.carrier
    if args.temperature_file:
        body["temperature"] = json.loads(Path(args.temperature_file).read_text())
    _submit(args, client, make_record(m.signing_key, "shipment", _actor(m), body))
    return EXIT_OK


def _accept(args: argparse.Namespace) -> int:
    m = _material(args)
    client = _client(args, m)
    shipment = _record_body(client, args.shipment)
    rejects: dict[int, tuple[int, str]] = {}
    for text in args.reject:
        parts = text.split(":")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise MalformedInputError(f"--reject must be LINE:QUANTITY:REASON, got {text!r}")
        rejects[int(parts[0])] = (int(parts[1]), parts[2])
    lines = []
    for i, line in enumerate(shipment["lines"]):
        rejected, reason = rejects.pop(i, (0, ""))
        entry: dict[str, Any] = {
            "line": i,
            "accepted": line["quantity"] - rejected,
            "rejected": rejected,
        }
        if rejected:
            entry["reasons"] = [reason]
        lines.append(entry)
    if rejects:
        raise MalformedInputError(f"shipment {args.shipment} has no line {min(rejects)}")
    signed = make_record(
        m.signing_key, "acceptance", _actor(m), {"shipment": args.shipment, "lines": lines}
    )
    _submit(args, client, signed)
    if args.release:
        _escrow_release(args, m, client, shipment["order"])
    return EXIT_OK


# --- escrow --------------------------------------------------------------------------------------


def _relay_web3(client: Any) -> Any:
    from web3 import Web3
    from web3.providers.rpc import HTTPProvider

    provider = HTTPProvider(
        client.base_url + "/v1/chain/rpc",
        request_kwargs={
            "headers": {
                "Authorization": f"Bearer {client.token()}",
                "Content-Type": "application/json",
            },
            "timeout": 60,
        },
    )
    return Web3(provider)


def _escrow_client(client: Any, m: KeyMaterial) -> tuple[Any, Any, Any]:
    from eth_account import Account

    from anchors.chain import Chain
    from anchors.escrow import EscrowClient

    if m.evm_private_key is None:
        raise MalformedInputError("your key file has no EVM account (keys new --evm)")
    info = client.log_info().get("chain")
    if not info:
        raise MalformedInputError("the ledger runs without a chain")
    w3 = _relay_web3(client)
    chain = Chain(w3, client.base_url + "/v1/chain/rpc")
    account = Account.from_key(m.evm_private_key)
    return EscrowClient(chain.contract("TradeEscrow", info["escrow"]), chain), account, chain


def _escrow_deposit(args: argparse.Namespace) -> int:
    m = _material(args)
    client = _client(args, m)
    status = client.escrow(args.order)
    terms = status.get("escrow_terms")
    if not terms:
        raise MalformedInputError(f"order {args.order} has no escrow terms")
    escrow, account, _ = _escrow_client(client, m)
    amount = int(status["total_fen"]) * int(terms["units_per_fen"])
    deadline = int(time.time()) + args.deadline_days * 86400
    tx = escrow.deposit(
        account,
        bytes.fromhex(terms["order_id"].removeprefix("0x")),
        terms["seller_address"],
        amount,
        deadline,
    )
    _out(
        args,
        {"tx_hash": "0x" + tx.tx_hash.hex(), "block": tx.block_number, "amount": amount},
        f"deposited {amount} for order {args.order} in tx 0x{tx.tx_hash.hex()}",
    )
    return EXIT_OK


def _escrow_release(args: argparse.Namespace, m: KeyMaterial, client: Any, order_id: str) -> None:
    status = client.escrow(order_id)
    terms = status.get("escrow_terms")
    if not terms:
        raise MalformedInputError(f"order {order_id} has no escrow terms")
    escrow, account, _ = _escrow_client(client, m)
    to_seller = int(status["amount_due_fen"]) * int(terms["units_per_fen"])
    tx = escrow.release(account, bytes.fromhex(terms["order_id"].removeprefix("0x")), to_seller)
    _out(
        args,
        {"released_to_seller": to_seller, "tx_hash": "0x" + tx.tx_hash.hex()},
        f"released {to_seller} to the seller for order {order_id} in tx 0x{tx.tx_hash.hex()}",
    )


def _escrow_status(args: argparse.Namespace) -> int:
    client = _client(args, _material(args))
    status = client.escrow(args.order)
    chain = status.get("chain") or {}
    _out(
        args,
        status,
        f"order {args.order}: {status['status']}, payment {status['payment_status']},"
        f" due {status['amount_due_fen']} fen; escrow {chain.get('state', 'n/a')}"
        f" {chain.get('amount', '')}",
    )
    return EXIT_OK


def _escrow_release_cmd(args: argparse.Namespace) -> int:
    m = _material(args)
    _escrow_release(args, m, _client(args, m), args.order)
    return EXIT_OK


# --- reading -------------------------------------------------------------------------------------


def _write_bundle(args: argparse.Namespace, answer: dict[str, Any]) -> None:
    if args.out:
        Path(args.out).write_text(json.dumps(answer["bundle"], ensure_ascii=False))
    summary = answer["summary"]
    entries = len(answer["bundle"]["entries"])
    where = f"; bundle written to {args.out}" if args.out else ""
    _out(
        args,
        answer if not args.out else summary,
        f"{_summarize(summary)} ({entries} entries{where})",
    )


def _summarize(summary: Any) -> str:
    if isinstance(summary, dict):
        if "holders" in summary:
            return f"{len(summary['holders'])} holders, {len(summary.get('steps', []))} steps"
        if "steps" in summary:
            return f"{len(summary['steps'])} steps"
        if "route" in summary:
            return f"genuine; {len(summary['route'])} moves; now with {summary['current_holder']}"
        if "alerts" in summary:
            lines = [
                f"{a['status']}: {a['holder']} {a['kind']} {a['number']} valid to {a['valid_to']}"
                for a in summary["alerts"]
            ]
            return "\n".join(lines) or "no licence alerts"
    return json.dumps(summary, ensure_ascii=False)[:400]


def _trace(args: argparse.Namespace) -> int:
    if args.direction == "unit" and args.public:
        client = _client(args)
    else:
        client = _client(args, _material(args))
    if args.direction == "forward":
        answer = client.trace_forward(args.batch, product=args.product, lot=args.lot)
    elif args.direction == "reverse":
        holder = args.holder or _actor(_material(args))
        answer = client.trace_reverse(holder, args.batch, product=args.product, lot=args.lot)
    elif args.public:
        answer = client.public_unit(args.code)
    else:
        answer = client.trace_unit(args.code)
    _write_bundle(args, answer)
    return EXIT_OK


def _alerts(args: argparse.Namespace) -> int:
    client = _client(args, _material(args))
    answer = client.alerts(args.holder)
    _write_bundle(args, answer)
    return EXIT_OK


def _submit_file(args: argparse.Namespace) -> int:
    from ledger.canonical import parse_json

    data = parse_json(Path(args.file).read_bytes(), args.file)
    items = data["records"] if isinstance(data, dict) and "records" in data else data
    records = [SignedRecord.from_dict(x) for x in (items if isinstance(items, list) else [items])]
    answer = _client(args).submit(records)
    _out(
        args, answer, f"{len(answer['receipts'])} records appended; tree size {answer['tree_size']}"
    )
    return EXIT_OK


# --- registration --------------------------------------------------------------------------------


def register(subparsers: Subparsers) -> None:
    keys = command_group(subparsers, "keys", "key files and note keys")
    p = keys.add_parser("new", help="create an encrypted participant key file")
    p.add_argument("--out", required=True)
    p.add_argument("--actor", help="your USCC (or the admin id for an admin key)")
    p.add_argument("--evm", action="store_true", help="also create an EVM account for escrow")
    p.add_argument(
        "--evm-dev-account", type=int, help="use embedded dev account N (DEVELOPMENT ONLY)"
    )
    p.add_argument("--fast-kdf", action="store_true", help="minimal argon2id cost (tests only)")
    p.add_argument("--passphrase-file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_keys_new))
    p = keys.add_parser("show", help="show a key file's public part")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_keys_show))

    p = subparsers.add_parser("enrol", help="enrol a participant (consortium admin)")
    _common(p)
    p.add_argument("--uscc", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--roles", required=True, help="comma-separated, e.g. distributor")
    p.add_argument("--region", required=True, help="6-digit division code")
    p.add_argument("--participant-key-file", action="append", default=[])
    p.add_argument("--public-key", action="append", default=[], help="64 hex")
    p.add_argument("--evm-address")
    p.add_argument("--public", choices=["yes", "no"], help="hospitals: public or not")
    p.set_defaults(handler=_run(_enrol))

    batch = command_group(subparsers, "batch", "batches (lots)")
    p = batch.add_parser("register", help="register a batch (MAH / manufacturer)")
    _common(p)
    p.add_argument("--product", required=True)
    p.add_argument("--lot", required=True)
    p.add_argument("--mfg-date", required=True)
    p.add_argument("--expiry-date", required=True)
    p.add_argument("--quantity", type=int, required=True)
    p.add_argument("--report-sha256")
    p.add_argument("--report-file")
    p.add_argument("--unit-codes-file")
    p.set_defaults(handler=_run(_batch_register))

    order = command_group(subparsers, "order", "purchase orders")
    p = order.add_parser("create", help="place an order (buyer)")
    _common(p)
    p.add_argument("--seller", required=True, help="seller's USCC")
    p.add_argument("--line", action="append", required=True, help="PRODUCT:QTY:PRICE_FEN[:LOT]")
    p.add_argument("--number")
    p.add_argument("--id", help="record id (default: random)")
    p.add_argument("--delivery", help="requested delivery date")
    p.add_argument("--escrow", action="store_true", help="pay through the escrow contract")
    p.add_argument("--seller-address", help="seller's EVM account")
    p.add_argument("--units-per-fen", type=int, default=10**12, help="coin units per fen")
    p.set_defaults(handler=_run(_order_create))

    escrow = command_group(subparsers, "escrow", "on-chain escrow")
    p = escrow.add_parser("deposit", help="fund an order's escrow (buyer)")
    _common(p)
    p.add_argument("--order", required=True)
    p.add_argument("--deadline-days", type=int, default=30)
    p.set_defaults(handler=_run(_escrow_deposit))
    p = escrow.add_parser("release", help="release the accepted amount (buyer)")
    _common(p)
    p.add_argument("--order", required=True)
    p.set_defaults(handler=_run(_escrow_release_cmd))
    p = escrow.add_parser("status", help="an order's payment and escrow status")
    _common(p)
    p.add_argument("--order", required=True)
    p.set_defaults(handler=_run(_escrow_status))

    p = subparsers.add_parser("ship", help="ship against an order (seller)")
    _common(p)
    p.add_argument("--order", required=True)
    p.add_argument("--line", action="append", required=True, help="ORDER_LINE:LOT:QTY:EXPIRY")
    p.add_argument("--carrier")
    p.add_argument("--temperature-file", help="temperature log summary (JSON)")
    p.set_defaults(handler=_run(_ship))

    p = subparsers.add_parser("accept", help="accept a shipment (consignee)")
    _common(p)
    p.add_argument("--shipment", required=True)
    p.add_argument("--reject", action="append", default=[], help="LINE:QTY:REASON")
    p.add_argument("--release", action="store_true", help="then release the escrow")
    p.set_defaults(handler=_run(_accept))

    trace = command_group(subparsers, "trace", "trace with proofs")
    for direction in ("forward", "reverse", "unit"):
        p = trace.add_parser(direction, help=f"{direction} trace as a proof bundle")
        _common(p)
        if direction == "unit":
            p.add_argument("code")
            p.add_argument("--public", action="store_true", help="no login, commercial data hidden")
        else:
            p.add_argument("--batch")
            p.add_argument("--product")
            p.add_argument("--lot")
        if direction == "reverse":
            p.add_argument("--holder", help="default: yourself")
        p.add_argument("--out", help="write the proof bundle here")
        p.set_defaults(handler=_run(_trace), direction=direction)

    p = subparsers.add_parser("alerts", help="licence alerts (expiring within 30 days)")
    _common(p)
    p.add_argument("--holder")
    p.add_argument("--out")
    p.set_defaults(handler=_run(_alerts))

    p = subparsers.add_parser("submit", help="submit signed records from a JSON file")
    _common(p, key=False)
    p.add_argument("file")
    p.set_defaults(handler=_run(_submit_file))
