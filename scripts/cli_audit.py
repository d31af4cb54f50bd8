"""``lotproof audit verify | monitor | reconcile``: the auditor's tools.

- ``audit verify BUNDLE --key VKEY [--admin-key USCC=HEX] [--rpc URL] [--json]`` checks a proof
  bundle (docs/bundle.md) offline: the checkpoint signature, every entry's inclusion (one
  shared proof), every leaf against its record, every signature against its signer's
  enrolled key and role, every trace link (quantities, provenance, licences valid on the
  day) and the anchor's consistency with the checkpoint; with ``--rpc`` also that the anchor
  is on chain. Exit 0 verified, 1 a check failed, 2 the bundle (or a key) is malformed or
  unreadable.
- ``audit monitor --url URL --state FILE --key VKEY [--rpc URL]`` follows a ledger's
  checkpoints: each new one must carry a trusted signature and be consistent with the last
  one seen (and with the chain's latest anchor when ``--rpc`` is given); the state file is
  written only after those checks pass. A split view or a rewrite exits 1 with a message.
- ``audit reconcile --db URL --rpc URL --escrow ADDRESS`` compares the escrow contract's
  events with the ledger's orders and acceptances and lists every difference (exit 1 if any).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ledger.bundle import MAX_BUNDLE_BYTES, Bundle, BundleReport, check_bundle
from ledger.checkpoint import NoteVerifier, open_checkpoint
from ledger.errors import LedgerError, MalformedInputError, VerificationError
from ledger.merkle import verify_consistency
from scripts.cli import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_OK,
    Subparsers,
    command_group,
    describe_os_error,
    one_line,
    read_input,
)


def _verifiers(args: argparse.Namespace) -> list[NoteVerifier]:
    texts = list(args.key)
    for name in args.key_file:
        texts.append(read_input(name, 64 << 10).decode("utf-8", "replace").strip())
    if not texts:
        raise MalformedInputError("give the log's checkpoint key with --key VKEY or --key-file")
    return [NoteVerifier.from_string(t) for t in texts]


def _admin_keys(values: list[str]) -> dict[str, bytes] | None:
    if not values:
        return None
    out: dict[str, bytes] = {}
    for value in values:
        uscc, sep, key_hex = value.partition("=")
        try:
            key = bytes.fromhex(key_hex)
        except ValueError:
            key = b""
        if not sep or len(key) != 32:
            raise MalformedInputError(f"--admin-key must be ADMIN=<64 hex>, got {value[:80]!r}")
        out[uscc] = key
    return out


def _add_key_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", action="append", default=[], metavar="VKEY", help="log checkpoint key"
    )
    parser.add_argument("--key-file", action="append", default=[], metavar="FILE")
    parser.add_argument("--origin", help="require this log origin")


def register(subparsers: Subparsers) -> None:
    audit = command_group(subparsers, "audit", "the auditor's tools: verify, monitor, reconcile")

    p = audit.add_parser("verify", help="verify a proof bundle offline")
    p.add_argument("bundle", help="bundle file (docs/bundle.md), - for stdin")
    _add_key_args(p)
    p.add_argument(
        "--admin-key",
        action="append",
        default=[],
        metavar="ADMIN=HEX",
        help="pin a consortium admin's Ed25519 key (repeatable)",
    )
    p.add_argument("--rpc", help="also check the anchor on this EVM JSON-RPC endpoint")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="list every check")
    p.set_defaults(handler=_verify)

    m = audit.add_parser("monitor", help="follow a ledger's checkpoints and anchors")
    m.add_argument("--url", required=True, help="the ledger API, e.g. http://127.0.0.1:8080")
    m.add_argument("--state", required=True, help="file holding the last verified checkpoint")
    _add_key_args(m)
    m.add_argument("--rpc", help="EVM JSON-RPC endpoint holding the AnchorRegistry")
    m.add_argument("--registry", help="AnchorRegistry address (default: what the ledger says)")
    m.add_argument("--once", action="store_true", help="poll once")
    m.add_argument("--max-polls", type=int, default=None)
    m.add_argument("--interval", type=float, default=5.0)
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=_monitor)

    r = audit.add_parser("reconcile", help="compare escrow events on chain with the ledger")
    r.add_argument("--db", required=True, help="the ledger database URL (a read replica)")
    r.add_argument("--rpc", help="EVM JSON-RPC endpoint (default: the embedded chain)")
    r.add_argument("--chain-db", help="the embedded chain file (data_dir/chain.db)")
    r.add_argument("--escrow", help="TradeEscrow address (default: data_dir/contracts.json)")
    r.add_argument("--from-block", type=int, default=0)
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=_reconcile)


# --- verify -------------------------------------------------------------------------------------


def _chain_check(bundle: Bundle, rpc: str) -> list[tuple[str, bool, str]]:
    from hexbytes import HexBytes

    from anchors.chain import connect
    from anchors.check import fetch_anchor

    anchor = bundle.anchor
    if anchor is None:
        return [("anchor-on-chain", False, "the bundle names no anchor")]
    chain = connect(rpc)
    if chain.chain_id != anchor.chain_id:
        return [("anchor-on-chain", False, f"chain id {chain.chain_id}, bundle {anchor.chain_id}")]
    registry = chain.contract("AnchorRegistry", "0x" + anchor.registry.hex())
    found = fetch_anchor(registry, anchor.tree_size)
    if found.root != anchor.root_hash:
        return [
            (
                "anchor-on-chain",
                False,
                f"registry root for size {anchor.tree_size} is {found.root.hex()},"
                f" the bundle says {anchor.root_hash.hex()}",
            )
        ]
    receipt = chain.w3.eth.get_transaction_receipt(HexBytes(anchor.tx_hash))
    if int(receipt["blockNumber"]) != anchor.block_number:
        return [
            (
                "anchor-on-chain",
                False,
                f"transaction mined in block {receipt['blockNumber']}, bundle says"
                f" {anchor.block_number}",
            )
        ]
    return [("anchor-on-chain", True, f"anchor {found.index} in block {anchor.block_number}")]


def _print_report(report: BundleReport, extra: list[tuple[str, bool, str]], verbose: bool) -> None:
    cp = report.checkpoint
    if cp is not None:
        print(f"checkpoint  {cp.origin}  size {cp.size}  root {cp.root.hex()}")
    for kind, (passed, failed) in sorted(report.counts().items()):
        mark = "ok  " if not failed else "FAIL"
        print(f"{mark} {kind:<13} {passed} passed, {failed} failed")
    for name, ok, detail in extra:
        print(f"{'ok  ' if ok else 'FAIL'} {name:<13} {detail}")
    for f in report.findings if verbose else report.failures:
        print(
            f"  {'ok  ' if f.ok else 'FAIL'} {f.check}: {one_line(f.subject)}: {one_line(f.detail)}"
        )
    for f in report.findings:
        if f.check == "admins" and "not pinned" in f.detail:
            print(f"  note: {one_line(f.detail)} (pin with --admin-key)")


def _verify(args: argparse.Namespace) -> int:
    try:
        data = read_input(args.bundle, MAX_BUNDLE_BYTES)
    except OSError as e:
        print(f"error: {args.bundle}: {describe_os_error(e)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        verifiers = _verifiers(args)
        pinned = _admin_keys(args.admin_key)
        bundle = Bundle.from_json(data)
    except LedgerError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    report = check_bundle(bundle, verifiers, origin=args.origin, admin_keys=pinned)
    extra: list[tuple[str, bool, str]] = []
    if args.rpc:
        try:
            extra = _chain_check(bundle, args.rpc)
        except LedgerError as e:
            extra = [("anchor-on-chain", False, one_line(e))]
    ok = report.ok and all(e[1] for e in extra)
    if args.json:
        doc = report.to_dict()
        doc["chain"] = [{"check": n, "ok": o, "detail": d} for n, o, d in extra]
        doc["ok"] = ok
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_report(report, extra, args.verbose)
        n = len(bundle.entries)
        print(f"{'VERIFIED' if ok else 'FAILED'}: {n} entries, {len(report.findings)} checks")
    return EXIT_OK if ok else EXIT_FAIL


# --- monitor ------------------------------------------------------------------------------------


class MonitorAlarm(VerificationError):
    """A split view, a rewrite, or a checkpoint inconsistent with the chain."""


def _get(url: str, path: str, params: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + path, params=params, timeout=30)
    except httpx.HTTPError as e:
        raise LedgerError(f"cannot reach {url}: {e}") from None
    if response.status_code != 200:
        raise LedgerError(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
    return response.json()


def _proof_hashes(values: list[str]) -> list[bytes]:
    try:
        return [bytes.fromhex(v) for v in values]
    except (ValueError, TypeError) as e:
        raise MalformedInputError(f"proof hash is not hex: {e}") from None


def monitor_poll(
    url: str,
    state_path: Path,
    verifiers: list[NoteVerifier],
    *,
    origin: str | None = None,
    rpc: str | None = None,
    registry: str | None = None,
) -> dict[str, Any]:
    """One poll: verify the ledger's latest checkpoint against the saved state (and the
    chain); write the new state only if every check passed. Raises ``MonitorAlarm``."""
    cp_doc = _get(url, "/v1/checkpoints/latest")
    opened = open_checkpoint(cp_doc["note"], verifiers, origin).checkpoint
    previous: dict[str, Any] | None = None
    if state_path.exists():
        previous = json.loads(state_path.read_text())
    if previous is not None:
        old_size, old_root = int(previous["tree_size"]), bytes.fromhex(previous["root_hash"])
        if previous.get("origin") not in (None, opened.origin):
            raise MonitorAlarm(f"origin changed from {previous['origin']} to {opened.origin}")
        if opened.size < old_size:
            raise MonitorAlarm(
                f"the log shrank: size {opened.size} now, {old_size} seen before (rollback)"
            )
        if opened.size == old_size and opened.root != old_root:
            raise MonitorAlarm(
                f"split view: two roots for size {old_size}: {old_root.hex()} seen before,"
                f" {opened.root.hex()} now"
            )
        if opened.size > old_size > 0:
            proof = _get(url, "/v1/proofs/consistency", {"from": old_size, "to": opened.size})
            try:
                verify_consistency(
                    old_size, opened.size, _proof_hashes(proof["path"]), old_root, opened.root
                )
            except VerificationError as e:
                raise MonitorAlarm(
                    f"checkpoint {opened.size} is not an extension of {old_size}: {e}"
                    " (history rewritten)"
                ) from None
    anchor_note = "no chain checked"
    if rpc:
        anchor_note = _monitor_chain(url, opened.size, opened.root, rpc, registry)
    state = {
        "origin": opened.origin,
        "tree_size": opened.size,
        "root_hash": opened.root.hex(),
        "note": cp_doc["note"],
        "checked_at": int(time.time()),
    }
    tmp = state_path.with_suffix(state_path.suffix + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, state_path)
    grew = "" if previous is None else f" (was {previous['tree_size']})"
    return {
        "tree_size": opened.size,
        "root_hash": opened.root.hex(),
        "message": f"size {opened.size}{grew}; {anchor_note}",
    }


def _monitor_chain(url: str, size: int, root: bytes, rpc: str, registry: str | None) -> str:
    from anchors.chain import connect
    from anchors.check import fetch_latest_anchor

    address = registry or (_get(url, "/v1/log").get("chain") or {}).get("registry")
    if not address:
        raise MalformedInputError("no AnchorRegistry address: give --registry")
    chain = connect(rpc)
    latest = fetch_latest_anchor(chain.contract("AnchorRegistry", address))
    if latest is None:
        return "nothing anchored yet"
    lo, hi = sorted(((latest.tree_size, latest.root), (size, root)))
    if lo[0] == hi[0]:
        if lo[1] != hi[1]:
            raise MonitorAlarm(
                f"split view: the chain anchors root {latest.root.hex()} for size {size},"
                f" the ledger serves {root.hex()}"
            )
        return f"anchored at size {size}"
    if lo[0] > 0:
        proof = _get(url, "/v1/proofs/consistency", {"from": lo[0], "to": hi[0]})
        try:
            verify_consistency(lo[0], hi[0], _proof_hashes(proof["path"]), lo[1], hi[1])
        except VerificationError as e:
            raise MonitorAlarm(
                f"the ledger's checkpoint {size} and the chain's anchor {latest.tree_size}"
                f" are not one history: {e}"
            ) from None
    return f"consistent with the chain's anchor at size {latest.tree_size}"


def _monitor(args: argparse.Namespace) -> int:
    try:
        verifiers = _verifiers(args)
    except LedgerError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    polls = 1 if args.once else args.max_polls
    done = 0
    while polls is None or done < polls:
        if done:
            time.sleep(args.interval)
        done += 1
        try:
            result = monitor_poll(
                args.url,
                Path(args.state),
                verifiers,
                origin=args.origin,
                rpc=args.rpc,
                registry=args.registry,
            )
        except VerificationError as e:
            print(f"ALARM: {one_line(e)}", file=sys.stderr)
            return EXIT_FAIL
        except (LedgerError, OSError, ValueError, KeyError) as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return EXIT_ERROR
        if args.json:
            print(json.dumps(result))
        else:
            print(f"ok: {result['message']}")
        sys.stdout.flush()
    return EXIT_OK


# --- reconcile ----------------------------------------------------------------------------------


def reconcile(orders: list[dict[str, Any]], events: list[Any]) -> list[str]:
    """Differences between the ledger's escrowed orders and the chain's escrow events.

    ``orders``: dicts with ``order_id``, ``escrow`` (terms), ``amount_due_fen``,
    ``total_fen``, ``status``, ``dispute`` (to_seller_fen or None). ``events``: decoded
    ``anchors.escrow.EscrowEvent``.
    """
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for o in orders:
        terms = o["escrow"]
        key = (terms["buyer_address"].lower(), terms["order_id"].removeprefix("0x").lower())
        by_key[key] = o
    differences: list[str] = []
    deposits: dict[tuple[str, str], int] = {}
    for ev in events:
        if ev.name not in ("Deposited", "Released", "Refunded", "DisputeResolved"):
            continue
        key = (str(ev.args["buyer"]).lower(), bytes(ev.args["orderId"]).hex())
        order = by_key.get(key)
        where = f"{ev.name} in block {ev.block_number} (buyer {key[0]}, escrow {key[1][:16]}...)"
        if order is None:
            differences.append(f"{where}: no order on the ledger has these escrow terms")
            continue
        units = int(order["escrow"]["units_per_fen"])
        oid = order["order_id"]
        if ev.name == "Deposited":
            deposits[key] = int(ev.args["amount"])
            want = order["total_fen"] * units
            if int(ev.args["amount"]) < want:
                differences.append(
                    f"{where}: order {oid} totals {order['total_fen']} fen = {want},"
                    f" the deposit is {ev.args['amount']}"
                )
        elif ev.name == "Released":
            to_seller, to_buyer = int(ev.args["toSeller"]), int(ev.args["toBuyer"])
            due = order["amount_due_fen"] * units
            if to_seller != due:
                differences.append(
                    f"{where}: released {to_seller} to the seller, but order {oid}'s accepted"
                    f" goods come to {order['amount_due_fen']} fen = {due}"
                )
            if to_seller and not order["accepted"]:
                differences.append(f"{where}: release without any acceptance of order {oid}")
            if key in deposits and to_seller + to_buyer != deposits[key]:
                differences.append(
                    f"{where}: split {to_seller} + {to_buyer} != deposit {deposits[key]}"
                )
        elif ev.name == "Refunded":
            if order["accepted"]:
                differences.append(f"{where}: refunded, but order {oid} has accepted goods")
        elif ev.name == "DisputeResolved":
            decided = order.get("dispute_to_seller_fen")
            if decided is None:
                differences.append(f"{where}: no dispute resolution for order {oid} on the ledger")
            elif int(ev.args["toSeller"]) != decided * units:
                differences.append(
                    f"{where}: chain paid the seller {ev.args['toSeller']}, the arbiter decided"
                    f" {decided} fen = {decided * units}"
                )
    return differences


def _ledger_orders(db_url: str) -> list[dict[str, Any]]:
    from ledger.storage.db import Database
    from ledger.trade.state import DisputeRow, OrderRow, load_where

    db = Database(db_url)
    try:
        with db.read() as tx:
            rows = load_where(tx, OrderRow, "escrow IS NOT NULL", ())
            disputes = {d.order_id: d for d in load_where(tx, DisputeRow, "1 = 1", ())}
    finally:
        db.close()
    out = []
    for row in rows:
        terms = row.escrow_terms
        if terms is None:
            continue
        accepted = any(line.get("accepted", 0) > 0 for line in row.line_list)
        dispute = disputes.get(row.order_id)
        out.append(
            {
                "order_id": row.order_id,
                "escrow": terms,
                "amount_due_fen": row.amount_due_fen,
                "total_fen": row.total_fen,
                "status": row.status,
                "accepted": accepted,
                "dispute_to_seller_fen": None if dispute is None else dispute.to_seller_fen,
            }
        )
    return out


def _reconcile(args: argparse.Namespace) -> int:
    from anchors.escrow import EscrowClient

    try:
        orders = _ledger_orders(args.db)
        if args.rpc:
            from anchors.chain import connect

            chain = connect(args.rpc)
            closer = None
        else:
            from anchors.embedded import open_embedded_chain

            if not args.chain_db:
                raise MalformedInputError("give --rpc URL or --chain-db FILE")
            embedded = open_embedded_chain(Path(args.chain_db))
            chain, closer = embedded.connect(), embedded
        address = args.escrow
        if not address and args.chain_db:
            saved = json.loads((Path(args.chain_db).parent / "contracts.json").read_text())
            address = saved["TradeEscrow"]
        if not address:
            raise MalformedInputError("give the TradeEscrow address with --escrow")
        client = EscrowClient(chain.contract("TradeEscrow", address), chain)
        events = client.read_events(args.from_block)
        if closer is not None:
            closer.close()
    except (LedgerError, OSError, KeyError, ValueError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    differences = reconcile(orders, events)
    if args.json:
        print(
            json.dumps(
                {"orders": len(orders), "events": len(events), "differences": differences},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for d in differences:
            print(f"DIFF {one_line(d)}")
        print(
            f"{'RECONCILED' if not differences else 'DIFFERENCES'}: {len(orders)} escrowed"
            f" orders, {len(events)} escrow events, {len(differences)} differences"
        )
    return EXIT_OK if not differences else EXIT_FAIL
