"""Tiles and the quick proof path of the storage-backed log, on both backends.

A tile holds levels 0 to TILE_HEIGHT - 1 of one complete TILE_LEAVES-leaf chunk; the quick
path serves a proof from one tile, the cached upper nodes and the cached right edges. Every
proof is checked against the in-memory reference tree, and the fallbacks (no tile, a
missing tile, a log written before tiles) against the same reference.
"""

from __future__ import annotations

import random
import sqlite3

import pytest

import ledger.storage.log as log_module
from ledger.errors import IndexRangeError, StorageError
from ledger.merkle import MemoryTree
from ledger.storage import Database
from ledger.storage.log import TILE_HEIGHT, TILE_LEAVES, LogEntry, MerkleLog


def leaf_bytes(i: int) -> bytes:
    return b"tile-leaf-%d" % i


def fill(log: MerkleLog, tree: MemoryTree, batches: list[int]) -> None:
    for count in batches:
        start = tree.size
        indices = log.append_batch([LogEntry(leaf_bytes(i)) for i in range(start, start + count)])
        assert indices == list(range(start, start + count))
        for i in range(start, start + count):
            tree.append(leaf_bytes(i))


def expected_tile(tree: MemoryTree, tile: int) -> bytes:
    """The reference tile: each level of the chunk, left to right, from the memory tree."""
    parts = []
    for level in range(TILE_HEIGHT):
        width = TILE_LEAVES >> level
        ids = [(level, tile * width + k) for k in range(width)]
        nodes = tree.read_nodes(ids)
        parts += [nodes[n] for n in ids]
    return b"".join(parts)


def stored_tiles(db: Database) -> dict[int, bytes]:
    with db.read() as tx:
        return {int(t): bytes(h) for t, h in tx.query("SELECT tile, hashes FROM log_tiles")}


@pytest.fixture
def db(database_url: str):
    database = Database(database_url)
    yield database
    database.close()


