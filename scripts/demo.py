"""`make demo`: the whole lotproof story on the embedded defaults, told as a narrative.

A real `lotproof serve` process (SQLite + the persistent in-process EVM, on 127.0.0.1) is
started and stopped by this script. Participants sign their records on this side and talk to
it over HTTP, as their CLI does; their EVM transactions are signed here too and relayed.

The story (DESIGN.md, "Commands a newcomer runs"): the consortium enrols a manufacturer, a
distributor and a public hospital with licences reviewed by its compliance desk (首营); the
manufacturer registers a cold-chain insulin batch and an amoxicillin batch; the distributor
buys both, pays through escrow and accepts; the hospital orders, pays into escrow; the
distributor ships with a temperature log that shows an excursion; the hospital accepts the
amoxicillin and rejects the insulin (GSP cold-chain receiving); the log is checkpointed and
anchored on chain; the distributor is paid by presenting the acceptance's inclusion proof
against the anchored root (the rest of the escrow returns to the hospital); the insulin batch
is traced forward and the hospital's stock backward; the reverse trace is written as a proof
bundle that an auditor verifies offline, and a tampered copy fails.

Outputs: ``demo-out/bundle.json`` (the proof bundle), ``demo-out/log.vkey`` (the log's
checkpoint verifier key), ``demo-out/tampered-bundle.json``, ``demo-out/data`` (the ledger).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


# --- presentation -----------------------------------------------------------------------------


class Narrator:
    def __init__(self) -> None:
        self.step = 0
        self.started = time.monotonic()

    def title(self, text: str) -> None:
        print(f"\n{text}\n{'=' * len(text)}", flush=True)

    def section(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}", flush=True)

    def say(self, text: str = "", indent: int = 3) -> None:
        print(" " * indent + text if text else "", flush=True)

    def fact(self, label: str, value: object) -> None:
        print(f"     {label:<26} {value}", flush=True)

    def command(self, argv: list[str]) -> None:
        shown = " ".join(a if " " not in a else repr(a) for a in argv)
        print(f"   $ {shown}", flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def short(hex_text: str, n: int = 12) -> str:
    text = hex_text.removeprefix("0x")
    return text[:n] + "…"


# --- the server ---------------------------------------------------------------------------------


def retry(action: Callable[[], T], what: str, attempts: int = 40, pause: float = 0.25) -> T:
    """Retry ``action`` boundedly (the server enrols EVM accounts and anchors in the background)."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return action()
        except Exception as e:
            last = e
            time.sleep(pause)
    raise SystemExit(f"error: {what} did not succeed: {last}")


# --- the story ----------------------------------------------------------------------------------


