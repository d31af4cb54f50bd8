"""Gas of every contract operation, from receipts, on both EVM backends, against its floor.

Usage: ``python scripts/bench_gas.py [--no-anvil] [--write]``

Runs the same scenario on the in-process EVM (eth-tester + py-evm) and on a real anvil
node started on 127.0.0.1 (stopped by PID), from the same locally signed accounts, so every
address and every calldata byte is identical, and checks that each receipt's ``gasUsed`` is
identical on both. For each operation it prints the measured gas, its floor and their ratio.

The floor is what no implementation of the operation can avoid: 21,000 intrinsic gas, the
calldata (4 per zero byte, 16 per other byte), the storage it must write (a new slot 22,100
= 20,000 + 2,100 cold access; an updated slot 5,000 = 2,900 + 2,100), the SHA-256
precompile calls it must make (60 + 12 per 32-byte word each), and 9,000 per value transfer;
deployments add 32,000 for CREATE and 200 per byte of runtime code. ``--write`` replaces the
``## Gas`` section of BENCHMARKS.md with the table.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402
from web3.types import Wei  # noqa: E402

from anchors.chain import Chain, connect, load_artifact  # noqa: E402
from anchors.node import AnvilNode  # noqa: E402
from ledger.leaf import LeafHeader, LeafKind, encode_leaf  # noqa: E402
from ledger.merkle import (  # noqa: E402
    MemoryTree,
    hash_leaf,
    root_from_inclusion_proof,
)

BENCHMARKS = ROOT / "BENCHMARKS.md"
COMMAND = "python scripts/bench_gas.py --write"

NEW_SLOT = 22_100
UPDATED_SLOT = 5_000
VALUE_TRANSFER = 9_000
ETHER = 10**18
ANCHOR_TARGET = 65_000


def sha256_cost(nbytes: int) -> int:
    return 60 + 12 * ((nbytes + 31) // 32)


NODE_HASH = sha256_cost(65)


def calldata_cost(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def consistency_hashes(size1: int, size2: int) -> int:
    """SHA-256 calls RFC 9162 §2.1.4.2 makes to verify a consistency proof (size1 < size2)."""
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    calls = 0
    while sn:
        if fn & 1 or fn == sn:
            calls += 2
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            calls += 1
        fn, sn = fn >> 1, sn >> 1
    return calls


@dataclass
class Row:
    operation: str
    gas: int
    floor: int
    note: str = ""


class Bench:
    """One backend's run: deterministic accounts, contracts and data."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        keys = [bytes([i + 1]) * 32 for i in range(7)]
        self.accts: list[LocalAccount] = [Account.from_key(k) for k in keys]
        funder = chain.accounts[0]
        for acct in self.accts:
            chain.w3.eth.send_transaction(
                {"from": funder, "to": acct.address, "value": Wei(1000 * ETHER)}
            )
        for _ in range(100):  # anvil mines asynchronously: wait (boundedly) for the funding
            if all(chain.balance(a.address) for a in self.accts):
                break
            time.sleep(0.01)
        self.admin, self.anchorer, self.arbiter, self.buyer, self.seller, self.other = self.accts[
            :6
        ]
        self.rows: list[Row] = []
        self.rng = random.Random(2024)

    def send(
        self, label: str, fn: Any, sender: LocalAccount, floor_extra: int, value: int = 0
    ) -> Any:
        receipt = self.chain.transact(fn, sender, value=value)
        tx = self.chain.w3.eth.get_transaction(receipt["transactionHash"])
        floor = 21_000 + calldata_cost(bytes(tx["input"])) + floor_extra
        self.rows.append(Row(label, int(receipt["gasUsed"]), floor))
        return receipt

    def deploy(self, label: str, name: str, args: tuple[Any, ...], new_slots: int) -> Any:
        artifact = load_artifact(name)
        factory = self.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        extra = 32_000 + 200 * len(artifact.deployed_bytecode) + new_slots * NEW_SLOT
        receipt = self.send(label, factory.constructor(*args), self.admin, extra)
        return self.chain.contract(name, receipt["contractAddress"])

    def run(self) -> list[Row]:
        c, a = self.chain, self
        registry = a.deploy(
            "deploy AnchorRegistry", "AnchorRegistry", (a.admin.address, a.anchorer.address), 3
        )
        escrow = a.deploy(
            "deploy TradeEscrow",
            "TradeEscrow",
            (a.admin.address, a.arbiter.address, registry.address),
            3,
        )
        token = a.deploy("deploy TestToken (ERC-20)", "TestToken", ("Test Yuan", "TCNY"), 2)
        e = escrow.functions
        # enrol: member record + id -> address (new), member counter (new on the first).
        a.send("enrol (first participant)", e.enrol(a.buyer.address), a.admin, 3 * NEW_SLOT)
        a.send("enrol", e.enrol(a.seller.address), a.admin, 2 * NEW_SLOT + UPDATED_SLOT)

        # Anchors of a log growing by doubling gaps: proofs of growing length.
        tree = MemoryTree()
        for _ in range(1000):
            tree.append(a.rng.randbytes(64))
        # Every anchor writes its root to a new slot and updates the anchorer's state slot
        # (set non-zero by the constructor).
        a.send(
            "anchor, first (no proof)",
            registry.functions.anchor(tree.size, tree.root(), []),
            a.anchorer,
            NEW_SLOT + UPDATED_SLOT,
        )
        last, gap = tree.size, 100
        for _ in range(8):
            for _ in range(gap):
                tree.append(a.rng.randbytes(64))
            proof = tree.consistency_proof(last)
            extra = NEW_SLOT + UPDATED_SLOT + consistency_hashes(last, tree.size) * NODE_HASH
            label = f"anchor {last} -> {tree.size}, {len(proof)}-hash proof"
            a.send(
                label, registry.functions.anchor(tree.size, tree.root(), proof), a.anchorer, extra
            )
            last, gap = tree.size, gap * 2

        deadline = c.next_timestamp() + 30 * 86400
        oid = [bytes([i]) * 32 for i in range(1, 10)]
        seller = a.seller.address
        dep = e.deposit
        a.send("deposit (native)", dep(oid[0], seller, deadline), a.buyer, NEW_SLOT, 10 * ETHER)
        a.send(
            "release by buyer, full",
            e.release(oid[0], 10 * ETHER),
            a.buyer,
            UPDATED_SLOT + VALUE_TRANSFER,
        )
        a.send("deposit (native)", dep(oid[1], seller, deadline), a.buyer, NEW_SLOT, 10 * ETHER)
        a.send(
            "release by buyer, partial",
            e.release(oid[1], 6 * ETHER),
            a.buyer,
            UPDATED_SLOT + 2 * VALUE_TRANSFER,
        )

        # ERC-20: approve, then deposit (escrow + token slots new, three token slots moved).
        c.transact(token.functions.mint(a.buyer.address, 10**24), a.other)
        c.transact(token.functions.approve(escrow.address, 10**24), a.buyer)
        a.send(
            "deposit (ERC-20)",
            e.depositToken(oid[2], seller, token.address, 5 * ETHER, deadline),
            a.buyer,
            2 * NEW_SLOT + NEW_SLOT + 2 * UPDATED_SLOT,
        )
        a.send(
            "release by buyer, ERC-20 partial",
            e.release(oid[2], 4 * ETHER),
            a.buyer,
            UPDATED_SLOT + NEW_SLOT + UPDATED_SLOT + UPDATED_SLOT,
        )
        a.rows[-1].note = "two token transfers: seller balance new, buyer's and escrow's updated"

        # Dispute and resolution; refund after the deadline; a refused payment and withdraw.
        a.send("deposit (native)", dep(oid[3], seller, deadline), a.buyer, NEW_SLOT, ETHER)
        a.send("open dispute", e.openDispute(a.buyer.address, oid[3]), a.seller, UPDATED_SLOT)
        a.send(
            "resolve dispute (split)",
            e.resolveDispute(a.buyer.address, oid[3], ETHER // 2),
            a.arbiter,
            UPDATED_SLOT + 2 * VALUE_TRANSFER,
        )
        short = c.next_timestamp() + 600
        a.send("deposit (native)", dep(oid[4], seller, short), a.buyer, NEW_SLOT, ETHER)
        c.increase_time(700)
        a.send(
            "refund after deadline",
            e.refund(a.buyer.address, oid[4]),
            a.other,
            UPDATED_SLOT + VALUE_TRANSFER,
        )
        rejecting = c.deploy("RejectingReceiver", sender=a.admin)
        c.transact(e.enrol(rejecting.address), a.admin)
        a.send(
            "deposit (native)", dep(oid[5], rejecting.address, deadline), a.buyer, NEW_SLOT, ETHER
        )
        a.send(
            "release to a refusing seller (credit)",
            e.release(oid[5], ETHER),
            a.buyer,
            UPDATED_SLOT + NEW_SLOT,
        )
        c.transact(rejecting.functions.setRejecting(False), a.other)
        data = e.withdraw("0x" + "00" * 20)._encode_transaction_data()
        a.send(
            "withdraw credit (via the receiver contract)",
            rejecting.functions.execute(escrow.address, data),
            a.other,
            UPDATED_SLOT + VALUE_TRANSFER,
        )
        a.rows[-1].note = "includes the receiver contract's own call overhead"

        # Release by proof at 2^10, 2^20, 2^30: a fresh registry and escrow per size; the
        # acceptance leaf's path is random sibling hashes and the anchored root follows.
        for level in (10, 20, 30):
            a.release_by_proof(level)
        return a.rows

    def release_by_proof(self, level: int) -> None:
        c, a = self.chain, self
        registry = c.deploy("AnchorRegistry", a.admin.address, a.anchorer.address, sender=a.admin)
        escrow = c.deploy(
            "TradeEscrow", a.admin.address, a.arbiter.address, registry.address, sender=a.admin
        )
        for acct in (a.buyer, a.seller):
            c.transact(escrow.functions.enrol(acct.address), a.admin)
        oid = bytes([0xA0 + level]) * 32
        amount = 3 * ETHER
        deadline = c.next_timestamp() + 86400
        c.transact(escrow.functions.deposit(oid, a.seller.address, deadline), a.buyer, amount)
        digest = a.rng.randbytes(32)
        header = LeafHeader(
            kind=LeafKind.ACCEPTANCE,
            chain_id=c.chain_id,
            escrow=bytes.fromhex(escrow.address[2:]),
            order_id=oid,
            buyer=bytes.fromhex(a.buyer.address[2:]),
            seller=bytes.fromhex(a.seller.address[2:]),
            amount=amount,
        )
        leaf_hash = hash_leaf(encode_leaf(header, digest))
        size = 1 << level
        index = a.rng.randrange(size)
        path = [a.rng.randbytes(32) for _ in range(level)]
        root = root_from_inclusion_proof(index, size, leaf_hash, path)
        c.transact(registry.functions.anchor(size, root, []), a.anchorer)
        fn = escrow.functions.releaseWithProof(
            a.buyer.address, oid, amount, digest, index, size, path
        )
        extra = UPDATED_SLOT + sha256_cost(289) + level * NODE_HASH + VALUE_TRANSFER
        a.send(f"release by proof, tree 2^{level} ({level}-hash path)", fn, a.other, extra)


def table(rows: list[Row], anvil_rows: list[Row] | None) -> str:
    lines = [
        "| operation | gas (eth-tester) | gas (anvil) | floor | gas / floor | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for i, row in enumerate(rows):
        other = f"{anvil_rows[i].gas:,}" if anvil_rows else "not run"
        ratio = row.gas / row.floor
        lines.append(
            f"| {row.operation} | {row.gas:,} | {other} | {row.floor:,} | {ratio:.2f} "
            f"| {row.note} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    """The issue's gas targets against the measured figures."""
    anchors = [r for r in rows if r.operation.startswith("anchor ") and "hash proof" in r.operation]
    plain = [r.gas for r in anchors if not r.note]
    flush = [r.gas for r in anchors if r.note]
    over = [r for r in anchors if r.gas > ANCHOR_TARGET]
    mean = sum(r.gas for r in anchors) / len(anchors)
    gas = {r.operation: r.gas for r in rows}
    verdict = (
        "met on every anchor"
        if not over
        else f"NOT met on {len(over)} of {len(anchors)} ("
        + ", ".join(f"{r.operation.removeprefix('anchor ')}: {r.gas:,}" for r in over)
        + ")"
    )
    return "\n".join(
        [
            "Targets: anchor with a consistency proof <= 65k: "
            f"{min(plain):,}-{max(plain):,} with 9-14-hash proofs on anchors that write only "
            f"their root, {min(flush):,}-{max(flush):,} on the fourth that flushes the packed "
            f"sizes, {mean:,.0f} on average: {verdict}; release by the buyer <= 45k: "
            f"{gas['release by buyer, full']:,}; release by a 20-level proof <= 75k: "
            f"{gas['release by proof, tree 2^20 (20-hash path)']:,}; deposit <= 70k: "
            f"{gas['deposit (native)']:,} (native).",
        ]
    )


def write_section(text: str) -> None:
    content = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    start = content.find("\n## Gas\n")
    if start == -1:
        content = content.rstrip("\n") + "\n\n" + text
    else:
        end = content.find("\n## ", start + 1)
        tail = content[end:] if end != -1 else "\n"
        content = content[: start + 1] + text.rstrip("\n") + "\n" + tail
    BENCHMARKS.write_text(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-anvil", action="store_true", help="only the in-process EVM")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md ## Gas")
    args = parser.parse_args(argv)

    started = time.monotonic()
    rows = Bench(connect(None)).run()
    anvil_rows: list[Row] | None = None
    if not args.no_anvil:
        with AnvilNode.start() as node:
            anvil_rows = Bench(connect(node.url)).run()
        mismatched = [
            (r.operation, r.gas, s.gas)
            for r, s in zip(rows, anvil_rows, strict=True)
            if r.gas != s.gas
        ]
        if mismatched:
            print(f"gas differs between backends: {mismatched}", file=sys.stderr)
            return 1
    elapsed = time.monotonic() - started
    body = table(rows, anvil_rows)
    print(body)
    print(
        f"\n{len(rows)} operations in {elapsed:.1f} s; identical on both backends: "
        f"{'yes' if anvil_rows else 'not checked'}"
    )
    if args.write:
        artifact = load_artifact("TradeEscrow")
        section = "\n".join(
            [
                "## Gas",
                "",
                f"Command: `{COMMAND}` (solc {artifact.compiler_version}, "
                f"{artifact.settings['evmVersion']}, optimizer runs "
                f"{artifact.settings['optimizer']['runs']}; Prague rules on both backends).",
                "Gas is `gasUsed` from receipts, identical on eth-tester and anvil (the script "
                "fails otherwise). The floor is 21,000 + calldata (4/16 per byte) + storage "
                "that must be written (new slot 22,100, updated slot 5,000) + SHA-256 precompile "
                "calls (60 + 12/word) + 9,000 per value transfer (+ 32,000 and 200/byte of code "
                "for deployments): the yardstick every row is divided by.",
                "",
                body,
                "",
                targets(rows),
                "",
                "Above the floor, and not counted in it: cold reads every design needs (for an "
                "anchor the anchorer's state slot, which is also the role check, and the latest "
                "root: 2 x 2,100; for a release by proof the seller's address, the registry's "
                "code and root: 2,600 + 2,100 for the cross-contract lookup), 2,600 for a cold "
                "payee account, 100 per precompile call, and events (about 1,600-2,600). An "
                "anchor writes one new slot (its root, keyed by tree size) and updates the "
                "anchorer's state slot (count, latest size and up to three tree sizes by index "
                "not yet flushed); the fourth anchor of each group of four flushes them to a new "
                "22,100-gas slot. Why 65k is out of reach for the longer proofs: the 14-hash "
                "anchor's floor (57,980) less the state update's 2,100 cold part, plus the two "
                "cold reads (4,200), the event (1,637) and 100 per SHA-256 call (1,800) is "
                "63,517 before a single opcode of verification, and a tree size by index kept on "
                "chain needs more storage than the one new slot per anchor (a 32-byte root plus "
                "8 bytes), so some anchor must write a second new slot.",
                "",
            ]
        )
        write_section(section)
        print(f"wrote ## Gas to {BENCHMARKS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
