"""Crash safety: a writer killed with SIGKILL at random moments loses no acknowledged entry.

A subprocess (tests/crash_writer.py) appends batches and acknowledges each commit on stdout.
The test kills it several times at random moments (on both backends), reopens the log after
each kill and checks that every acknowledged entry is present and identical, that the
indices are contiguous with no duplicate or gap, that an unacknowledged batch is either
wholly present or wholly absent, that the stored interior nodes are exactly those a tree of
that size has and agree with the leaf hashes, that exactly the complete tiles are stored
and agree with them too, and that reopening is fast.
"""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from ledger.merkle import MemoryTree, hash_leaf, root_from_leaf_hashes
from ledger.storage import Database, MerkleLog
from ledger.storage.log import TILE_HEIGHT, TILE_LEAVES

HERE = Path(__file__).resolve().parent
WRITER = HERE / "crash_writer.py"
BATCH = 50
KILLS = 4

_spec = importlib.util.spec_from_file_location("crash_writer", WRITER)
assert _spec is not None and _spec.loader is not None
crash_writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_writer)


def run_and_kill(url: str, run: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Start the writer, kill -9 it after a random number of acks; return every ack read."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), url, str(run), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=HERE.parent,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    want = rng.randint(1, 6)
    deadline = time.monotonic() + 30
    try:
        while len(lines) < want:
            assert proc.poll() is None, f"writer exited early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "writer acknowledged nothing in 30 s"
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # land anywhere inside the next transactions
    finally:
        proc.kill()  # SIGKILL, by the PID we started
        proc.wait(timeout=10)
        reader.join(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    acks = []
    for line in lines:
        tag, r, b, first, last = line.split()
        assert tag == "ack" and int(r) == run
        acks.append((int(r), int(b), int(first), int(last)))
    return acks


def check_log(url: str, acked: list[tuple[int, int, int, int]]) -> None:
    start = time.perf_counter()
    db = Database(url)
    try:
        log = MerkleLog(db)
        size = log.size()
        root = log.root()
        reopen = time.perf_counter() - start
        assert reopen < 1.0, f"reopening took {reopen:.3f} s"
        with db.read() as tx:
            count, low, high = tx.query_one(
                "SELECT COUNT(*), MIN(leaf_index), MAX(leaf_index) FROM log_entries"
            )
            entries = log.entries(0, None, tx)
            nodes = {
                (int(level), int(index)): bytes(value)
                for level, index, value in tx.query("SELECT level, node_index, hash FROM log_nodes")
            }
            tiles = {int(t): bytes(h) for t, h in tx.query("SELECT tile, hashes FROM log_tiles")}
        assert count == size == len(entries)
        assert size == 0 or (low, high) == (0, size - 1)
        assert [e.index for e in entries] == list(range(size))
        # Every acknowledged entry is present, byte for byte.
        acked_indices: set[int] = set()
        for run, batch, first, last in acked:
            assert last - first + 1 == BATCH
            for k, index in enumerate(range(first, last + 1)):
                want = crash_writer.entry_for(run, batch, k)
                got = entries[index]
                assert (got.leaf, got.record_id, got.record) == (
                    want.leaf,
                    want.record_id,
                    want.record,
                ), f"entry {index} differs from what was acknowledged"
                acked_indices.add(index)
        # Whatever was committed without an ack is whole batches of consistent content.
        for lo in range(0, size, BATCH):
            ids = [entries[i].record_id for i in range(lo, min(lo + BATCH, size))]
            assert len(ids) == BATCH, f"a partial batch at {lo} survived the crash"
            prefix = {rid.rsplit("-pos", 1)[0] for rid in ids if rid}
            assert len(prefix) == 1, f"batch at {lo} mixes entries of several batches"
        # Leaf hashes, interior nodes and root agree with a tree rebuilt from the leaves.
        leaf_hashes = [e.leaf_hash for e in entries]
        assert leaf_hashes == [hash_leaf(e.leaf) for e in entries]
        assert root == root_from_leaf_hashes(leaf_hashes)
        tree = MemoryTree()
        for h in leaf_hashes:
            tree.append_leaf_hash(h)
        expected_nodes = {
            (level, i): tree.read_nodes([(level, i)])[(level, i)]
            for level in range(1, size.bit_length())
            for i in range(size >> level)
        }
        assert nodes == expected_nodes

        # Exactly the complete tiles are stored, each the levels 0-4 of its 32 leaves.
        def node(level: int, k: int) -> bytes:
            return leaf_hashes[k] if level == 0 else expected_nodes[level, k]

        expected_tiles = {
            tile: b"".join(
                node(level, k)
                for level in range(TILE_HEIGHT)
                for k in range(tile * TILE_LEAVES >> level, (tile + 1) * TILE_LEAVES >> level)
            )
            for tile in range(size // TILE_LEAVES)
        }
        assert tiles == expected_tiles
    finally:
        db.close()


def test_kill_9_loses_no_acknowledged_entry(database_url: str) -> None:
    rng = random.Random()
    acked: list[tuple[int, int, int, int]] = []
    for run in range(KILLS):
        acked += run_and_kill(database_url, run, rng)
        check_log(database_url, acked)
    assert len(acked) >= KILLS