def run(out: Path) -> int:
    from eth_account import Account

    from anchors.chain import Chain
    from anchors.embedded import DEV_PRIVATE_KEYS
    from anchors.errors import ContractRevert
    from anchors.escrow import EscrowClient
    from api.client import LotproofClient
    from ledger.leaf import decode_leaf
    from ledger.merkle import hash_leaf, verify_inclusion
    from ledger.trade import codes
    from ledger.trade.scenario import Party, Scenario
    from scripts.serve_process import ServeProcess

    say = Narrator()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    data_dir = out / "data"

    say.title("lotproof: a cold-chain insulin batch from manufacturer to public hospital")
    say.say("Every record below is signed by the party that makes it (Ed25519), checked against")
    say.say("the GSP rules, appended to an RFC 9162 Merkle log, checkpointed (C2SP signed note)")
    say.say("and anchored in an EVM contract; payment waits in an escrow contract.")

    # Participants. Keys are derived from the scenario seed (a demo, not a key ceremony); each
    # party's EVM account is one of the embedded chain's funded development accounts.
    scn = Scenario("demo", start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6))
    evm_keys: dict[str, bytes] = {}

    def with_account(p: Party, dev_index: int) -> Party:
        account = Account.from_key(DEV_PRIVATE_KEYS[dev_index])
        evm_keys[p.uscc] = DEV_PRIVATE_KEYS[dev_index]
        moved = dataclasses.replace(p, evm_address=str(account.address).lower())
        scn.parties[p.name] = moved
        return moved

    reviewer, reviewer_enrolment = scn.new_reviewer()
    mah = with_account(
        scn.party("通化某生物制药有限公司", ["mah", "manufacturer"], region="220500"), 3
    )
    dist = with_account(scn.party("广州某医药有限公司", ["distributor"]), 4)
    hosp = with_account(scn.party("广州市某人民医院", ["hospital"], public=True), 5)
    admin_file = out / "admins.json"
    admin_file.write_text(json.dumps({k: v.hex() for k, v in scn.admin_keys.items()}))

    with ServeProcess(
        data_dir, admin_file, args=["--origin", "lotproof.demo/log"], log_path=out / "server.log"
    ) as server:
        url = server.url
        info = LotproofClient(url).log_info()
        chain = info["chain"]
        say.say()
        say.fact("ledger", f"{url}  (SQLite + embedded EVM in {data_dir})")
        say.fact("chain id", chain["chain_id"])
        say.fact("AnchorRegistry", chain["registry"])
        say.fact("TradeEscrow", chain["escrow"])
        (out / "log.vkey").write_text(info["checkpoint_key"] + "\n")
        say.fact("checkpoint key", info["checkpoint_key"])

        # Escrow terms must name this chain and this escrow contract: the acceptance leaf binds
        # them, so its proof pays this escrow and no other.
        units_per_fen = scn.units_per_fen = 10**12
        scn.chain_id = chain["chain_id"]
        scn.escrow_contract = chain["escrow"].lower()

        public = LotproofClient(url)
        clients = {p.uscc: LotproofClient(url, p.key) for p in (mah, dist, hosp)}

        def submit(records: list[Any], what: str) -> list[dict[str, Any]]:
            answer = public.submit(records)
            receipts = answer["receipts"]
            first, last = receipts[0]["leaf_index"], receipts[-1]["leaf_index"]
            span = f"leaf {first}" if first == last else f"leaves {first}-{last}"
            say.say(f"→ {what}: {len(receipts)} record(s) appended, {span}")
            return list(receipts)

        # 1. Enrolment and licences.
        say.section(
            "The consortium enrols the participants; its compliance desk records their licences (首营)"
        )
        wide = [codes.CHEMICAL, codes.BIOLOGICS, codes.COLD_CHAIN]
        records = [reviewer_enrolment]
        for p in (mah, dist, hosp):
            records += scn.onboard(p, wide)
        for p in (reviewer, mah, dist, hosp):
            say.fact(p.name, f"{', '.join(p.roles)}  USCC {p.uscc}")
        kinds = sorted({r.record.body["kind"] for r in records if r.record.type == "qualification"})
        say.say(f"licences: {', '.join(kinds)}; scope {', '.join(wide)}")
        submit(records, "enrolments and licences")

        # 2. Products and batches.
        say.section("The manufacturer registers its products and two batches")
        insulin, amox = "8612345", "8600321"
        ins_lot, amox_lot = "INS2611A", "AMX2611B"
        products = [
            scn.product(
                mah, insulin, "甘精胰岛素注射液", category=codes.BIOLOGICS, storage=(20, 80)
            ),
            scn.product(mah, amox, "阿莫西林胶囊"),
        ]
        ins_batch = scn.batch(mah, insulin, ins_lot, 200, with_unit_codes=True)
        amox_batch = scn.batch(mah, amox, amox_lot, 1000)
        say.fact(
            f"{insulin} 甘精胰岛素注射液",
            f"lot {ins_lot}, 200 units, cold chain 2-8 °C, unit codes 一物一码",
        )
        say.fact(f"{amox} 阿莫西林胶囊", f"lot {amox_lot}, 1,000 boxes, room temperature")
        submit([*products, ins_batch, amox_batch], "products and batches")

        # A rule refuses a bad record, and nothing is written.
        size_before = public.log_info()["tree_size"]
        bogus = scn.batch(hosp, amox, "FAKE001", 10)
        try:
            public.submit([bogus])
            raise SystemExit("error: the ledger accepted a batch registered by a hospital")
        except Exception as e:
            rule = getattr(e, "rule_id", None) or type(e).__name__
            say.say(
                f"✗ a hospital tries to register a batch: refused ({rule}); log size still "
                f"{public.log_info()['tree_size']} (was {size_before})"
            )

        # Escrow helper: each party signs its own EVM transactions, relayed by the ledger.
        def escrow_for(p: Party) -> tuple[EscrowClient, Any]:
            from web3 import Web3
            from web3.providers.rpc import HTTPProvider

            client = clients[p.uscc]
            provider = HTTPProvider(
                url + "/v1/chain/rpc",
                request_kwargs={
                    "headers": {
                        "Authorization": f"Bearer {client.token()}",
                        "Content-Type": "application/json",
                    },
                    "timeout": 60,
                },
            )
            w3 = Web3(provider)
            relay = Chain(w3, url + "/v1/chain/rpc")
            return EscrowClient(
                relay.contract("TradeEscrow", chain["escrow"]), relay
            ), Account.from_key(evm_keys[p.uscc])

        def order_id_bytes(order: Any) -> bytes:
            return bytes.fromhex(order.record.body["escrow"]["order_id"])

        deadline = int(time.time()) + 14 * 86400

        # 3. Distributor buys from the manufacturer.
        say.section(
            "The distributor orders from the manufacturer, pays into escrow, receives, accepts, releases"
        )
        o1 = scn.order(dist, mah, [(insulin, 120, 4500), (amox, 600, 1280)], escrow=True)
        submit([o1], f"order {o1.record.body['number']} ({yuan(o1.record.body['total_fen'])})")
        esc, acct = escrow_for(dist)
        amount = o1.record.body["total_fen"] * units_per_fen
        tx = retry(
            lambda: esc.deposit(acct, order_id_bytes(o1), mah.evm_address, amount, deadline),
            "the distributor's deposit",
        )
        say.say(
            f"→ deposit of {yuan(o1.record.body['total_fen'])} into TradeEscrow: tx {short(tx.tx_hash.hex())}, {tx.gas_used:,} gas"
        )
        s1 = scn.ship(o1, [(0, ins_lot, 120), (1, amox_lot, 600)], temperature=scn.temperature())
        a1 = scn.accept(s1)
        submit([s1, a1], "shipment with a clean 2-8 °C log, and acceptance of every line")
        due1 = clients[dist.uscc].escrow(o1.record.id)["amount_due_fen"]
        esc, acct = escrow_for(dist)
        tx = esc.release(acct, order_id_bytes(o1), due1 * units_per_fen)
        say.say(
            f"→ the distributor releases {yuan(due1)} to the manufacturer: tx {short(tx.tx_hash.hex())}, {tx.gas_used:,} gas"
        )

        # 4. The hospital's order, a shipment with a temperature excursion, partial acceptance.
        say.section(
            "The hospital orders and pays into escrow; the shipment's cold-chain log shows an excursion"
        )
        o2 = scn.order(hosp, dist, [(insulin, 40, 5200), (amox, 200, 1500)], escrow=True)
        submit([o2], f"order {o2.record.body['number']} ({yuan(o2.record.body['total_fen'])})")
        esc, acct = escrow_for(hosp)
        total2 = o2.record.body["total_fen"]
        tx = retry(
            lambda: esc.deposit(
                acct,
                order_id_bytes(o2),
                dist.evm_address,
                total2 * units_per_fen,
                deadline,
            ),
            "the hospital's deposit",
        )
        say.say(f"→ deposit of {yuan(total2)}: tx {short(tx.tx_hash.hex())}, {tx.gas_used:,} gas")
        log = scn.temperature(excursion=True)
        s2 = scn.ship(o2, [(0, ins_lot, 40), (1, amox_lot, 200)], temperature=log)
        peak = log["excursions"][0]["peak_tenths_c"]
        say.say(
            f"temperature log {log['device']}: {log['readings_count']} readings every {log['interval_s']} s, "
            f"min {log['min_tenths_c'] / 10:.1f} °C, max {log['max_tenths_c'] / 10:.1f} °C, "
            f"one excursion peaking at {peak / 10:.1f} °C"
        )
        submit([s2], "shipment 随货同行 with its temperature log")
        careless = scn.accept(s2)
        try:
            public.submit([careless])
            raise SystemExit("error: the ledger accepted cold-chain goods that left their range")
        except Exception as e:
            rule = getattr(e, "rule_id", None) or type(e).__name__
            say.say(f"✗ accepting the insulin line despite the excursion: refused ({rule})")
        a2 = scn.accept(s2, {0: (40, ["temperature_excursion"])})
        receipt = submit(
            [a2],
            "acceptance: amoxicillin 200 accepted, insulin 40 rejected (temperature excursion)",
        )[0]
        status = clients[hosp.uscc].escrow(o2.record.id)
        due2 = status["amount_due_fen"]
        say.say(
            f"amount due to the distributor = Σ accepted × price = 200 × {yuan(1500)} = {yuan(due2)}"
        )

        # 5. Checkpoint and anchor.
        say.section("The log is checkpointed and anchored on chain")
        leaf_index = receipt["leaf_index"]

        def anchored() -> dict[str, Any]:
            anchors = public.anchors()["anchors"]
            best = max(anchors, key=lambda a: a["tree_size"]) if anchors else None
            if best is None or best["tree_size"] <= leaf_index:
                clients[hosp.uscc].anchor_now()
                raise RuntimeError("not anchored yet")
            return dict(best)

        anchor = retry(anchored, "anchoring the acceptance", attempts=120, pause=0.25)
        cp = public.latest_checkpoint()
        say.fact("signed checkpoint", f"size {cp.get('tree_size', cp.get('size'))}")
        for line in str(cp.get("note", cp.get("checkpoint", ""))).splitlines():
            say.say(f"  │ {line}".rstrip(), indent=5)
        say.fact(
            "anchored",
            f"size {anchor['tree_size']}, root {short(anchor['root_hash'])} in block {anchor.get('block_number')}",
        )
        say.fact("anchor tx", anchor.get("tx_hash"))

        # 6. Release by proof: the seller presents the acceptance leaf and its inclusion proof.
        say.section(
            "The distributor is paid by proof: acceptance leaf + inclusion proof against the anchored root"
        )
        size = int(anchor["tree_size"])
        proof = public.inclusion(leaf_index, size)
        answer = clients[hosp.uscc].record(a2.record.id)
        leaf_hex = next(
            e["leaf"] for e in answer["bundle"]["entries"] if e["leaf_index"] == leaf_index
        )
        verify_inclusion(
            leaf_index,
            size,
            hash_leaf(bytes.fromhex(leaf_hex)),
            [bytes.fromhex(h) for h in proof["path"]],
            bytes.fromhex(anchor["root_hash"]),
        )
        header, digest = decode_leaf(bytes.fromhex(leaf_hex))
        say.fact(
            "leaf",
            f"#{leaf_index}: kind {header.kind.name}, chain {header.chain_id}, amount {header.amount:,} wei",
        )
        say.fact(
            "inclusion path",
            f"{len(proof['path'])} hashes to the anchored root (checked here first)",
        )
        esc, acct = escrow_for(dist)
        path = [bytes.fromhex(h) for h in proof["path"]]
        buyer_address = hosp.evm_address

        def present_proof() -> Any:
            return esc.release_with_proof(
                acct,
                buyer_address,
                order_id_bytes(o2),
                header.amount,
                digest,
                leaf_index,
                size,
                path,
            )

        tx = present_proof()
        say.say(
            f"→ released by proof: {yuan(due2)} to the distributor, {yuan(total2 - due2)} back to the hospital "
            f"(tx {short(tx.tx_hash.hex())}, {tx.gas_used:,} gas)"
        )
        try:
            present_proof()
            raise SystemExit("error: the escrow paid the same acceptance twice")
        except ContractRevert as e:
            replay = e.error_name or str(e)
        say.say(f"✗ the same proof presented again: reverted ({replay})")
        st = clients[hosp.uscc].escrow(o2.record.id)
        say.fact(
            "escrow status",
            f"{st['payment_status']}; on chain: {(st.get('chain') or {}).get('state')}",
        )

        # 7. Trace forward and reverse.
        say.section("Trace: the insulin batch forward, the hospital's amoxicillin backward")
        fwd = clients[mah.uscc].trace_forward(ins_batch.record.id)
        summary = fwd.get("summary") or fwd.get("trace") or {}
        for h in summary.get("holders", []):
            say.fact(
                h.get("name") or h.get("holder"),
                f"received {h.get('received')}, shipped {h.get('shipped')}, on hand {h.get('on_hand')}",
            )
        rev = clients[hosp.uscc].trace_reverse(hosp.uscc, amox_batch.record.id)
        bundle = rev["bundle"]
        names = {p.uscc: p.name for p in (reviewer, mah, dist, hosp)}
        by_leaf = {e["leaf_index"]: e for e in bundle["entries"]}
        say.say(
            f"reverse trace of {names[hosp.uscc]}'s {amox} lot {amox_lot}, every hop a signed entry"
            " (another pair's acceptance shown only by its proven leaf hash: it carries their price):"
        )
        for link in [{"to": bundle["trace"]["start"]}, *bundle["trace"]["links"]]:
            entry = by_leaf[link["to"]]
            shown = (
                describe(entry["record"]["record"], names)
                if "record" in entry
                else f"{entry['redacted']} (redacted), leaf hash {entry['leaf_hash'][:16]}…"
            )
            say.say(f"  #{link['to']:<3} {shown}", indent=3)
        say.fact(
            "bundle",
            f"{len(bundle['entries'])} entries (trace + signers' enrolments and licences), "
            f"one inclusion proof of {len(bundle['inclusion_proof'])} hashes for all of them, "
            f"checkpoint size {bundle['checkpoint'].splitlines()[1]}, anchored",
        )

        # 8. The auditor.
        say.section("An auditor verifies the bundle offline; a tampered copy fails")
        bundle_path = out / "bundle.json"
        bundle_path.write_text(json.dumps(bundle, ensure_ascii=False, indent=1))
        vkey = info["checkpoint_key"]
        admin = f"{next(iter(scn.admin_keys))}={next(iter(scn.admin_keys.values())).hex()}"
        code_ok = audit(say, bundle_path, vkey, admin)
        tampered = json.loads(bundle_path.read_text())
        changed = tamper(tampered)
        tampered_path = out / "tampered-bundle.json"
        tampered_path.write_text(json.dumps(tampered, ensure_ascii=False, indent=1))
        say.say(f"tampered copy: {changed}")
        code_bad = audit(say, tampered_path, vkey, admin)

    say.section("Done")
    say.fact(
        "proof bundle",
        bundle_path.relative_to(ROOT) if bundle_path.is_relative_to(ROOT) else bundle_path,
    )
    say.fact("verifier key", (out / "log.vkey"))
    say.fact(
        "verify it yourself",
        f'.venv/bin/lotproof audit verify {bundle_path} --key "$(cat {out / "log.vkey"})"',
    )
    say.fact("elapsed", f"{say.elapsed():.1f} s")
    if code_ok != 0 or code_bad != 1:
        print(
            f"error: expected the bundle to verify (0) and the tampered copy to fail (1); got {code_ok} and {code_bad}",
            file=sys.stderr,
        )
        return 1
    return 0