def test_appends_write_exactly_the_complete_tiles(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    # Batches that end inside a tile, exactly on a boundary, and span several tiles.
    for batches in ([5], [26], [1], [31, 33], [64], [100, 3, 29]):
        fill(log, tree, batches)
        tiles = stored_tiles(db)
        assert sorted(tiles) == list(range(tree.size // TILE_LEAVES))
        for tile, hashes in tiles.items():
            assert hashes == expected_tile(tree, tile), tile


def test_rolled_back_append_writes_no_tile(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, [20])

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.write() as tx:
        log.append(tx, [LogEntry(b"gone-%d" % i) for i in range(50)])
        assert len(tx.query("SELECT tile FROM log_tiles")) == 2  # seen inside the write
        raise Abort
    assert stored_tiles(db) == {}
    fill(log, tree, [44])
    assert stored_tiles(db) == {0: expected_tile(tree, 0), 1: expected_tile(tree, 1)}


def check_all_proofs(log: MerkleLog, tree: MemoryTree, sizes: list[int], db: Database) -> None:
    for size in sizes:
        for index in range(size):
            assert log.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
        for size1 in range(size + 1):
            assert log.consistency_proof(size1, size) == tree.consistency_proof(size1, size)
        assert log.root(size) == tree.root(size)
    with db.read() as tx:  # a shared snapshot: the size is checked in the same statement
        for size in sizes:
            for index in range(0, size, 7):
                assert log.inclusion_proof(index, size, tx) == tree.inclusion_proof(index, size)
            for size1 in range(1, size, 5):
                assert log.consistency_proof(size1, size, tx) == tree.consistency_proof(size1, size)


def test_quick_proofs_equal_reference(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Strips of 4 nodes, so that a small log has many strips, some read only in part.
    monkeypatch.setattr(log_module, "STRIP_BITS", 2)
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, [300, 37, 163])
    sizes = [500, 499, 480, 448, 321, 320, 256, 255, 64, 33, 32, 31, 1]
    check_all_proofs(log, tree, sizes, db)  # cold: the general path fills the caches
    assert log._cache and log._edges
    check_all_proofs(log, tree, sizes, db)  # warm: the quick path
    # Another log on the same database starts cold and reads strips from committed state.
    check_all_proofs(MerkleLog(db), tree, [500, 481, 97], db)


def test_quick_path_refuses_sizes_beyond_the_log(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, [96])
    for _ in range(2):  # cold, then warm
        assert log.inclusion_proof(5, 96) == tree.inclusion_proof(5, 96)
        with pytest.raises(IndexRangeError):
            log.inclusion_proof(5, 97)
        with pytest.raises(IndexRangeError):
            log.consistency_proof(64, 128)
        with db.read() as tx, pytest.raises(IndexRangeError):
            log.inclusion_proof(5, 128, tx)
        with db.read() as tx, pytest.raises(IndexRangeError):
            log.root(97, tx)


def test_a_warm_proof_is_one_statement_reading_one_tile(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        log, tree = MerkleLog(db), MemoryTree()
        fill(log, tree, [1000, 40])
        size = tree.size  # 1040: the last tile is partial, proofs have right edges
        rng = random.Random(3)
        calls = [(rng.randrange(size - 64), rng.randrange(1, size // 32) * 32) for _ in range(200)]
        for index, size1 in calls:  # warm the caches
            log.inclusion_proof(index, size)
            log.consistency_proof(size1, size)
        statements: list[str] = []
        conn = db.reader()._conn
        assert isinstance(conn, sqlite3.Connection)
        conn.set_trace_callback(statements.append)
        try:
            for index, size1 in calls:
                statements.clear()
                assert log.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
                assert statements == [f"SELECT hashes FROM log_tiles WHERE tile = {index >> 5}"]
                statements.clear()
                path = log.consistency_proof(size1, size)
                assert path == tree.consistency_proof(size1, size)
                assert statements == []  # a size1 on a tile boundary needs no tile
        finally:
            conn.set_trace_callback(None)
    finally:
        db.close()


def test_a_log_written_before_tiles_gets_them_on_open(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, [200, 77])
    want = stored_tiles(db)
    with db.write() as tx:  # what a log of schema merkle_log 1 without tiles looks like
        tx.execute("DROP TABLE log_tiles")
        tx.execute("DELETE FROM schema_versions WHERE component = 'merkle_log_tiles'")
    reopened = MerkleLog(db)
    assert stored_tiles(db) == want
    check_all_proofs(reopened, tree, [277, 256, 150], db)


def test_missing_tile_falls_back_and_a_damaged_one_is_refused(db: Database) -> None:
    log, tree = MerkleLog(db), MemoryTree()
    fill(log, tree, [128])
    with db.write() as tx:
        tx.execute("DELETE FROM log_tiles WHERE tile = 1")
    for _ in range(2):
        for index in range(128):
            assert log.inclusion_proof(index, 128) == tree.inclusion_proof(index, 128)
    with db.write() as tx:
        tx.execute("UPDATE log_tiles SET hashes = ? WHERE tile = 2", (b"\x00" * 100,))
    with pytest.raises(StorageError, match="tile 2 has 100 bytes"):
        log.inclusion_proof(70, 128)
    # A log opened after an older writer appended without tiles serves every proof too.
    fill(log, tree, [64])
    with db.write() as tx:
        tx.execute("DELETE FROM log_tiles WHERE tile >= 4")
    fresh = MerkleLog(db)  # tiles 4 and 5 are written again on open
    assert sorted(stored_tiles(db)) == [0, 2, 3, 4, 5]
    with db.write() as tx:
        tx.execute("UPDATE log_tiles SET hashes = ? WHERE tile = 2", (expected_tile(tree, 2),))
    for index in range(0, 192, 3):
        assert fresh.inclusion_proof(index, 192) == tree.inclusion_proof(index, 192)
