"""Benchmark the chain client: the persistent embedded chain and anchor publishing.

Run: ``.venv/bin/python -m scripts.bench_anchors [--anchors 300]``

Measures, in one run:
- anchor publishing (``AnchorPublisher.publish_once``, one checkpoint per call, each with its
  consistency proof) on the persistent embedded chain, against the yardstick of the same on
  a plain in-memory eth-tester chain (``anchors.chain.connect(None)``), and on anvil;
- re-opening the embedded chain after those anchors (median of 5), its file size;
- anvil start, stop (state dump) and restart with the state file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hexbytes import HexBytes

from anchors.chain import Chain, connect
from anchors.embedded import open_embedded_chain
from anchors.node import AnvilNode
from anchors.publisher import AnchorPublisher, AnchorResult
from ledger.merkle import MemoryTree


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: bytes


class Source:
    def __init__(self) -> None:
        self.tree = MemoryTree()
        self.latest: Checkpoint | None = None

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.tree.append(self.tree.size.to_bytes(8, "big"))
        self.latest = Checkpoint(self.tree.size, self.tree.root())

    def latest_checkpoint(self) -> Checkpoint | None:
        return self.latest

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.tree.consistency_proof(size1, size2)

    def root(self, size: int) -> bytes:
        return self.tree.root(size)


def publish(chain: Chain, anchors: int) -> tuple[float, int]:
    """Anchors per second and the gas of the last anchor."""
    admin, anchorer = chain.accounts[:2]
    registry = chain.deploy("AnchorRegistry", admin, anchorer)
    source = Source()
    publisher = AnchorPublisher(registry, anchorer, source, chain=chain)
    last = b""
    start = time.perf_counter()
    for _ in range(anchors):
        source.grow(37)
        result = publisher.publish_once()
        assert isinstance(result, AnchorResult)
        last = result.tx_hash
    elapsed = time.perf_counter() - start
    receipt = chain.w3.eth.get_transaction_receipt(HexBytes(last))
    return anchors / elapsed, int(receipt["gasUsed"])


def publish_estimated(chain: Chain, anchors: int) -> float:
    """Anchors per second sent the straightforward way: no gas limit, the node estimates."""
    admin, anchorer = chain.accounts[:2]
    registry = chain.deploy("AnchorRegistry", admin, anchorer)
    source = Source()
    start = time.perf_counter()
    previous = 0
    for _ in range(anchors):
        source.grow(37)
        size = source.tree.size
        proof = source.consistency_proof(previous, size) if previous else []
        chain.transact(registry.functions.anchor(size, source.tree.root(), proof), anchorer)
        previous = size
    return anchors / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=int, default=300)
    args = parser.parse_args()
    n = args.anchors

    # The yardstick runs before and after the rest (the machine is shared and warms up).
    yard_first, yard_gas = publish(connect(None), n)
    estimated_n = max(1, n // 10)
    estimated = publish_estimated(connect(None), estimated_n)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.sqlite"
        start = time.perf_counter()
        embedded = open_embedded_chain(path)
        create = time.perf_counter() - start
        rate, gas = publish(embedded.connect(), n)
        blocks = embedded.block_number
        save_ms = embedded.save_seconds / max(1, embedded.saves) * 1000
        embedded.close()
        opens = []
        for _ in range(5):
            start = time.perf_counter()
            embedded = open_embedded_chain(path)
            opens.append(time.perf_counter() - start)
            assert embedded.block_number == blocks
            embedded.close()
        size = path.stat().st_size
        median_open = statistics.median(opens)
        reopen_line = (
            f"re-open after {blocks} blocks: median {median_open * 1000:.0f} ms"
            f" (min {min(opens) * 1000:.0f}, max {max(opens) * 1000:.0f});"
            f" file {size / 1e6:.2f} MB ({size / blocks / 1024:.1f} KiB per block)"
        )

        state = Path(tmp) / "anvil.json"
        start = time.perf_counter()
        node = AnvilNode.start(state_file=state)
        started = time.perf_counter() - start
        try:
            anvil_rate, anvil_gas = publish(connect(node.url), n)
        finally:
            start = time.perf_counter()
            node.stop()
            stopped = time.perf_counter() - start
        start = time.perf_counter()
        again = AnvilNode.start(state_file=state, port=node.port)
        restarted = time.perf_counter() - start
        again.stop()
        state_size = state.stat().st_size
    fresh = []
    for _ in range(5):
        start = time.perf_counter()
        connect(None)
        fresh.append(time.perf_counter() - start)
    yard_open = statistics.median(fresh)
    yard_last, _ = publish(connect(None), n)
    yard_rate = (yard_first + yard_last) / 2
    print(
        f"yardstick in-memory eth-tester: {yard_rate:.1f} anchors/s (gas {yard_gas};"
        f" {yard_first:.1f} before, {yard_last:.1f} after)"
    )
    print(
        f"same anchors sent with gas estimation (first {estimated_n}): {estimated:.1f} anchors/s,"
        f" the publisher's gas limit is {yard_rate / estimated:.1f}x faster"
    )
    print(
        f"persistent embedded chain: {rate:.1f} anchors/s (gas {gas}),"
        f" {rate / yard_rate:.2f}x the yardstick; created in {create * 1000:.0f} ms;"
        f" a save after each block took {save_ms:.2f} ms on average"
        f" ({save_ms * rate / 10:.1f}% of the time per anchor)"
    )
    print(
        f"{reopen_line}; a fresh in-memory eth-tester chain takes {yard_open * 1000:.0f} ms"
        f" (re-open is {median_open / yard_open:.2f}x that)"
    )
    print(
        f"anvil: {anvil_rate:.1f} anchors/s (gas {anvil_gas}),"
        f" {anvil_rate / yard_rate:.2f}x the yardstick; start {started * 1000:.0f} ms,"
        f" stop with state dump {stopped * 1000:.0f} ms, restart from state"
        f" {restarted * 1000:.0f} ms, state file {state_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