def describe(record: dict[str, Any], names: dict[str, str]) -> str:
    """One line for a record of the trace."""
    body, kind = record["body"], record["type"]
    who = names.get(record["actor"], record["actor"])
    if kind == "batch":
        return f"batch {body['product']} lot {body['lot']}: {body['quantity']} registered by {who}"
    if kind == "shipment":
        lines = ", ".join(f"{ln['quantity']} × {ln['product']}/{ln['lot']}" for ln in body["lines"])
        return f"shipment {names.get(body['shipper'])} → {names.get(body['consignee'])}: {lines}"
    if kind == "acceptance":
        lines = ", ".join(
            f"line {ln['line']}: {ln['accepted']} accepted, {ln['rejected']} rejected"
            for ln in body["lines"]
        )
        return f"acceptance by {who}: {lines}"
    return f"{kind} by {who}"


def tamper(bundle: dict[str, Any]) -> str:
    """Raise an accepted quantity in the bundle's acceptance record (what a forger would do)."""
    for entry in reversed(bundle.get("entries", [])):
        record = (entry.get("record") or {}).get("record") or {}
        if record.get("type") == "acceptance":
            line = max(record["body"]["lines"], key=lambda ln: ln["accepted"])
            before = line["accepted"]
            line["accepted"] = before + 1
            return (
                f"acceptance {record['id']}: line {line['line']} accepted {before} → {before + 1}"
            )
    raise SystemExit("error: the bundle has no acceptance record to tamper with")


def audit(say: Narrator, bundle_path: Path, vkey: str, admin: str) -> int:
    say.command(
        [
            "lotproof",
            "audit",
            "verify",
            str(bundle_path.relative_to(ROOT) if bundle_path.is_relative_to(ROOT) else bundle_path),
            "--key",
            "$(cat demo-out/log.vkey)",
            "--admin-key",
            admin[:40] + "…",
        ]
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "audit",
            "verify",
            str(bundle_path),
            "--key",
            vkey,
            "--admin-key",
            admin,
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    for line in lines[-12:]:
        say.say(f"  {line}", indent=3)
    say.say(f"exit {result.returncode}")
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(ROOT / "demo-out"), help="output directory (recreated)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    try:
        return run(out)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        import traceback

        out.mkdir(parents=True, exist_ok=True)
        (out / "demo-error.log").write_text(traceback.format_exc())
        print(
            f"error: {type(e).__name__}: {e} (details in {out / 'demo-error.log'})", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
